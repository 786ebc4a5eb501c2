#!/usr/bin/env python3
"""Reliability drill: ``kill -9`` a running ``foi-sync migrate`` at random moments, resume each time, and check the
CRM ends equal to the source with nothing lost and nothing duplicated.

    python3 scripts/drill_kill9.py                     # 20 kills of a 4,000-case migration (realistic profile)
    python3 scripts/drill_kill9.py --kills 2 --cases 300 --profile fast      # the quick version the suite runs

The sandbox runs as its own process (``foi-sync sandbox serve --db FILE``, SQLite on disk), so only the
migration dies. Each cycle starts ``foi-sync migrate REGISTER --source-mapping ... --json`` as a subprocess with
the ``FOI_SYNC_*`` environment pointing at the sandbox and SIGKILLs it: about a third of the kills land anywhere
in the run (reading the register, planning, pushing), the rest while it writes (after the sandbox sees a write
from that run, plus a random delay). Then the migration is run once more to the end. Finally the sandbox is
stopped, its database read back, and every planned case and contact compared with the CRM; stage notes are
checked for duplicates and the state file for dead letters. The key columns (reference, key, dates, regime, stage,
requester email) are also compared with the oracle of scripts/drill_oracle.py, computed from the raw register rows
without the connector, over the Web API. Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import drill_oracle
from bench_migration import (
    ROOT,
    SECRET_ENV,
    SOURCE_MAPPING,
    compare_crm,
    duplicates_in,
    expected_plan,
    machine,
    provision,
    register_rows,
    settings_for,
    write_register,
)

CLIENT_ID = "foi-sync-sandbox"
CLIENT_SECRET = "sandbox-secret"


def child_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Child processes run this checkout's code (a fresh clone works before ``pip install -e .`` too)."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SandboxProcess:
    """``foi-sync sandbox serve`` in its own process, with its database in a file."""

    db: Path
    profile: str
    port: int = 0
    tls_port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    # What settings_for() needs (same attribute names as the in-process handle).
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/data/v9.2/"

    @property
    def ca_bundle(self) -> Path:
        return self.db.parent / "sandbox-tls" / "ca.pem"

    client_id = CLIENT_ID
    client_secret = CLIENT_SECRET

    def start(self, timeout: float = 30.0) -> SandboxProcess:
        self.port, self.tls_port = _free_port(), _free_port()
        log = (self.db.parent / "sandbox.log").open("ab")
        cmd = [sys.executable, "-m", "connector", "sandbox", "serve", "--db", str(self.db)]
        cmd += ["--port", str(self.port), "--second-port", str(self.tls_port), "--profile", self.profile]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sandbox exited with {self.proc.returncode}; see {self.db.parent / 'sandbox.log'}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/_sandbox", timeout=2).ok:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("sandbox did not answer within 30 s")

    def writes(self) -> int:
        """Write requests the sandbox has answered so far (from its info endpoint)."""
        try:
            stats = requests.get(self.url + "/_sandbox", timeout=5).json().get("stats", {})
        except (requests.RequestException, ValueError):
            return -1
        return sum(v for k, v in stats.items() if k.split(" ", 1)[0] in ("POST", "PATCH", "PUT", "DELETE"))

    def settled_writes(self, limit: float = 5.0) -> int:
        """Write count once requests a killed client left in flight have finished (two equal reads in a row)."""
        last, deadline = self.writes(), time.monotonic() + limit
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = self.writes()
            if now == last:
                return now
            last = now
        return last

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # clean stop: the store is closed and the file is complete
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@contextlib.contextmanager
def sandbox_process(db: Path, profile: str) -> Iterator[SandboxProcess]:
    sb = SandboxProcess(db, profile).start()
    try:
        yield sb
    finally:
        sb.stop()


def migrate_env(sb: SandboxProcess, work: Path) -> dict[str, str]:
    """What an operator exports to point ``foi-sync migrate`` at this sandbox."""
    env = child_env({k: v for k, v in os.environ.items() if not k.startswith("FOI_SYNC_")})
    env.update(
        {
            "FOI_SYNC_DATAVERSE__URL": sb.url,
            "FOI_SYNC_DATAVERSE__TENANT_ID": "sandbox",
            "FOI_SYNC_DATAVERSE__CLIENT_ID": sb.client_id,
            SECRET_ENV: sb.client_secret,
            "FOI_SYNC_DATAVERSE__AUTHORITY_HOST": sb.https_url,
            "FOI_SYNC_DATAVERSE__CA_BUNDLE": str(sb.ca_bundle),
            "FOI_SYNC_SYNC__STATE_PATH": str(work / "state.sqlite"),
            "FOI_SYNC_INTAKE__REJECTS_DIR": str(work / "rejects"),
            "FOI_SYNC_REPORT__OUT_DIR": str(work / "reports"),
            "FOI_SYNC_REPORT__STORE_PATH": str(work / "reporting.sqlite"),
        }
    )
    return env


def run(
    kills: int = 20,
    cases: int = 4000,
    profile: str = "realistic",
    seed: int = 99,
    write_window: float = 0.8,
    timeout: float = 1800.0,
    workdir: Path | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run the drill; -> figures and the CRM-vs-source check (``result["ok"]``)."""
    from connector.sync.job import london_today as _london_today
    from connector.sync.mapping import load_target_mapping
    from connector.sync.migration import read_migration_source
    from connector.sync.state import StateStore

    say = print if verbose else (lambda *a, **k: None)
    rng = random.Random(seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="foi-drill-kill9-") as tmp:
        work = Path(workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        register = write_register(work / "register.csv", register_rows(cases, seed))
        db = work / "crm" / "crm.sqlite"
        db.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "connector", "migrate", str(register), "--source-mapping", str(SOURCE_MAPPING)]
        cycles: list[dict[str, Any]] = []
        to_first_write = 5.0  # learnt from the cycles: how long a run takes to start writing
        with sandbox_process(db, profile) as sb:
            env = migrate_env(sb, work)
            provision(settings_for(sb, work / "provision"))
            for i in range(1, kills + 1):
                if time.monotonic() - started > timeout:
                    say(f"timeout after {i - 1} kills")
                    break
                mode = "anywhere" if rng.random() < 0.35 else "while-writing"
                before = sb.settled_writes()  # the killed run's requests still in flight finish first
                log = (work / f"cycle-{i:02d}.log").open("wb")
                t0 = time.monotonic()
                proc = subprocess.Popen([*cmd, "--json"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
                if mode == "anywhere":
                    kill_at = t0 + rng.uniform(0.2, to_first_write + write_window)
                else:
                    while proc.poll() is None and sb.writes() <= before and time.monotonic() - t0 < 300:
                        time.sleep(0.05)
                    to_first_write = 0.5 * to_first_write + 0.5 * (time.monotonic() - t0)
                    kill_at = time.monotonic() + rng.uniform(0.0, write_window)
                while proc.poll() is None and time.monotonic() < kill_at:
                    time.sleep(0.01)
                killed = proc.poll() is None
                if killed:
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=60)
                log.close()
                wrote = sb.writes() - before
                cycles.append(
                    {
                        "cycle": i,
                        "mode": mode,
                        "killed": killed,
                        "at_seconds": round(time.monotonic() - t0, 2),
                        "write_requests": wrote,
                        "exit_code": proc.returncode,
                    }
                )
                say(
                    f"cycle {i:2d}: {'SIGKILL' if killed else 'finished first'} at {time.monotonic() - t0:5.2f} s "
                    f"({mode}, {wrote} write requests in this run)"
                )
            t0 = time.monotonic()
            final = subprocess.run([*cmd, "--json"], cwd=work, env=env, capture_output=True, timeout=900, check=False)
            final_seconds = time.monotonic() - t0
            try:
                report = json.loads(final.stdout.decode("utf-8", "replace")[final.stdout.find(b"{") :])
            except ValueError:
                report = {"raw": final.stdout.decode("utf-8", "replace")[-2000:]}
            say(
                f"resume to the end: exit {final.returncode} in {final_seconds:.1f} s; "
                f"counts {report.get('counts')}; reconciled {(report.get('reconciliation') or {}).get('match')}"
            )
        # Read back what the CRM holds from the sandbox's database file (server stopped cleanly).
        from connector.sandbox.server import SandboxOptions, SandboxServer

        with SandboxServer(SandboxOptions(port=0, db_path=db)) as reader:
            settings = settings_for(reader, work / "verify", sync={"state_path": str(work / "state.sqlite")})
            source = read_migration_source(settings, register, SOURCE_MAPPING)
            grades = getattr(source, "grades", {}) or {}
            plan = expected_plan(settings, source.cases, today=_london_today(), grades=grades)
            mapping = load_target_mapping(settings.sync.target_mapping)
            check = compare_crm(reader.rows, plan, mapping)
            oracle = drill_oracle.check(register, reader.api_url, reader.issue_token)
            dup_notes = duplicates_in(reader.rows("annotation"), "_objectid_value", "subject")
            dup_tasks = duplicates_in(reader.rows("task"), "_regardingobjectid_value", "subject")
        with StateStore(work / "state.sqlite") as state:
            dead = len(state.dead_letters("open"))
            ledger = state.runs(limit=kills + 5)
    killed = sum(1 for c in cycles if c["killed"])
    result = {
        "ok": bool(
            check["ok"] and oracle["ok"] and dup_notes == 0 and dup_tasks == 0 and final.returncode == 0 and dead == 0
        ),
        "kills": killed,
        "cycles": cycles,
        "killed_while_writing": sum(1 for c in cycles if c["killed"] and c["write_requests"] > 0),
        "final_exit_code": final.returncode,
        "final_seconds": round(final_seconds, 1),
        "final_counts": report.get("counts"),
        "dead_letters": dead,
        "runs_in_ledger": len(ledger),
        "duplicated_notes": dup_notes,
        "duplicated_tasks": dup_tasks,
        "seconds": round(time.monotonic() - started, 1),
        "cases": cases,
        "profile": profile,
        "check": check,
        "oracle": oracle,
    }
    say(
        f"CRM vs source: {check['crm_cases']:,}/{check['source_cases']:,} cases, {check['crm_contacts']:,}/"
        f"{check['source_contacts']:,} contacts; lost {check['lost_cases']}+{check['lost_contacts']}, duplicated "
        f"{check['duplicated_cases']}+{check['duplicated_contacts']} (notes {dup_notes}, tasks {dup_tasks}), "
        f"extra {check['extra_cases']}, mismatched fields {check['mismatched_fields']}, open dead letters {dead} "
        f"{check['examples'] or ''}"
    )
    say(drill_oracle.describe(oracle))
    say(
        f"{'PASS' if result['ok'] else 'FAIL'}: {killed} kill -9 ({result['killed_while_writing']} while writing), "
        f"each followed by a resume, in {result['seconds']:.0f} s"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--cases", type=int, default=4000)
    ap.add_argument("--profile", default="realistic", choices=["realistic", "fast"])
    ap.add_argument("--seed", type=int, default=99)
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    result = run(args.kills, args.cases, args.profile, args.seed, timeout=args.timeout)
    result["machine"] = machine()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
