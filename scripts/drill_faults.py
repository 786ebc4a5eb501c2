#!/usr/bin/env python3
"""Reliability drill: records pushed through injected faults end with nothing lost, nothing duplicated and the CRM
equal to the source.

    python3 scripts/drill_faults.py                                 # ~104,000 records + a 3,000-case migration
    python3 scripts/drill_faults.py --cases 300 --migrate-cases 200     # the quick version the test suite runs

Faults (the sandbox's fault injection, seeded): 5% of requests answer 502/503/504 and 2% drop the connection,
half of both *after* the write committed (the case that duplicates records in naive clients); 0.2% start a
2-second burst of 429s with Retry-After; every ``--expire-every`` seconds every access token is revoked (401
mid-run). One of each kind is also scheduled on the first bulk write, so even a short drill meets them all.

Two parts, both against the same faults:

1. volume: ``--cases`` historical cases become contacts, cases and acknowledgement emails (the migration
   benchmark's workload, about three records per case) pushed through foi-sync's ``DataverseClient``
   (UpsertMultiple for contacts and cases, CreateMultiple with client-generated ids for the emails, the
   non-idempotent kind); records that still fail are pushed again, up to ``--max-runs`` passes;
2. engine: a ``--migrate-cases`` register migrated with ``run_migrate`` (what ``foi-sync migrate`` runs: plan,
   state checkpoints, dead letters, reconcile), resumed if a run ends with failures, up to ``--max-runs`` runs.

Afterwards every record is checked in the CRM twice. Against foi-sync's own plan: present once, every column equal to
the planned value, the right requester and case linked, stage notes not duplicated. Against the oracle of
scripts/drill_oracle.py, computed from the raw register rows without the connector: reference, key, received and
responded dates, regime, stage and requester email as the shipped mappings say, so a mapping bug fails the drill
(``--target-mapping`` runs the connector with another target mapping; the oracle keeps the shipped one).
Loopback only; bounded by ``--max-runs`` and ``--timeout``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import drill_oracle
from bench_migration import (
    TODAY,
    Workload,
    compare_crm,
    duplicates_in,
    expected_plan,
    machine,
    normalised_cases,
    provision,
    register_rows,
    settings_for,
    write_register,
)

DEFAULT_FAULTS = "5xx=0.05,drop=0.02,burst=0.002,after=0.5,burst_seconds=2,seed=7"


@contextmanager
def faults_on(sb: Any, spec: str, expire_every: float) -> Iterator[dict[str, Any]]:
    """Turn the faults on (one of each kind scheduled for certain) and revoke tokens on a timer; -> live counters.
    ``spec == "off"``: no fault at all (the drill's checks on their own, e.g. against a broken mapping)."""
    from connector.sandbox.faults import Faults, FaultSpec

    if spec == "off":
        yield {"expiries": 0, "injected": {}, "throttled_429": 0}
        return
    sb.app.faults = Faults(FaultSpec.parse(spec))
    for kind, after in (("5xx", True), ("drop", True), ("burst", False), ("5xx", False), ("drop", False)):
        sb.faults.schedule(kind, method="POST", path_contains="Multiple", after=after)
    state: dict[str, Any] = {"expiries": 0}
    stop = threading.Event()

    def expire() -> None:
        while not stop.wait(expire_every):
            sb.expire_tokens()
            state["expiries"] += 1

    ticker = threading.Thread(target=expire, daemon=True)
    ticker.start()
    throttled0 = sb.app.limiter.throttled
    try:
        yield state
    finally:
        stop.set()
        ticker.join()
        state["injected"] = dict(sb.faults.injected)
        state["throttled_429"] = sb.app.limiter.throttled - throttled0
        sb.app.faults = Faults(FaultSpec())  # quiet for the read-back


def _emails_check(rows: list[dict[str, Any]], cases: list[dict[str, Any]], expected: int) -> dict[str, Any]:
    """Each acknowledgement once, regarding the case its subject names."""
    ref_by_id = {str(c.get("incidentid")): str(c.get("foi_sourcereference")) for c in cases}
    wrong = sum(
        1
        for r in rows
        if not str(r.get("subject", "")).endswith(ref_by_id.get(str(r.get("_regardingobjectid_value")), "\0"))
    )
    return {
        "expected": expected,
        "crm": len(rows),
        "duplicated": duplicates_in(rows, "_regardingobjectid_value", "subject"),
        "wrong_case": wrong,
        "ok": len(rows) == expected and wrong == 0 and duplicates_in(rows, "_regardingobjectid_value", "subject") == 0,
    }


def volume(sb: Any, settings: Any, register: Path, spec: str, expire_every: float, max_runs: int) -> dict[str, Any]:
    """Part 1: the migration workload through the bulk client, under faults."""
    from connector.dataverse import DataverseClient

    work = Workload(settings, register)
    client = DataverseClient.from_settings(settings.dataverse)
    passes: list[dict[str, Any]] = []
    t0 = time.monotonic()
    try:
        with faults_on(sb, spec, expire_every) as live:
            todo = {
                "contacts": list(work.contacts),
                "cases": list(work.case_items),
                "acknowledgements": list(work.acks),
            }
            for attempt in range(1, max_runs + 1):
                failed: dict[str, int] = {}
                for name, items in todo.items():
                    if not items:
                        continue
                    if name == "contacts":
                        res = client.upsert_multiple("contacts", "contact", items)
                    elif name == "cases":
                        res = client.upsert_multiple("incidents", "incident", items)
                    else:
                        res = client.create_multiple("emails", "email", items)
                    # A re-sent create that meets "already exists" has landed before: not a failure.
                    again = [f.index for f in res.failed if not (name == "acknowledgements" and _duplicate(f))]
                    todo[name] = [items[i] for i in again]
                    failed[name] = len(again)
                passes.append({"pass": attempt, "still_failing": failed})
                if not any(todo.values()):
                    break
    finally:
        client.close()
    seconds = time.monotonic() - t0
    plan = expected_plan(settings, [p.case for p in work.cases])
    check = compare_crm(sb.rows, plan, work.mapping)
    oracle = drill_oracle.check(register, sb.api_url, sb.issue_token)
    emails = _emails_check(sb.rows("email"), sb.rows("incident"), len(work.acks))
    records = check["crm_cases"] + check["crm_contacts"] + emails["crm"]
    return {
        "ok": bool(check["ok"] and oracle["ok"] and emails["ok"] and not any(todo.values())),
        "records": records,
        "seconds": round(seconds, 1),
        "passes": passes,
        "token_expiries": live["expiries"],
        "injected": live["injected"],
        "throttled_429": live["throttled_429"],
        "check": check,
        "oracle": oracle,
        "emails": emails,
    }


def _duplicate(failure: Any) -> bool:
    text = f"{failure.code} {failure.message}".lower()
    return "duplicate" in text or "0x80040237" in text or "already exists" in text


def engine(sb: Any, settings: Any, register: Path, spec: str, expire_every: float, max_runs: int) -> dict[str, Any]:
    """Part 2: ``run_migrate`` under faults, resumed when a run ends with failures."""
    from connector.sync.job import run_migrate
    from connector.sync.mapping import load_target_mapping

    cases, rejects = normalised_cases(settings, register)
    runs: list[dict[str, Any]] = []
    t0 = time.monotonic()
    with faults_on(sb, spec, expire_every) as live:
        for attempt in range(1, max_runs + 1):
            r0 = time.monotonic()
            try:
                report = run_migrate(settings, register, None, cases=cases, today=TODAY)
                runs.append({"run": attempt, "seconds": round(time.monotonic() - r0, 1), "exit_code": report.exit_code})
                if report.exit_code == 0:
                    break
            except Exception as exc:  # a run that gives up is resumed, as the next scheduled run would
                runs.append({"run": attempt, "seconds": round(time.monotonic() - r0, 1), "error": repr(exc)[:300]})
    seconds = time.monotonic() - t0
    mapping = load_target_mapping(settings.sync.target_mapping)
    check = compare_crm(sb.rows, expected_plan(settings, cases), mapping)
    oracle = drill_oracle.check(register, sb.api_url, sb.issue_token)
    dup_notes = duplicates_in(sb.rows("annotation"), "_objectid_value", "subject")
    return {
        "ok": bool(check["ok"] and oracle["ok"] and dup_notes == 0 and runs and runs[-1].get("exit_code") == 0),
        "cases": len(cases),
        "rejected_rows": len(rejects),
        "records": check["crm_cases"] + check["crm_contacts"],
        "seconds": round(seconds, 1),
        "runs": runs,
        "token_expiries": live["expiries"],
        "injected": live["injected"],
        "throttled_429": live["throttled_429"],
        "duplicated_notes": dup_notes,
        "check": check,
        "oracle": oracle,
    }


def _describe(name: str, part: dict[str, Any]) -> str:
    c = part["check"]
    extra = ""
    if "emails" in part:
        e = part["emails"]
        extra = f", acknowledgements {e['crm']:,}/{e['expected']:,} (duplicated {e['duplicated']}, wrong case {e['wrong_case']})"
    return (
        f"{name}: {'PASS' if part['ok'] else 'FAIL'} {part['records']:,} records in {part['seconds']:.1f} s; "
        f"faults {part['injected']}, 429s {part['throttled_429']}, token revocations {part['token_expiries']}; "
        f"cases {c['crm_cases']:,}/{c['source_cases']:,}, contacts {c['crm_contacts']:,}/{c['source_contacts']:,}"
        f"{extra}; lost {c['lost_cases'] + c['lost_contacts']}, duplicated "
        f"{c['duplicated_cases'] + c['duplicated_contacts']}, extra {c['extra_cases']}, mismatched fields "
        f"{c['mismatched_fields']} {c['examples'] or ''}; {drill_oracle.describe(part['oracle'])}"
    )


def run(
    cases: int = 35_000,
    migrate_cases: int = 3000,
    faults: str = DEFAULT_FAULTS,
    expire_every: float = 10.0,
    max_runs: int = 3,
    timeout: float = 1800.0,
    seed: int = 4242,
    workdir: Path | None = None,
    verbose: bool = True,
    target_mapping: Path | None = None,
) -> dict[str, Any]:
    """Run both parts; -> figures and the CRM-vs-source checks (``result["ok"]``). ``target_mapping``: the one the
    connector runs with (default: the configured one); the oracle always checks against the shipped mapping."""
    from connector.sandbox.server import SandboxOptions, SandboxServer

    say = print if verbose else (lambda *a, **k: None)
    started = time.monotonic()
    result: dict[str, Any] = {"faults": faults, "expire_every": expire_every}
    sync = {"target_mapping": str(target_mapping)} if target_mapping else {}
    with tempfile.TemporaryDirectory(prefix="foi-drill-faults-") as tmp:
        work = Path(workdir or tmp)
        if cases:
            register = write_register(work / "volume.csv", register_rows(cases, seed))
            with SandboxServer(SandboxOptions(port=0, profile="fast")) as sb:
                settings = settings_for(sb, work / "volume", sync=sync)
                provision(settings)  # before the faults: the drill is about the data, not the schema
                result["volume"] = volume(sb, settings, register, faults, expire_every, max_runs)
            say(_describe("1. volume through the bulk client", result["volume"]))
        if migrate_cases and time.monotonic() - started < timeout:
            register = write_register(work / "migrate.csv", register_rows(migrate_cases, seed + 1))
            with SandboxServer(SandboxOptions(port=0, profile="fast")) as sb:
                settings = settings_for(sb, work / "migrate", sync=sync)
                provision(settings)
                result["engine"] = engine(sb, settings, register, faults, expire_every, max_runs)
            say(_describe(f"2. foi-sync migrate ({len(result['engine']['runs'])} run(s))", result["engine"]))
    parts = [p for p in (result.get("volume"), result.get("engine")) if p]
    result["ok"] = bool(parts) and all(p["ok"] for p in parts) and len(parts) == (bool(cases) + bool(migrate_cases))
    result["records"] = sum(p["records"] for p in parts)
    result["seconds"] = round(time.monotonic() - started, 1)
    say(
        f"{'PASS' if result['ok'] else 'FAIL'}: {result['records']:,} records through faults in {result['seconds']:.0f} s"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=35_000, help="part 1: cases (x ~3 records each)")
    ap.add_argument("--migrate-cases", type=int, default=3000, help="part 2: register rows migrated by run_migrate")
    ap.add_argument("--faults", default=DEFAULT_FAULTS, help='the sandbox fault spec, or "off" (default %(default)s)')
    ap.add_argument("--expire-every", type=float, default=10.0, help="seconds between token revocations")
    ap.add_argument("--max-runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--target-mapping", type=Path, default=None, help="run the connector with this target mapping (oracle: shipped)"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # the faults make the client log every retry; the result matters
    result = run(
        args.cases,
        args.migrate_cases,
        args.faults,
        args.expire_every,
        args.max_runs,
        args.timeout,
        target_mapping=args.target_mapping,
    )
    result["machine"] = machine()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
