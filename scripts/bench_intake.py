#!/usr/bin/env python3
"""Intake benchmark: normalising a 1,000,000-row CSV register (deadlines included) vs. pandas reading it.

    python3 scripts/bench_intake.py                 # 1,000,000 rows (about 2 minutes on 2 cores)
    python3 scripts/bench_intake.py --rows 200000   # quicker

One run prints: the bare ``pandas.read_csv`` time, the full intake normalisation time (header detection,
encoding, typed validation of every field, value maps, regime detection, time zones, references, duplicate
check, rejects, statutory deadlines via DeadlineEngine.compute_frame) and their ratio (target <= 4x); peak
resident memory of this process (target < 4 GB); then the cross-reference index over 100,000 requests (build
time, and per-request query time, target well under a second). The register is generated in a temporary
folder by a child process, so generation does not count towards memory.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "mappings" / "source-sample-register.toml"


def _sample_module():
    spec = importlib.util.spec_from_file_location("make_sample_data", ROOT / "scripts" / "make_sample_data.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """A register in the sample's layout (title block, header on line 4, UK dates), about 1% bad rows."""
    sm = _sample_module()
    rng = np.random.default_rng(seed)
    texts, subjects, depts, types = [], [], [], []
    for dept, regime, subject, text in sm.TOPICS:
        for y in (2021, 2022, 2023, 2024, 2025):
            more = sm.MORE.get(subject, [])
            for parts in ([text], [text, *more[:1]], more):
                texts.append(" ".join(parts).format(y=y, y1=y + 1, n=3))
                subjects.append(subject.format(y=y))
                depts.append(dept)
                types.append({"eir": "Env Info", "foia": "FOI"}[regime])
    texts_a, subjects_a = np.array(texts, dtype=object), np.array(subjects, dtype=object)
    # Real request texts are all different: add a sentence of random words so no two rows share a text.
    vocab = np.array(sorted({w.strip(".,?:;()'").lower() for t in texts for w in t.split()} - {""}), dtype=object)
    depts_a, types_a = np.array(depts, dtype=object), np.array(types, dtype=object)
    pick = rng.integers(0, len(texts_a), rows)
    first = np.array(sm.FIRST, dtype=object)[rng.integers(0, len(sm.FIRST), rows)]
    last = np.array(sm.LAST, dtype=object)[rng.integers(0, len(sm.LAST), rows)]
    names = first + " " + last
    emails = (
        np.char.lower((first + "." + last).astype(str)).astype(object)
        + rng.integers(1, 999, rows).astype(str).astype(object)
        + "@example.org"
    )
    day0 = np.datetime64("2016-01-01")
    days = day0 + rng.integers(0, 365 * 10 + 300, rows).astype("timedelta64[D]")
    received = pd.to_datetime(days) + pd.to_timedelta(rng.integers(8 * 60, 18 * 60, rows), unit="min")
    years = received.year.astype(str).to_numpy(object)
    refs = "FOI/" + years + "/" + pd.Series(np.arange(1, rows + 1)).astype(str).str.zfill(7).to_numpy(object)
    date_s = np.array(received.strftime("%d/%m/%Y"), dtype=object)
    time_s = np.array(received.strftime("%H:%M"), dtype=object)
    rtype = types_a[pick].copy()
    rtype[rng.random(rows) < 0.05] = ""
    bad = rng.random(rows)
    date_s[bad < 0.003] = "31/02/2024"
    names[(bad >= 0.003) & (bad < 0.006)] = ""
    emails[(bad >= 0.006) & (bad < 0.009)] = "not-an-address"
    rtype[(bad >= 0.009) & (bad < 0.01)] = "Misc"
    frame = pd.DataFrame(
        {
            "Ref No": refs,
            "Date Received": date_s,
            "Time Received": time_s,
            "Request Type": rtype,
            "Received Via": np.array(["Email", "Online form", "Letter", "WDTK"], dtype=object)[
                rng.integers(0, 4, rows)
            ],
            "Requester Name": names,
            "Email": emails,
            "Address": "",
            "Town": "",
            "Postcode": np.where(rng.random(rows) < 0.3, "EX1 2AB", ""),
            "Organisation": "",
            "Requester Type": "Public",
            "Subject": subjects_a[pick],
            "Request Details": texts_a[pick]
            + " Context: "
            + vocab[rng.integers(0, len(vocab), rows)]
            + " "
            + vocab[rng.integers(0, len(vocab), rows)]
            + " "
            + vocab[rng.integers(0, len(vocab), rows)]
            + " "
            + rng.integers(1, 10**6, rows).astype(str).astype(object)
            + ".",
            "Department": depts_a[pick],
            "Status": "Open",
            "Date Responded": "",
            "Outcome": "",
            "Exemptions Applied": "",
            "Officer": "",
        }
    )
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        fh.write("Example Borough Council - FOI / EIR / SAR request log\r\nExported by bench_intake.py\r\n\r\n")
        frame.to_csv(fh, index=False, lineterminator="\r\n")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--index-size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--repeat", type=int, default=2, help="time each of the two steps this many times and keep the fastest"
    )
    parser.add_argument("--generate-only", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--time-step", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--step-sizes",
        default="100000,300000,1000000",
        help="register sizes the whole intake step is timed at (default %(default)s; empty to skip)",
    )
    parser.add_argument("--step-timeout", type=float, default=1800.0, help="seconds allowed per size")
    args = parser.parse_args()
    if args.generate_only:
        generate(args.generate_only, args.rows)
        return
    if args.time_step:
        time_whole_step(args.time_step)
        return

    from connector.config import IntakeSource, load_settings
    from connector.deadlines import DeadlineEngine
    from connector.intake.crossref import CrossRefIndex, requester_key
    from connector.intake.normalize import iter_cases
    from connector.intake.pipeline import normalize_source

    with tempfile.TemporaryDirectory(prefix="foi-bench-") as tmp:
        path = Path(tmp) / "register.csv"
        t = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--generate-only", str(path)], check=True)
        size_mb = path.stat().st_size / 1e6
        print(f"generated {args.rows:,} rows ({size_mb:,.0f} MB) in {time.perf_counter() - t:.1f} s (not timed below)")
        with path.open("rb") as fh:  # warm the page cache so both timings read from memory
            while fh.read(1 << 24):
                pass

        settings = load_settings(None)
        engine = DeadlineEngine.from_settings(settings)  # calendars built once, outside both timings

        # The machine is shared: keep the fastest of --repeat runs of each step (alternating, same conditions).
        t_read = t_norm = float("inf")
        source = IntakeSource(name="bench", kind="csv", path=str(path), mapping=MAPPING)
        result = None
        for _ in range(max(1, args.repeat)):
            t = time.perf_counter()
            bare = pd.read_csv(path, skiprows=3)
            t_read = min(t_read, time.perf_counter() - t)
            assert len(bare) >= args.rows
            del bare, result
            gc.collect()
            t = time.perf_counter()
            result = normalize_source(source, settings, engine=engine)
            t_norm = min(t_norm, time.perf_counter() - t)
        print(f"pandas.read_csv alone:                      {t_read:7.2f} s")
        valid, rejected = len(result.frame), len(result.rejects)
        assert result.frame["due"].notna().all()
        print(f"intake normalisation incl. deadlines:       {t_norm:7.2f} s  ({valid:,} valid, {rejected:,} rejected)")
        print(f"ratio normalise / read_csv:                 {t_norm / t_read:7.2f} x   (target <= 4x)")
        print(f"peak resident memory (this process):        {peak_rss_mb():7.0f} MB (target < 4096 MB)")

        t = time.perf_counter()
        built = 0
        for _, _item in iter_cases(result.frame.head(20_000)):
            built += 1
        t_cases = time.perf_counter() - t
        print(f"FoiCase objects on demand (20,000 rows):    {t_cases:7.2f} s  ({built / t_cases:,.0f} cases/s)")

        history = result.frame.head(args.index_size).copy()
        history["requester_key"] = [
            requester_key(n, e) for n, e in zip(history["requester_name"], history["requester_email"], strict=True)
        ]
        del result
        gc.collect()
        t = time.perf_counter()
        index = CrossRefIndex(history, working_days=lambda r, s, e: engine.calendar(r).working_days_between(s, e))
        t_index = time.perf_counter() - t
        print(f"cross-reference index, {len(index):,} requests:  {t_index:7.2f} s to build")
        rng = np.random.default_rng(1)
        samples = history.iloc[rng.integers(0, len(history), args.queries)]
        times = []
        for _, row in samples.iterrows():
            t = time.perf_counter()
            index.related(
                f"{row['subject']}\n{row['request_text']}",
                row["requester_key"],
                row["received_at"],
                row["regime"],
                None,
            )
            times.append(time.perf_counter() - t)
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(
            f"cross-check one new request:                {statistics.median(times) * 1000:7.1f} ms median, "
            f"{p99 * 1000:.1f} ms p99, {max(times) * 1000:.1f} ms max ({args.queries} queries)"
        )
        print(f"peak resident memory (whole run):           {peak_rss_mb():7.0f} MB")
        print(f"cpu count: {os.cpu_count()}, pandas {pd.__version__}, numpy {np.__version__}")
    sizes = [int(x) for x in args.step_sizes.split(",") if x.strip()]
    if sizes:
        whole_step_table(sizes, args.step_timeout)


