#!/usr/bin/env python3
"""Where a migration's time goes: py-spy on both processes of a ``foi-sync migrate`` against the realistic sandbox.

    python3 scripts/bench_profile_migration.py --cases 20000      # ~2-3 minutes
    python3 scripts/bench_profile_migration.py --cases 2000       # quick look

The sandbox runs as its own process (``foi-sync sandbox serve --profile realistic``, SQLite in a file) and
``foi-sync migrate`` as another, exactly as an operator runs them. py-spy (PyPI ``py-spy``) samples both:
- the migrate process with ``--idle`` (waits included), main thread only: its wall time split by step (intake,
  plan, push, reconcile, ...) and, inside each, by what the thread was doing (its own CPU, JSON, HTTP waits,
  waiting for the bulk workers, SQLite checkpoints);
- the sandbox without ``--idle``: its CPU time split by module (request parsing, JSON, SQLite, filters), as a
  share of the run's wall time, so it shows whether the sandbox itself could be the bottleneck.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_migration import SOURCE_MAPPING, provision, register_rows, settings_for, write_register  # noqa: E402
from drill_kill9 import migrate_env, sandbox_process  # noqa: E402

#: (bucket, substrings of a frame "function (file)") checked from the innermost frame outwards; first hit wins.
CLIENT_BUCKETS = [
    ("waiting for bulk workers", ("concurrent/futures", "ThreadPoolExecutor", "_worker_wait", "thread.py")),
    ("HTTP wait (single requests, lookups, reads)", ("socket.py", "ssl.py", "http/client.py", "urllib3")),
    ("checkpoints (state SQLite)", ("sync/state.py",)),
    ("JSON", ("json/",)),
    ("requests/urllib3 CPU", ("requests/",)),
]
#: Checked in this order, against any frame of a sample's stack. A migration finishes intake and plans its cases
#: inside the push step (while the requesters are written), so intake's parts and the plan are named before it.
STEP_FRAMES = [
    ("reconcile", "reconcile"),
    ("cross-reference", "intake/crossref.py"),
    ("classification", "intake/classify.py"),
    ("grading", "intake/grade.py"),
    ("plan", "sync/plan.py"),
    ("intake", "intake/"),
    ("push", "_push"),
    ("mapping check", "check_mapping"),
]


def _load(path: Path) -> list[tuple[list[str], int]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            out.append((stack.split(";"), int(n)))
    return out


def _step(frames: list[str]) -> str:
    for name, needle in STEP_FRAMES:
        if any(needle in f for f in frames):
            return name
    return "start-up and the rest"


def _client_bucket(frames: list[str]) -> str:
    for f in reversed(frames):
        for name, needles in CLIENT_BUCKETS:
            if any(n in f for n in needles):
                return name
        if "connector/" in f or "connector." in f:
            return "own CPU"
    return "own CPU"


IDLE_LEAVES = ("select (selectors", "readinto", "recv_into", "SSLSocket.read", "Condition.wait", "Event.wait")


def _sandbox_bucket(frames: list[str]) -> str:
    leaf = frames[-1] if frames else ""
    if any(x in leaf for x in IDLE_LEAVES):
        return "idle (waiting for a request)"
    if "SandboxApp.handle (connector/sandbox/app.py" in leaf:
        return "modelled service time (sleep) and slot waits"
    for f in reversed(frames):
        if "sqlite" in f or "store.py" in f:
            return "SQLite (store.py)"
        if "json/" in f:
            return "JSON"
        if "odata_filter.py" in f or "query.py" in f:
            return "queries and filters"
        if "records.py" in f:
            return "record validation (records.py)"
        if "http/server.py" in f or "socketserver" in f or "server.py" in f or "batch.py" in f:
            return "HTTP parsing"
    return "other"


def report(client_raw: Path, sandbox_raw: Path, wall: float) -> dict[str, object]:
    client = [(s, n) for s, n in _load(client_raw) if s and "MainThread" in s[0]]
    total = sum(n for _, n in client) or 1
    steps: Counter[str] = Counter()
    inner: dict[str, Counter[str]] = {}
    for frames, n in client:
        step = _step(frames)
        steps[step] += n
        inner.setdefault(step, Counter())[_client_bucket(frames)] += n
    print(f"foi-sync migrate, main thread ({wall:.1f} s wall, {total} samples):")
    out_steps = {}
    for step, n in steps.most_common():
        share = n / total
        parts = ", ".join(f"{k} {v / n:.0%}" for k, v in inner[step].most_common(4))
        print(f"  {step:<24} {share:6.1%}  {share * wall:6.1f} s   ({parts})")
        out_steps[step] = {"share": round(share, 4), "seconds": round(share * wall, 2), "inside": dict(inner[step])}
    sandbox = _load(sandbox_raw)
    buckets: Counter[str] = Counter()
    for frames, n in sandbox:
        buckets[_sandbox_bucket(frames)] += n
    waits = ("idle (waiting for a request)", "modelled service time (sleep) and slot waits")
    cpu_samples = sum(n for k, n in buckets.items() if k not in waits)
    cpu_seconds = cpu_samples / 100.0  # sampled at 100 Hz
    print(f"sandbox CPU: {cpu_seconds:.1f} s in {wall:.1f} s wall ({cpu_seconds / wall:.0%} of one core), by module:")
    for name, n in buckets.most_common():
        if name not in waits:
            print(f"  {name:<32} {n / max(cpu_samples, 1):6.1%}")
    return {
        "wall_seconds": wall,
        "client_steps": out_steps,
        "sandbox_cpu_seconds": cpu_seconds,
        "sandbox": dict(buckets),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--keep", type=Path, default=None, help="keep the raw py-spy stacks in this directory")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="foi-profile-") as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        register = write_register(work / "register.csv", register_rows(args.cases, args.seed))
        db = work / "crm" / "crm.sqlite"
        db.parent.mkdir(parents=True, exist_ok=True)
        with sandbox_process(db, "realistic") as sb:
            provision(settings_for(sb, work / "provision"))
            env = migrate_env(sb, work)
            assert sb.proc is not None
            sandbox_raw, client_raw = work / "sandbox.raw", work / "client.raw"
            spy_sb = subprocess.Popen(
                [
                    pyspy,
                    "record",
                    "--pid",
                    str(sb.proc.pid),
                    "--format",
                    "raw",
                    "-o",
                    str(sandbox_raw),
                    "--rate",
                    "100",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            cmd = [sys.executable, "-m", "connector", "migrate", str(register), "--source-mapping", str(SOURCE_MAPPING)]
            t0 = time.perf_counter()
            done = subprocess.run(
                [
                    pyspy,
                    "record",
                    "--idle",
                    "--threads",
                    "--format",
                    "raw",
                    "-o",
                    str(client_raw),
                    "--rate",
                    "100",
                    "--",
                    *cmd,
                    "--json",
                ],
                env=env,
                cwd=work,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - t0
            spy_sb.send_signal(signal.SIGINT)
            spy_sb.wait(timeout=30)
        print(
            f"{args.cases:,} cases: foi-sync migrate exit code {done.returncode}, {wall:.1f} s wall (incl. py-spy start)"
        )
        try:
            summary = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"steps (s): {json.dumps(summary.get('steps'))}")
        except (ValueError, IndexError):
            summary = {}
        result = report(client_raw, sandbox_raw, wall)
        result["steps"] = summary.get("steps")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
    return 0 if done.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
