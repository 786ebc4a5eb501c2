"""Upsert throughput of DataverseClient against the sandbox's ``realistic`` profile, in one run.

(a) a naive loop: one PATCH upsert per record with plain ``requests`` (what most scripts do);
(b) ``DataverseClient.upsert_multiple`` (UpsertMultiple, adaptive chunks, x-ms-dop-hint workers).

Prints records/s for both, (b) as a fraction of the sandbox's stated UpsertMultiple ceiling (target >= 0.9) and
as a multiple of (a) (target >= 10x).

    python scripts/bench_client.py [--records 20000] [--naive 300]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import requests

from connector import odata
from connector.config import load_settings
from connector.dataverse import DataverseClient


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--naive", type=int, default=300)
    ap.add_argument("--profile", default="realistic")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from connector.sandbox.server import SandboxOptions, SandboxServer

    with SandboxServer(SandboxOptions(port=0, profile=args.profile)) as sb:
        ceiling = sb.ceiling()
        os.environ["FOI_SYNC_DATAVERSE__CLIENT_SECRET"] = sb.client_secret
        settings = load_settings(
            None,
            base_dir=Path(tempfile.gettempdir()),
            dataverse={
                "url": sb.url,
                "client_id": sb.client_id,
                "tenant_id": "sandbox",
                "authority_host": sb.https_url,
                "ca_bundle": str(sb.ca_bundle),
            },
        )
        print(f"sandbox profile={args.profile} ceiling={ceiling}")

        # (a) naive: one PATCH per record, sequential, plain requests.
        token = sb.issue_token()
        session = requests.Session()
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            "Content-Type": "application/json",
        }
        t0 = time.perf_counter()
        for i in range(args.naive):
            path = odata.record_path("accounts", {"accountnumber": f"N-{i:06d}"})
            r = session.patch(sb.api_url + path, json={"name": f"Naive {i}"}, headers=headers, timeout=60)
            r.raise_for_status()
        naive_s = time.perf_counter() - t0
        naive_rps = args.naive / naive_s
        print(f"(a) naive PATCH loop: {args.naive} records in {naive_s:.2f} s = {naive_rps:.1f} records/s")

        # (b) the client.
        items = [
            ({"accountnumber": f"B-{i:06d}"}, {"name": f"Bulk {i}", "telephone1": f"0123 {i:06d}"})
            for i in range(args.records)
        ]
        with DataverseClient.from_settings(settings.dataverse) as client:
            client.whoami()
            t0 = time.perf_counter()
            result = client.upsert_multiple("accounts", "account", items)
            bulk_s = time.perf_counter() - t0
            stats = client.stats.snapshot()
        bulk_rps = result.succeeded / bulk_s
        print(
            f"(b) DataverseClient.upsert_multiple: {result.succeeded} records in {bulk_s:.2f} s = "
            f"{bulk_rps:.1f} records/s ({result.requests} requests, {len(result.failed)} failed, "
            f"retries {stats['retries']}, throttled {stats['throttled']})"
        )
        landed = sum(1 for r in sb.rows("account") if str(r.get("accountnumber", "")).startswith("B-"))
        print(f"rows that landed in the sandbox: {landed}")
        stated = ceiling.get("UpsertMultiple")
        if stated:
            print(
                f"fraction of stated UpsertMultiple ceiling ({stated} records/s): {bulk_rps / stated:.3f} (target >= 0.9)"
            )
        print(f"multiple of naive loop: {bulk_rps / naive_rps:.1f}x (target >= 10x)")
        return 0 if landed == args.records and not result.failed else 1


if __name__ == "__main__":
    sys.exit(main())
