#!/usr/bin/env python3
"""Migration throughput: historical cases with their acknowledgements, three ways, against the sandbox, one run.

    python3 scripts/bench_migration.py            # 5,000, 20,000 and 100,000 cases, realistic profile (~22 minutes)
    python3 scripts/bench_migration.py --sizes 2000 --sdk-configs 4x1000 --daily 400 --naive-cases 50  # quick look

Every approach starts from an empty, freshly provisioned sandbox (``realistic`` profile: 4 server slots, 15 ms per
request plus 1.5 ms per record written, nested records included) and writes the same records: one contact per
distinct requester, one case per register row, one acknowledgement email activity per case (regarding the case,
with the requester as an activity party). Payloads come from foi-sync's own target mapping, so all write identical
columns; for (a) and (b) they are prepared before the clock starts, for (c) the clock covers reading the CSV.

(a) naive loop: plain ``requests``, one request per record (PATCH upsert by alternate key, POST per email), timed on
    the first ``--naive-cases`` cases and extrapolated to the full length with the 6,000 requests / 5 minutes limit;
(b) Microsoft's ``powerplatform-dataverse-client`` 1.1.0, ``client.records.create(table, [..])`` (CreateMultiple)
    from THREADS threads in chunks of CHUNK (its docs recommend parallel sends; it neither chunks nor parallelises by
    itself), in its own process, over https; every ``--sdk-configs`` configuration up to 20,000 cases, the best one
    reported, and the best used at larger sizes;
(c) foi-sync: ``foi-sync migrate REGISTER`` in its own process (intake, deadlines, plan, contacts and cases by
    UpsertMultiple, checkpoints, reconcile), then the acknowledgements through ``DataverseClient.create_multiple``.

"Of the ceiling" is the least time any client can take for the workload (:func:`workload_floor`) over the time
taken; "of stated" is records/s over the sandbox's stated bulk ceiling. The daily job (``run_sync`` on two days
after the largest migration) is counted at the sandbox. This module also holds the helpers the drills share
(register generation, settings, CRM-vs-source check).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import logging
import os
import platform
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # a fresh clone's connector package, even before `pip install -e .`
SOURCE_MAPPING = ROOT / "mappings" / "source-sample-register.toml"
SECRET_ENV = "FOI_SYNC_DATAVERSE__CLIENT_SECRET"
SDK_CHUNK = 1000
TODAY = date(2026, 11, 25)  # fixed, so derived deadline fields are the same in every run and every approach

# ------------------------------------------------------------------------------------------------ shared helpers


def _sample_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample_data", ROOT / "scripts" / "make_sample_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def register_rows(n: int, seed: int = 20261125) -> list[dict[str, str]]:
    """``n`` register rows in the sample register's layout (scripts/make_sample_data.py), unique references."""
    return _sample_module().register_rows(random.Random(seed), n)


