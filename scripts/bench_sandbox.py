"""Throughput of the sandbox itself: records per second through CreateMultiple and UpsertMultiple over HTTP.

The sandbox must never be the bottleneck of the suite or of the connector's benchmarks, so this script starts a
fast-profile sandbox on loopback, pushes N records in chunks of 1,000 (the documented starting batch size) and
prints the figures, then prints the realistic profile's stated ceiling so client benchmarks can report a fraction.

    python3 scripts/bench_sandbox.py [--records 20000] [--chunk 1000] [--db PATH] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connector.sandbox.server import SandboxOptions, SandboxServer


def _chunks(n: int, size: int) -> list[range]:
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


def _post(session: requests.Session, url: str, body: dict, expect: int) -> requests.Response:
    r = session.post(url, json=body, timeout=120)
    if r.status_code != expect:
        raise SystemExit(f"{url} answered {r.status_code}: {r.text[:300]}")
    return r


def run(records: int, chunk: int, db: Path | None) -> dict[str, float]:
    figures: dict[str, float] = {}
    with SandboxServer(SandboxOptions(port=0, db_path=db)) as sb:
        s = requests.Session()
        s.headers.update({"Authorization": f"Bearer {sb.issue_token()}", "Accept": "application/json"})
        t0 = time.perf_counter()
        for part in _chunks(records, chunk):
            targets = [
                {
                    "@odata.type": "Microsoft.Dynamics.CRM.contact",
                    "firstname": "Bench",
                    "lastname": f"Contact {i}",
                    "emailaddress1": f"bench{i}@example.com",
                    "telephone1": "01234 567890",
                    "preferredcontactmethodcode": 2,
                }
                for i in part
            ]
            r = _post(s, sb.api_url + "contacts/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": targets}, 200)
            assert len(r.json()["Ids"]) == len(part)
        figures["CreateMultiple"] = records / (time.perf_counter() - t0)

        def upsert_pass(label: str, offset: int) -> None:
            t = time.perf_counter()
            for part in _chunks(records, chunk):
                targets = [
                    {
                        "@odata.type": "Microsoft.Dynamics.CRM.account",
                        "@odata.id": f"accounts(accountnumber='B-{i + offset}')",
                        "name": f"Bench account {i}",
                        "telephone1": "01234 567890",
                        "accountcategorycode": 1,
                    }
                    for i in part
                ]
                _post(s, sb.api_url + "accounts/Microsoft.Dynamics.CRM.UpsertMultiple", {"Targets": targets}, 204)
            figures[label] = records / (time.perf_counter() - t)

        upsert_pass("UpsertMultiple (create)", 0)
        upsert_pass("UpsertMultiple (update)", 0)
        t = time.perf_counter()
        n = 0
        url: str | None = sb.api_url + "contacts?$select=fullname,emailaddress1"
        while url:
            body = s.get(url, headers={"Prefer": "odata.maxpagesize=5000"}, timeout=120).json()
            n += len(body["value"])
            url = body.get("@odata.nextLink")
        figures["read (5000/page)"] = n / (time.perf_counter() - t)
        t = time.perf_counter()
        singles = min(500, records)
        for i in range(singles):
            _post(s, sb.api_url + "tasks", {"subject": f"Single {i}"}, 204)
        figures["single POST"] = singles / (time.perf_counter() - t)
    return figures


def realistic_check(workers: int = 6, chunks: int = 2, chunk: int = 1000) -> tuple[float, float]:
    """Push CreateMultiple from more threads than server slots: the measured rate must stay under the ceiling."""
    with SandboxServer(SandboxOptions(port=0, profile="realistic")) as sb:
        token = sb.issue_token()

        def work(k: int) -> None:
            s = requests.Session()
            s.headers["Authorization"] = f"Bearer {token}"
            for c in range(chunks):
                targets = [
                    {"@odata.type": "Microsoft.Dynamics.CRM.account", "name": f"R{k}-{c}-{i}"} for i in range(chunk)
                ]
                _post(s, sb.api_url + "accounts/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": targets}, 200)

        t = time.perf_counter()
        threads = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return workers * chunks * chunk / (time.perf_counter() - t), sb.ceiling()["CreateMultiple"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--chunk", type=int, default=1000)
    ap.add_argument("--db", type=Path, default=None, help="SQLite file (default: in memory)")
    ap.add_argument("--profile", action="store_true", help="cProfile the run and print the top functions")
    args = ap.parse_args()
    if args.profile:
        prof = cProfile.Profile()
        figures = prof.runcall(run, args.records, args.chunk, args.db)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    else:
        figures = run(args.records, args.chunk, args.db)
    print(f"fast profile, {args.records} records, chunks of {args.chunk}, {'file' if args.db else 'in-memory'} SQLite:")
    for name, rps in figures.items():
        print(f"  {name:<26} {rps:>10,.0f} records/s")
    with SandboxServer(SandboxOptions(port=0, profile="realistic")) as sb:
        ceiling = sb.ceiling()
    print("realistic profile, stated ceiling (records/s, all server slots busy):")
    for name in ("CreateMultiple", "UpsertMultiple", "UpdateMultiple", "single"):
        print(f"  {name:<26} {ceiling[name]:>10,.0f}")
    print(f"  (chunk {ceiling['max_chunk']:.0f}, {ceiling['slots']:.0f} concurrent server slots)")
    measured, stated = realistic_check()
    print(
        f"realistic profile, CreateMultiple from 6 threads: {measured:,.0f} records/s = "
        f"{measured / stated:.0%} of the stated ceiling"
    )


if __name__ == "__main__":
    main()