def time_whole_step(path: Path) -> None:
    """Child process: the whole intake step on one register (what ``foi-sync migrate`` runs before planning:
    normalisation with deadlines, classification, cross-referencing, grading); prints seconds and peak memory."""
    from connector.config import IntakeSource, load_settings
    from connector.intake.pipeline import read_source

    settings = load_settings(None)
    source = IntakeSource(name="register", kind="csv", path=str(path), mapping=MAPPING)
    t = time.perf_counter()
    result = read_source(source, settings, mapping_path=MAPPING)
    seconds = time.perf_counter() - t
    cases = len(result.cases)
    print(json.dumps({"seconds": seconds, "cases": cases, "peak_mb": peak_rss_mb()}))


def whole_step_table(sizes: list[int], timeout: float) -> None:
    """The whole intake step at each size, each in its own process, and how its time grows with size."""
    print("\nwhole intake step (normalise + deadlines + classification + cross-reference + grading), own process:")
    done: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory(prefix="foi-bench-step-") as tmp:
        for n in sizes:
            path = Path(tmp) / f"register-{n}.csv"
            subprocess.run([sys.executable, __file__, "--rows", str(n), "--generate-only", str(path)], check=True)
            try:
                out = subprocess.run(
                    [sys.executable, __file__, "--time-step", str(path)],
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    check=True,
                )
                r = json.loads(out.stdout.strip().splitlines()[-1])
            except subprocess.TimeoutExpired:
                print(f"  {n:>9,} rows: did not finish within {timeout:.0f} s")
                break
            except (subprocess.CalledProcessError, ValueError, IndexError) as exc:
                print(f"  {n:>9,} rows: failed ({exc})")
                break
            done.append((n, r["seconds"]))
            print(
                f"  {n:>9,} rows: {r['seconds']:8.1f} s = {r['seconds'] / n * 1000:6.3f} s per 1,000 rows, "
                f"peak memory {r['peak_mb']:,.0f} MB"
            )
            path.unlink()
    for (n0, t0), (n1, t1) in itertools.pairwise(done):
        print(f"  growth {n0:,} -> {n1:,} rows: x{n1 / n0:.1f} rows took x{t1 / t0:.2f} time (linear = x{n1 / n0:.1f})")


if __name__ == "__main__":
    main()