def write_register(path: Path, rows: Iterable[Mapping[str, str]]) -> Path:
    """A CSV the sample source mapping reads (Excel's UTF-8 with BOM, CRLF)."""
    rows = list(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def settings_for(server: Any, workdir: Path, **overrides: Any) -> Any:
    """Settings pointing at a sandbox (in-process handle or anything with the same attributes), outputs in workdir."""
    from connector.config import load_settings

    os.environ[SECRET_ENV] = server.client_secret
    workdir.mkdir(parents=True, exist_ok=True)
    sections: dict[str, Any] = {
        "dataverse": {
            "url": server.url,
            "client_id": server.client_id,
            "tenant_id": "sandbox",
            "authority_host": server.https_url,
            "ca_bundle": str(server.ca_bundle),
        },
        "sync": {"state_path": str(workdir / "state.sqlite")},
        "intake": {"rejects_dir": str(workdir / "rejects")},
        "report": {"out_dir": str(workdir / "reports"), "store_path": str(workdir / "reporting.sqlite")},
    }
    for key, value in overrides.items():
        sections[key] = {**sections.get(key, {}), **value}
    # A section given to load_settings replaces the file's whole section, so start from the shipped values.
    base = load_settings(None, base_dir=ROOT)
    merged = {
        key: {**getattr(base, key).model_dump(mode="json", exclude_none=True), **value}
        for key, value in sections.items()
    }
    merged["dataverse"].pop("client_secret", None)
    return load_settings(None, base_dir=ROOT, **merged)


def provision(settings: Any) -> None:
    """Create the FOI columns and keys the target mapping names (what ``foi-sync mapping provision`` does)."""
    from connector.dataverse import DataverseClient
    from connector.sync.mapping import load_target_mapping
    from connector.sync.provision import provision_schema

    client = DataverseClient.from_settings(settings.dataverse)
    try:
        provision_schema(client, load_target_mapping(settings.sync.target_mapping))
    finally:
        client.close()


def normalised_cases(settings: Any, path: Path, mapping: Path = SOURCE_MAPPING) -> tuple[list[Any], list[Any]]:
    """(cases, rejects) from intake's vectorised normaliser, without cross-referencing (fast; for drills and for
    preparing the payloads of the approaches that are not foi-sync)."""
    from connector.config import IntakeSource
    from connector.intake.normalize import iter_cases
    from connector.intake.pipeline import normalize_source
    from connector.model import FoiCase

    source = IntakeSource(name=path.stem, kind="csv", path=str(path), mapping=mapping)
    frame = normalize_source(source, settings)
    cases: list[Any] = []
    rejects: list[Any] = list(frame.rejects)
    for _, item in iter_cases(frame.frame):
        (cases if isinstance(item, FoiCase) else rejects).append(item)
    return cases, rejects


def triaged(cases: list[Any]) -> list[Any]:
    """Copies of ``cases`` as intake's triage leaves them (validity, business as usual, regime), so the expected
    plan carries the triage columns and any stage triage moved."""
    from connector.intake.triage import Triage, load_triage_rules
    from connector.paths import MAPPINGS_DIR

    out = [c.model_copy(deep=True) for c in cases]
    Triage(load_triage_rules(MAPPINGS_DIR / "triage-rules.toml")).apply(out)
    return out


def expected_plan(settings: Any, cases: list[Any], *, today: date = TODAY, grades: dict[str, Any] | None = None) -> Any:
    """What the CRM should hold for these cases: foi-sync's plan against an empty state (payloads per record)."""
    from connector.deadlines import DeadlineEngine
    from connector.sync.mapping import load_target_mapping
    from connector.sync.plan import build_plan
    from connector.sync.state import StateStore

    mapping = load_target_mapping(settings.sync.target_mapping)
    with StateStore(":memory:") as state:
        return build_plan(
            cases,
            mapping,
            state,
            engine=DeadlineEngine.from_settings(settings),
            today=today,
            origin={"kind": "migrate"},
            grades=grades or {},
            resolve=None,
        )


def _same(expected: Any, actual: Any) -> bool:
    if expected == actual:
        return True
    if isinstance(expected, float) or isinstance(actual, float):
        try:
            return abs(float(expected) - float(actual)) < 1e-9
        except (TypeError, ValueError):
            return False
    return str(expected) == str(actual)


def compare_crm(
    rows: Callable[[str], list[dict[str, Any]]], plan: Any, mapping: Any, ignore: Iterable[str] = ()
) -> dict[str, Any]:
    """Nothing lost, nothing duplicated, CRM equal to the source: every planned case and contact is in the CRM
    exactly once with every column foi-sync owns equal to the planned value (lookups: the right contact).
    ``ignore``: columns the plan cannot predict (set by intake's classifier and grader, which the drills skip)."""
    skip = set(ignore)
    key = mapping.alternate_key[0]
    ckey = mapping.contact.alternate_key[0]
    crm_cases = rows(mapping.table)
    crm_contacts = rows(mapping.contact.table)
    by_key: dict[str, list[dict[str, Any]]] = {}
    for row in crm_cases:
        by_key.setdefault(str(row.get(key)), []).append(row)
    contacts_by_key: dict[str, list[dict[str, Any]]] = {}
    contact_ref_by_id: dict[str, str] = {}
    for row in crm_contacts:
        ref = str(row.get(ckey))
        contacts_by_key.setdefault(ref, []).append(row)
        contact_ref_by_id[str(row.get(mapping.contact.primary_id))] = ref
    missing, mismatched, examples = [], 0, []
    by_column: Counter[str] = Counter()
    planned_cases = [p for p in plan.cases if p.action in ("create", "update")]
    for p in planned_cases:
        want = p.payload
        got_rows = by_key.get(str(want.get(key)), [])
        if not got_rows:
            missing.append(p.reference)
            continue
        got = got_rows[0]
        for col, value in want.items():
            if col in skip:
                continue
            if col.endswith("@odata.bind"):
                nav_col = col.split("@", 1)[0]
                lookup = mapping.field_for_column(nav_col) or next(
                    (f for f in mapping.fields.values() if getattr(f, "payload_key", "") == col), None
                )
                column = lookup.column if lookup is not None else nav_col
                target_id = str(got.get(f"_{column}_value"))
                if "contacts(" in str(value):
                    ref = str(value).split("'", 1)[1].rsplit("'", 1)[0].replace("''", "'")
                    if contact_ref_by_id.get(target_id) != ref:
                        mismatched += 1
                        if len(examples) < 5:
                            examples.append(f"{p.reference}: {column}")
                continue
            if not _same(value, got.get(col)):
                mismatched += 1
                by_column[col] += 1
                if len(examples) < 5:
                    examples.append(f"{p.reference}: {col}")
    planned_contacts = [p for p in plan.contacts if p.action in ("create", "update")]
    missing_contacts = [p.reference for p in planned_contacts if str(p.key.get(ckey)) not in contacts_by_key]
    dup_cases = sorted(k for k, v in by_key.items() if len(v) > 1)
    dup_contacts = sorted(k for k, v in contacts_by_key.items() if len(v) > 1 and k not in ("None", ""))
    planned_keys = {str(p.payload.get(key)) for p in planned_cases}
    extra = sorted(k for k in by_key if k not in planned_keys)
    ok = not (missing or missing_contacts or dup_cases or dup_contacts or mismatched or extra)
    return {
        "ok": ok,
        "source_cases": len(planned_cases),
        "crm_cases": len(crm_cases),
        "source_contacts": len(planned_contacts),
        "crm_contacts": len(crm_contacts),
        "lost_cases": len(missing),
        "lost_contacts": len(missing_contacts),
        "duplicated_cases": len(dup_cases),
        "duplicated_contacts": len(dup_contacts),
        "extra_cases": len(extra),
        "mismatched_fields": mismatched,
        "mismatched_by_column": dict(by_column.most_common()),
        "examples": (missing[:3] + dup_cases[:3] + extra[:3] + examples)[:8],
    }


def duplicates_in(rows: list[dict[str, Any]], *columns: str) -> int:
    """Rows that repeat another row on these columns (e.g. two notes on one case with the same subject)."""
    seen = Counter(tuple(str(r.get(c)) for c in columns) for r in rows)
    return sum(n - 1 for n in seen.values() if n > 1)


def machine() -> dict[str, str]:
    """The machine a figure came from."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "nproc": str(os.cpu_count()),
        "memory": mem,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


class SandboxCredential:
    """azure-core TokenCredential for the SDK: Entra ID cannot issue tokens for a loopback resource, so the
    sandbox issues them (the only test double; the SDK's HTTP goes over the wire)."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token(), int(time.time()) + 3000)


class RequestCounter:
    """Counts every request the sandbox application answers (API, OAuth, discovery) by method and resource, and the
    server time each kind took (an in-process sandbox only; it wraps the application's entry point)."""

    def __init__(self, server: Any) -> None:
        self.app = server.app
        self.seen: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._orig = self.app.handle
        self.app.handle = self._handle

    def _handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes, origin: str) -> Any:
        path = raw_path.split("?", 1)[0]
        parts = [p for p in path.split("/") if p]
        if len(parts) > 3 and parts[0] == "api":
            kind = parts[3].split("(", 1)[0] + ("" if len(parts) == 4 else ":" + parts[-1].rsplit(".", 1)[-1])
        else:
            kind = "oauth:" + parts[-1] if parts else "/"
        t0 = time.perf_counter()
        try:
            return self._orig(method, raw_path, headers, body, origin)
        finally:
            with self._lock:
                self.seen[f"{method} {kind}"] += 1
                self.seconds[f"{method} {kind}"] += time.perf_counter() - t0

    def reset(self) -> None:
        with self._lock:
            self.seen.clear()
            self.seconds.clear()

    def total(self) -> int:
        return sum(self.seen.values())


# ------------------------------------------------------------------------------------------------ the workload


def acknowledgement(case: Any, case_key: str, contact_key: str | None) -> dict[str, Any]:
    """The acknowledgement email activity of a historical case (deterministic id, regarding the case)."""
    from connector.letters.push import activity_id

    body: dict[str, Any] = {
        "activityid": activity_id(case.reference, "acknowledgement"),
        "subject": f"Acknowledgement of your request - ref {case.reference}",
        "description": f"<p>We received your request {case.reference} and will reply within the statutory time.</p>",
        "directioncode": True,
        "regardingobjectid_incident_email@odata.bind": f"/incidents(foi_reference='{case_key}')",
    }
    if contact_key:
        body["email_activity_parties"] = [
            {"partyid_contact@odata.bind": f"/contacts(foi_requesterref='{contact_key}')", "participationtypemask": 2}
        ]
    return body


class Workload:
    """The records every approach writes, prepared from foi-sync's mapping (so the columns are identical)."""

    def __init__(self, settings: Any, register: Path) -> None:
        from connector.sync.mapping import load_target_mapping

        self.mapping = load_target_mapping(settings.sync.target_mapping)
        cases, rejects = normalised_cases(settings, register)
        self.rejects = rejects
        plan = expected_plan(settings, cases)
        ck = self.mapping.contact.alternate_key[0]
        self.contacts = [(dict(p.key), dict(p.payload)) for p in plan.contacts if p.action == "create"]
        self.cases = [p for p in plan.cases if p.action == "create"]
        key = self.mapping.alternate_key[0]
        self.case_items = [({key: p.payload[key]}, dict(p.payload)) for p in self.cases]
        self.acks = []
        for p in self.cases:
            bind = str(p.payload.get("customerid_contact@odata.bind", ""))
            contact_key = bind.split("'", 1)[1].rsplit("'", 1)[0] if "'" in bind else None
            self.acks.append(acknowledgement(p.case, str(p.payload[key]), contact_key))
        self.contact_key = ck

    def subset(self, n: int) -> tuple[list[tuple[dict, dict]], list[tuple[dict, dict]], list[dict]]:
        cases = self.case_items[:n]
        wanted = {str(c[1].get("customerid_contact@odata.bind", "")).split("'", 1)[-1].rsplit("'", 1)[0] for c in cases}
        contacts = [c for c in self.contacts if str(c[0][self.contact_key]) in wanted]
        return contacts, cases, self.acks[:n]


def _key_segment(key: Mapping[str, Any]) -> str:
    # What a careful hand-written script does: single quotes doubled. (Values here are key-safe references.)
    return ",".join(f"{k}='{str(v).replace(chr(39), chr(39) * 2)}'" for k, v in key.items())


def run_naive(server: Any, work: Workload, n: int) -> dict[str, Any]:
    """(a) one request per record with plain requests, sequential."""
    import requests

    contacts, cases, acks = work.subset(n)
    session = requests.Session()
    session.headers.update(
        {
            "Authorization": f"Bearer {server.issue_token()}",
            "Accept": "application/json",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            "Content-Type": "application/json",
        }
    )
    api = server.api_url
    t0 = time.perf_counter()
    for key, body in contacts:
        r = session.patch(f"{api}contacts({_key_segment(key)})", json=body, timeout=60)
        r.raise_for_status()
    for key, body in cases:
        r = session.patch(f"{api}incidents({_key_segment(key)})", json=body, timeout=60)
        r.raise_for_status()
    for body in acks:
        r = session.post(f"{api}emails", json=body, timeout=60)
        r.raise_for_status()
    seconds = time.perf_counter() - t0
    records = len(contacts) + len(cases) + len(acks)
    return {"records": records, "cases": len(cases), "seconds": seconds, "requests": records}


def run_sdk(server: Any, work: Workload, threads: int = 1, chunk: int = SDK_CHUNK) -> dict[str, Any]:
    """(b) Microsoft's SDK, CreateMultiple in chunks, from ``threads`` threads (its docs recommend parallel sends up
    to the server's x-ms-dop-hint; the SDK has no parallelism or chunking of its own)."""
    os.environ["REQUESTS_CA_BUNDLE"] = str(server.ca_bundle)
    from concurrent.futures import ThreadPoolExecutor

    from PowerPlatform.Dataverse.client import DataverseClient as SdkClient

    clients = [SdkClient(server.https_url, SandboxCredential(server.issue_token)) for _ in range(threads)]
    contacts = [{**key, **body} for key, body in work.contacts]
    cases = [body for _, body in work.case_items]
    requests_made = 0
    t0 = time.perf_counter()
    for table, records in (("contact", contacts), ("incident", cases), ("email", work.acks)):
        chunks = [records[i : i + chunk] for i in range(0, len(records), chunk)]

        def send(k: int, table: str = table, chunks: list[list[dict[str, Any]]] = chunks) -> int:
            ids = clients[k % threads].records.create(table, chunks[k])
            if len(ids) != len(chunks[k]):
                raise RuntimeError(f"SDK CreateMultiple on {table} returned {len(ids)} ids for a chunk")
            return 1

        with ThreadPoolExecutor(max_workers=threads) as pool:
            requests_made += sum(pool.map(send, range(len(chunks))))
    seconds = time.perf_counter() - t0
    records = len(contacts) + len(cases) + len(work.acks)
    return {"records": records, "cases": len(cases), "seconds": seconds, "requests": requests_made, "threads": threads}


def run_foisync(server: Any, settings: Any, register: Path, work: Workload) -> dict[str, Any]:
    """(c) foi-sync: the migrate engine from the CSV, then the acknowledgements through the bulk client."""
    from connector.dataverse import DataverseClient
    from connector.sync.job import run_migrate

    client = DataverseClient.from_settings(settings.dataverse)
    client.whoami()  # token first, as for (a) and (b)
    try:
        t0 = time.perf_counter()
        report = run_migrate(settings, register, SOURCE_MAPPING, client=client, today=TODAY)
        t1 = time.perf_counter()
        acks = client.create_multiple("emails", "email", work.acks)
        t2 = time.perf_counter()
        stats = client.stats.snapshot() if hasattr(client.stats, "snapshot") else {}
    finally:
        client.close()
    counts = report.counts
    records = (
        counts.get("contacts_created", 0)
        + counts.get("contacts_updated", 0)
        + counts.get("created", 0)
        + counts.get("updated", 0)
        + acks.succeeded
    )
    push = float(report.steps.get("push", t1 - t0))
    return {
        "records": records,
        "cases": counts.get("created", 0) + counts.get("updated", 0),
        "seconds": push + (t2 - t1),
        "end_to_end_seconds": t2 - t0,
        "steps": {**report.steps, "acknowledgements": round(t2 - t1, 3)},
        "exit_code": report.exit_code,
        "reconciled": bool((report.reconciliation or {}).get("match")),
        "ack_failed": len(acks.failed),
        "requests": int(stats.get("requests_total", 0) or 0),
        "retries": sum((stats.get("retries") or {}).values()),
        "throttled": int(stats.get("throttled", 0) or 0),
    }


def _fresh(profile: str, limits: Any = None) -> Any:
    from connector.sandbox.limits import LimitOptions
    from connector.sandbox.server import SandboxOptions, SandboxServer

    return SandboxServer(SandboxOptions(port=0, profile=profile, limits=limits or LimitOptions()))


def _charged(sb: Any) -> dict[str, float]:
    return dict(sb.app.info().get("charged", {}))


def naive_extrapolated(measured_rps: float, records: int, limits: Any) -> float:
    """Seconds a one-request-per-record loop needs for ``records`` at the measured rate, with the service
    protection request limit applied: the first ``limits.requests`` go at the measured rate, after that at most
    ``requests / window`` a second."""
    burst = limits.requests
    if records <= burst:
        return records / measured_rps
    return max(records / measured_rps, burst / measured_rps + (records - burst) * limits.window_seconds / burst)


def workload_floor(contacts: int, cases: int, acks: list[dict[str, Any]], profile_name: str) -> dict[str, float]:
    """The least service time this workload can cost, and so the least wall time any client can take.

    Every record the service executes is charged (docs/sandbox.md), and an acknowledgement is two or more: the email
    and each activity party nested in it. So the ceiling of *this* workload is not the stated bulk ceiling in
    records/s (which counts an email as one record), but its charged records sent at the largest chunk, every slot
    busy: ``(15 ms x the fewest requests + 1.5 ms x every charged record) / 4 slots``. A client at 1.0 of this
    floor kept all four slots busy with nothing but the workload's own records."""
    import math

    from connector.sandbox.limits import Profile

    prof = Profile.named(profile_name)
    if prof.slots <= 0:
        return {"seconds": 0.0, "charged_records": 0, "activity_parties": 0, "requests": 0}
    chunk = 1000
    parties = sum(len(a.get("email_activity_parties") or []) for a in acks)
    requests_ = sum(math.ceil(n / chunk) for n in (contacts, cases, len(acks)) if n)
    charged = contacts + cases + len(acks) + parties
    service_ms = prof.latency_ms * requests_ + prof.write_ms_per_record * charged
    return {
        "seconds": service_ms / (prof.slots * 1000.0),
        "charged_records": charged,
        "activity_parties": parties,
        "requests": requests_,
        "service_ms": service_ms,
    }


def sdk_child(argv: list[str]) -> int:
    """``--sdk-child WORK.json THREADS CHUNK``: the SDK peer in its own process (as foi-sync runs in its own), so
    neither shares an interpreter with the sandbox."""
    data = json.loads(Path(argv[0]).read_text())

    class _Server:
        https_url = data["https_url"]
        ca_bundle = data["ca_bundle"]

        @staticmethod
        def issue_token() -> str:
            return str(data["token"])

    class _Work:
        def __init__(self) -> None:
            self.contacts = [tuple(c) for c in data["contacts"]]
            self.case_items = [tuple(c) for c in data["cases"]]
            self.acks = data["acks"]

    out = run_sdk(_Server(), _Work(), threads=int(argv[1]), chunk=int(argv[2]))  # type: ignore[arg-type]
    print(json.dumps(out))
    return 0


def run_sdk_process(sb: Any, work: Workload, tmp: Path, threads: int, chunk: int = SDK_CHUNK) -> dict[str, Any]:
    import subprocess

    path = tmp / "sdk-work.json"
    path.write_text(
        json.dumps(
            {
                "https_url": sb.https_url,
                "ca_bundle": str(sb.ca_bundle),
                "token": sb.issue_token(lifetime=7200),
                "contacts": work.contacts,
                "cases": work.case_items,
                "acks": work.acks,
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, __file__, "--sdk-child", str(path), str(threads), str(chunk)],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"SDK peer failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run_foisync_process(
    sb: Any, settings: Any, register: Path, work: Workload, tmp: Path, limit: tuple[int, float] | None = None
) -> dict[str, Any]:
    """(c) the whole job as a council runs it: ``foi-sync migrate REGISTER`` in its own process (intake with
    classification, cross-reference and grading, deadlines, plan, push, reconcile), then the acknowledgement
    letters through the bulk client. Peak memory is the migrate process's own."""
    import resource
    import subprocess

    from connector.dataverse import DataverseClient

    env = {k: v for k, v in os.environ.items() if not k.startswith("FOI_SYNC_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "FOI_SYNC_DATAVERSE__URL": sb.url,
            "FOI_SYNC_DATAVERSE__TENANT_ID": "sandbox",
            "FOI_SYNC_DATAVERSE__CLIENT_ID": sb.client_id,
            SECRET_ENV: sb.client_secret,
            "FOI_SYNC_DATAVERSE__AUTHORITY_HOST": sb.https_url,
            "FOI_SYNC_DATAVERSE__CA_BUNDLE": str(sb.ca_bundle),
            "FOI_SYNC_SYNC__STATE_PATH": str(settings.sync.state_path),
            "FOI_SYNC_INTAKE__REJECTS_DIR": str(tmp / "rejects"),
            "FOI_SYNC_REPORT__OUT_DIR": str(tmp / "reports"),
            "FOI_SYNC_REPORT__STORE_PATH": str(tmp / "reporting.sqlite"),
        }
    )
    if limit is not None:  # the client is told the (scaled-down) limit the sandbox enforces, as an operator would
        env["FOI_SYNC_DATAVERSE__REQUESTS_PER_WINDOW"] = str(limit[0])
        env["FOI_SYNC_DATAVERSE__REQUEST_WINDOW_SECONDS"] = str(limit[1])
    cmd = [sys.executable, "-m", "connector", "migrate", str(register), "--source-mapping", str(SOURCE_MAPPING)]
    before = _charged(sb)
    throttled_before = sb.app.limiter.throttled
    t0 = time.perf_counter()
    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, cwd=tmp)
    t1 = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    try:
        report = json.loads(done.stdout[done.stdout.index("{") :])
    except ValueError:
        msg = f"foi-sync migrate printed no report (exit {done.returncode}): {done.stderr[-2000:]}"
        raise RuntimeError(msg) from None
    dv = settings.dataverse
    if limit is not None:
        dv = dv.model_copy(update={"requests_per_window": limit[0], "request_window_seconds": limit[1]})
    client = DataverseClient.from_settings(dv)
    try:
        t2 = time.perf_counter()
        acks = client.create_multiple("emails", "email", work.acks)
        t3 = time.perf_counter()
    finally:
        client.close()
    after = _charged(sb)
    counts = report.get("counts", {})
    steps = report.get("steps", {})
    push_records = sum(counts.get(k, 0) for k in ("contacts_created", "contacts_updated", "created", "updated"))
    records = push_records + acks.succeeded
    push = float(steps.get("push", 0.0))
    return {
        "records": records,
        "cases": counts.get("created", 0) + counts.get("updated", 0),
        "push_records": push_records + acks.succeeded,
        "push_seconds": push + (t3 - t2),
        "seconds": push + (t3 - t2),
        "end_to_end_seconds": (t1 - t0) + (t3 - t2),
        "steps": {**steps, "acknowledgements": round(t3 - t2, 3), "process": round(t1 - t0, 3)},
        "exit_code": done.returncode,
        "reconciled": bool((report.get("reconciliation") or {}).get("match")),
        "ack_failed": len(acks.failed),
        "peak_rss_mb": round(peak_mb, 1),
        "requests": int(after.get("requests", 0) - before.get("requests", 0)),
        "requests_per_second": (after.get("requests", 0) - before.get("requests", 0)) / ((t1 - t0) + (t3 - t2)),
        "throttled": sb.app.limiter.throttled - throttled_before,
        "charged_ms": after.get("cost_ms", 0) - before.get("cost_ms", 0),
    }


WRITE_TABLES = ("contact", "incident", "email", "annotation", "task")


def _row_counts(sb: Any) -> dict[str, int]:
    return {t: len(sb.rows(t)) for t in WRITE_TABLES}


UPDATABLE = ("incident", "contact")
#: Columns the service sets on every write: a change there alone is not a change the register asked for.
SYSTEM_COLUMNS = frozenset({"modifiedon", "versionnumber", "modifiedby", "_modifiedby_value", "overriddencreatedon"})


def _values(sb: Any, table: str) -> dict[str, dict[str, Any]]:
    pid = f"{table}id"
    return {str(r[pid]): {k: v for k, v in r.items() if k not in SYSTEM_COLUMNS} for r in sb.rows(table)}


def _changes(sb: Any, before: dict[str, dict[str, dict[str, Any]]]) -> tuple[dict[str, int], dict[str, int], int]:
    """-> rows per table that existed before and now hold another value, how many rows each column changed in,
    and how many new cases are bound (related case) to another case that is new too."""
    changed: dict[str, int] = {}
    columns: dict[str, int] = {}
    linked = 0
    for table, old_rows in before.items():
        now = _values(sb, table)
        n = 0
        for rid, row in now.items():
            old = old_rows.get(rid)
            if old is None:
                if table == "incident" and (target := row.get("_foi_relatedcaseid_value")):
                    linked += str(target) not in old_rows
                continue
            diff = [k for k in row if row.get(k) != old.get(k)] + [k for k in old if k not in row]
            if diff:
                n += 1
                for k in diff:
                    columns[f"{table}.{k}"] = columns.get(f"{table}.{k}", 0) + 1
        changed[table] = n
    return changed, dict(sorted(columns.items(), key=lambda kv: -kv[1])[:12]), linked


def _daily_register(
    rows_: list[dict[str, str]], changed: int, seed: int, tag: str
) -> tuple[list[dict[str, str]], int, int]:
    """The register a day later: ``changed // 2`` rows edited (request text clarified) and the rest new rows.
    (An earlier version wrote the edit to a column the register does not have, so its "changed" rows were not.)"""
    rows = [dict(r) for r in rows_]
    edited = changed // 2
    start = random.Random(seed).randrange(0, max(1, len(rows) - edited))
    assert "Request Details" in rows[0], "the sample register's request text column"
    for r in rows[start : start + edited]:
        r["Request Details"] = (r.get("Request Details") or "") + f" ({tag}: clarified by the requester)"
    taken = {r["Ref No"] for r in rows}
    extra = [r for r in register_rows(len(rows) + 2 * changed, seed=seed)[len(rows) :] if r["Ref No"] not in taken]
    return rows + extra[: changed - edited], edited, len(extra[: changed - edited])


def run_daily(sb: Any, settings: Any, register_rows_: list[dict[str, str]], tmp: Path, changed: int) -> dict[str, Any]:
    """The daily job after a migration, on two days: each day the register has ``changed // 2`` new rows and
    ``changed // 2`` edited ones (request text changed); ``foi-sync sync`` reads it, finds them and pushes only them,
    with their acknowledgements, reminder tasks and notes. Day 1 is the first sync after the migration (it also
    primes the cross-reference history from the CRM); day 2 is the steady state.

    The fewest writes the changes need are counted from the CRM's rows before and after, independently of
    foi-sync's own counts: per table, one request per started 1,000 new rows, plus one UpdateMultiple per started
    1,000 rows that existed before and now hold a different value in some column (an update that changes nothing
    is not needed, so it is not counted). A new case bound to another new case cannot go in the same request as
    it; the least any client can do is create both, then set the link with the other updates, so those links join
    the updates' count. Reads are reported beside them (the pulls and key lookups that keep the CRM the source of
    truth)."""
    from connector.config import IntakeSource
    from connector.dataverse import DataverseClient
    from connector.sync.job import run_sync

    days = []
    rows = [dict(r) for r in register_rows_]
    for day, seed in ((1, 7), (2, 8)):
        rows, edited, new_cases = _daily_register(rows, changed, seed, f"day {day}")
        path = write_register(tmp / f"daily-register-{day}.csv", rows)
        source = IntakeSource(name="register", kind="csv", path=str(path), mapping=SOURCE_MAPPING)
        daily = settings.model_copy(update={"intake": settings.intake.model_copy(update={"sources": [source]})})
        client = DataverseClient.from_settings(daily.dataverse)
        before, rows_before = dict(sb.app.info()["stats"]), _row_counts(sb)
        snapshot = {t: _values(sb, t) for t in UPDATABLE}
        try:
            t0 = time.perf_counter()
            report = run_sync(daily, client=client, today=TODAY)
            seconds = time.perf_counter() - t0
        finally:
            client.close()
        after, rows_after = dict(sb.app.info()["stats"]), _row_counts(sb)
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
        web_api = {k: v for k, v in delta.items() if not k.startswith(("requests", "GET oauth", "POST oauth", "429"))}
        writes = sum(v for k, v in web_api.items() if not k.startswith("GET "))
        new_rows = {t: rows_after[t] - rows_before[t] for t in WRITE_TABLES}
        changed_rows, changed_columns, linked_new = _changes(sb, snapshot)
        fewest = sum(-(-n // 1000) for n in new_rows.values() if n > 0)
        fewest += sum(-(-(n + (linked_new if t == "incident" else 0)) // 1000) for t, n in changed_rows.items())
        days.append(
            {
                "day": day,
                "seconds": seconds,
                "new": new_cases,
                "edited": edited,
                "requests": sum(web_api.values()),
                "writes": writes,
                "reads": sum(web_api.values()) - writes,
                "fewest_writes": fewest,
                "new_rows": new_rows,
                "changed_rows": changed_rows,
                "changed_columns": changed_columns,
                "linked_new_cases": linked_new,
                "by_kind": web_api,
                "counts": report.counts,
                "exit_code": report.exit_code,
            }
        )
    return {**days[-1], "days": days}


def _sizes(text: str) -> list[int]:
    return [int(x.replace("_", "").replace("k", "000")) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--sdk-child"]:
        return sdk_child(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5000,20000,100000", help="register sizes to run (default 5000,20000,100000)")
    ap.add_argument("--naive-cases", type=int, default=300, help="cases the naive loop is measured on (default 300)")
    ap.add_argument(
        "--sdk-configs",
        default="1x1000,4x1000,4x500,4x250,8x250",
        help="SDK configurations THREADSxCHUNK, all tried up to 20,000 cases, the best of them above (default %(default)s)",
    )
    ap.add_argument("--daily", type=int, default=2000, help="new+changed cases for the daily job at the largest size")
    ap.add_argument("--profile", default="realistic", choices=["realistic", "fast"])
    ap.add_argument(
        "--scaled-limit",
        default="600/30",
        help="REQUESTS/SECONDS: also run foi-sync at the middle size under this scaled-down request limit, "
        "enforced by the sandbox and told to the client (default %(default)s; empty to skip)",
    )
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # per-record warnings (e.g. unmatched team names) would drown the figures
    from connector.sandbox.limits import LimitOptions

    sizes = sorted(_sizes(args.sizes))
    limits = LimitOptions()
    results: dict[str, Any] = {"profile": args.profile, "sizes": sizes, "runs": {}, "machine": machine()}
    ok = True
    best_config: tuple[int, ...] | None = None
    with tempfile.TemporaryDirectory(prefix="foi-bench-migration-") as tmp_text:
        tmp = Path(tmp_text)
        for n in sizes:
            run_dir = tmp / f"n{n}"
            rows = register_rows(n, args.seed)
            register = write_register(run_dir / "historical-register.csv", rows)
            r: dict[str, Any] = {}
            with _fresh(args.profile) as sb:
                ceiling = sb.ceiling()
                settings = settings_for(sb, run_dir / "c")
                work = Workload(settings, register)
                provision(settings)
                c = run_foisync_process(sb, settings, register, work, run_dir / "c")
                from connector.sync.job import london_today as _london_today

                check = compare_crm(
                    sb.rows,
                    # the migrate process dates its derived deadline fields today, not TODAY, and triages
                    expected_plan(settings, triaged([p.case for p in work.cases]), today=_london_today()),
                    work.mapping,
                    # set by intake's classifier, cross-referencing and grader, which the expected plan skips
                    ignore=("foi_servicearea", "foi_prioritygrade", "foi_gradeexplanation", "foi_relatedrequests"),
                )
                c["check"] = check
                c["landed_ok"] = check["ok"] and len(sb.rows("email")) == len(work.acks)
                r["foisync"] = c
                if n == sizes[-1] and args.daily:
                    r["daily"] = run_daily(sb, settings, rows, run_dir / "c", args.daily)
            if args.scaled_limit and n == sizes[len(sizes) // 2]:
                from connector.sandbox.limits import LimitOptions

                req, secs = args.scaled_limit.split("/")
                scaled = LimitOptions(requests=int(req), window_seconds=float(secs))
                with _fresh(args.profile, scaled) as sb:
                    provision(settings_for(sb, run_dir / "scaled"))
                    s_settings = settings_for(sb, run_dir / "scaled")
                    sc = run_foisync_process(
                        sb, s_settings, register, work, run_dir / "scaled", (int(req), float(secs))
                    )
                    sc["limit"] = args.scaled_limit
                    r["scaled_limit"] = sc
            bulk = float(ceiling.get("UpsertMultiple") or 0) or None
            # Peers: the SDK in each configuration at the smallest size, then its best configuration at every size.
            every = [tuple(int(x) for x in t.split("x")) for t in args.sdk_configs.split(",")]
            configs = every if n <= 20_000 or best_config is None else [best_config]
            sdk_runs = []
            for threads, chunk in configs:
                with _fresh(args.profile) as sb:
                    provision(settings_for(sb, run_dir / f"b{threads}x{chunk}"))
                    b = run_sdk_process(sb, work, run_dir, threads, chunk)
                    b["chunk"] = chunk
                    b["landed_ok"] = len(sb.rows("incident")) == len(work.cases) and len(sb.rows("email")) == len(
                        work.acks
                    )
                    b["records_per_second"] = b["records"] / b["seconds"]
                    b["dop_hint"] = int(sb.app.options.limits.dop_hint)
                    sdk_runs.append(b)
            best = max(sdk_runs, key=lambda x: x["records_per_second"])
            best_config = (best["threads"], best["chunk"])
            r["sdk_configs"] = [
                {k: x[k] for k in ("threads", "chunk", "records_per_second", "seconds")} for x in sdk_runs
            ]
            r["sdk"] = best
            # Microsoft's guidance is parallel threads up to x-ms-dop-hint; configurations above it are measured
            # too (the server queues what its slots cannot take), and the best within it is kept when it differs.
            dop = best["dop_hint"]
            within = [x for x in sdk_runs if x["threads"] <= dop]
            best_within = max(within, key=lambda x: x["records_per_second"]) if within else None
            r["sdk_dop_hint"] = dop
            r["sdk_within_dop"] = best_within if best_within is not best else None
            if n == sizes[0]:
                with _fresh(args.profile) as sb:
                    provision(settings_for(sb, run_dir / "a"))
                    a = run_naive(sb, work, args.naive_cases)
                    a["landed_ok"] = len(sb.rows("incident")) == a["cases"] and len(sb.rows("email")) == a["cases"]
                results["naive_measured"] = a
            a = results["naive_measured"]
            measured = a["records"] / a["seconds"]
            naive_seconds = naive_extrapolated(measured, c["records"], limits)
            r["naive"] = {
                "records": c["records"],
                "seconds": naive_seconds,
                "records_per_second": c["records"] / naive_seconds,
                "measured_on": a["records"],
                "measured_rps": measured,
            }
            c["records_per_second"] = c["push_records"] / c["push_seconds"]
            c["whole_job_records_per_second"] = c["records"] / c["end_to_end_seconds"]
            floor = workload_floor(len(work.contacts), len(work.cases), work.acks, args.profile)
            r["floor"] = floor
            for x in (c, r["sdk"]):
                # records/s against the stated bulk ceiling (an email counted as one record) ...
                x["fraction_of_stated_ceiling"] = x["records_per_second"] / bulk if bulk else None
                # ... and the honest figure: the least time this workload can take, over the time it took.
                x["fraction_of_ceiling"] = floor["seconds"] / x["seconds"] if floor["seconds"] else None
            c["fraction_of_ceiling"] = floor["seconds"] / c["push_seconds"] if floor["seconds"] else None
            if "scaled_limit" in r and floor["seconds"]:
                sc = r["scaled_limit"]
                sc["fraction_of_ceiling"] = floor["seconds"] / sc["push_seconds"]
            c["whole_job_fraction"] = floor["seconds"] / c["end_to_end_seconds"] if floor["seconds"] else None
            c["whole_job_fraction_of_stated_ceiling"] = c["whole_job_records_per_second"] / bulk if bulk else None
            r["ceiling"] = ceiling
            ok = ok and c["landed_ok"] and r["sdk"]["landed_ok"] and a["landed_ok"] and c["exit_code"] == 0
            results["runs"][n] = r
            _print_size(n, r)
    _print_growth(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0 if ok else 1


def _print_size(n: int, r: dict[str, Any]) -> None:
    c, b, a = r["foisync"], r["sdk"], r["naive"]
    bulk = r["ceiling"].get("UpsertMultiple")
    f = r["floor"]
    print(
        f"\n== {n:,} cases: {c['records']:,} records (contacts, cases, acknowledgements), "
        f"{f['charged_records']:,} charged ({f['activity_parties']:,} activity parties nested in the emails); "
        f"no client can take less than {f['seconds']:.1f} s (the workload's ceiling); stated bulk ceiling "
        f"{bulk:,.0f} records/s"
    )
    print(f"{'approach':<58} {'seconds':>8} {'records/s':>10} {'of ceiling':>10} {'of stated':>10}")
    print(
        f"{'(a) naive loop, extrapolated with 6,000 req/5 min applied':<58} {a['seconds']:>8.1f} "
        f"{a['records_per_second']:>10,.0f} {f['seconds'] / a['seconds']:>10.3f} {a['records_per_second'] / bulk:>10.3f}"
    )
    label_b = f"(b) Microsoft SDK 1.1.0 CreateMultiple, {b['threads']} threads x {b['chunk']} (best)"
    print(
        f"{label_b:<58} {b['seconds']:>8.1f} {b['records_per_second']:>10,.0f} {b['fraction_of_ceiling']:>10.3f} "
        f"{b['fraction_of_stated_ceiling']:>10.3f}"
    )
    print(
        f"{'(c) foi-sync push (contacts, cases, acknowledgements)':<58} {c['push_seconds']:>8.1f} "
        f"{c['records_per_second']:>10,.0f} {c['fraction_of_ceiling']:>10.3f} {c['fraction_of_stated_ceiling']:>10.3f}"
    )
    print(
        f"{'(c) foi-sync whole job from the register file':<58} {c['end_to_end_seconds']:>8.1f} "
        f"{c['whole_job_records_per_second']:>10,.0f} {c['whole_job_fraction']:>10.3f} "
        f"{c['whole_job_fraction_of_stated_ceiling']:>10.3f}"
    )
    print(
        f"    'of ceiling' = the least time this workload can take ({f['seconds']:.1f} s) / the time taken; 'of stated' ="
        " records/s / the stated bulk ceiling, which counts an email and its activity parties as one record"
    )
    if len(r.get("sdk_configs", [])) > 1:
        print(
            "    SDK configurations: "
            + ", ".join(f"{x['threads']}x{x['chunk']} {x['records_per_second']:,.0f}/s" for x in r["sdk_configs"])
        )
    print(
        f"    (c) steps {json.dumps(c['steps'])}; exit {c['exit_code']}, reconciled {c['reconciled']}, "
        f"{c['requests']:,} requests; peak memory of foi-sync migrate {c['peak_rss_mb']:,.0f} MB"
    )
    print(
        f"    (c) request rate: {c['requests_per_second']:.1f} requests/s over the whole job (the documented limit, "
        f"6,000 per 5 minutes, allows 20/s sustained); 429s received: {c['throttled']}"
    )
    sc = r.get("scaled_limit")
    if sc:
        print(
            f"    (c) under a scaled-down limit of {sc['limit']} requests/seconds (sandbox enforces it, client told): "
            f"push {sc['push_seconds']:.1f} s = {sc['fraction_of_ceiling']:.3f} of the ceiling, "
            f"{sc['requests_per_second']:.1f} requests/s, 429s {sc['throttled']}, exit {sc['exit_code']}"
        )
    chk = c["check"]
    print(
        f"    (c) CRM vs source: lost {chk['lost_cases']} cases / {chk['lost_contacts']} contacts, duplicated "
        f"{chk['duplicated_cases']} / {chk['duplicated_contacts']}, mismatched fields {chk['mismatched_fields']}; "
        f"(c) / best SDK: {c['records_per_second'] / b['records_per_second']:.2f}x push{_within_dop(r, c)}, "
        f"(c) / naive: {c['whole_job_records_per_second'] / a['records_per_second']:.1f}x whole job"
    )
    d = r.get("daily")
    for day in (d or {}).get("days", []):
        print(
            f"    daily job, day {day['day']}: {day['new']:,} new + {day['edited']:,} changed among {n:,} known: "
            f"{day['seconds']:.1f} s, {day['requests']} Web API requests = {day['writes']} writes "
            f"(fewest the changes need: {day['fewest_writes']}, for new rows {json.dumps(day['new_rows'])}, rows "
            f"changed {json.dumps(day['changed_rows'])}, new cases linked to new cases {day['linked_new_cases']}, "
            f"columns changed {json.dumps(day['changed_columns'])}) + "
            f"{day['reads']} reads; by kind {json.dumps(day['by_kind'])}"
        )


def _within_dop(r: dict[str, Any], c: dict[str, Any]) -> str:
    """The SDK's best configuration within x-ms-dop-hint (what Microsoft recommends), when the overall best is above."""
    w, b = r.get("sdk_within_dop"), r["sdk"]
    if not w:
        return ""
    return (
        f" ({b['threads']} threads is above the x-ms-dop-hint of {r['sdk_dop_hint']}; the best SDK configuration "
        f"within it, {w['threads']}x{w['chunk']}, {w['seconds']:.1f} s: {c['records_per_second'] / w['records_per_second']:.2f}x)"
    )


def _print_growth(results: dict[str, Any]) -> None:
    runs = results["runs"]
    sizes = sorted(runs)
    if len(sizes) < 2:
        return
    print("\ngrowth of time with size (seconds per 1,000 cases; flat = linear):")
    for label, get in (
        ("(c) whole job", lambda r: r["foisync"]["end_to_end_seconds"]),
        ("(c) push", lambda r: r["foisync"]["push_seconds"]),
        ("(b) best SDK", lambda r: r["sdk"]["seconds"]),
    ):
        cells = "  ".join(f"{n:>7,}: {get(runs[n]) / n * 1000:6.2f}" for n in sizes)
        print(f"  {label:<16} {cells}")


if __name__ == "__main__":
    sys.exit(main())
