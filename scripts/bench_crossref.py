"""Cross-checking new requests against 100,000 requests the CRM holds (connector/intake/history.py).

Builds a synthetic CRM history (realistic council request texts from scripts/make_sample_data.py's topics, with
varied years, places and numbers; 30,000 requesters, some of them frequent; 80% answered) in the persisted index,
then prints, from one run:

- per-request cross-check time against the whole history (median and p95 over the new requests, ms);
- loading the index from disk at the start of a run (no text re-vectorised);
- incremental update (a pull page of changed cases upserted) against a full rebuild of the index, and against the
  old way (fitting a TF-IDF index over every request on every run).

    .venv/bin/python scripts/bench_crossref.py [--history 100000] [--queries 1000] [--changed 1000]

Loopback only; nothing leaves the machine. No figure here is asserted by a test (ratios within one run).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from make_sample_data import TOPICS  # noqa: E402

from connector.intake.crossref import CrossRefIndex, requester_key  # noqa: E402
from connector.intake.history import CrmHistory, HistoryRow  # noqa: E402

PLACES = ["Mill Lane", "the High Street", "Northgate", "Riverside ward", "Eastfield", "the town centre", "Oakwood"]
ASKS = ["Please provide", "Could you tell me", "I would like to know", "Under the FOI Act, please send", "Please"]


class _Fill(dict[str, object]):
    """The topics' placeholders ({y}, {n}, ...); any other becomes a number."""

    def __missing__(self, key: str) -> object:
        return 3


def synthetic(n: int, rng: random.Random, start: pd.Timestamp, days: int) -> list[HistoryRow]:
    rows = []
    frequent = [requester_key(f"Frequent {i}", f"frequent{i}@example.org") for i in range(300)]
    for i in range(n):
        _dept, regime, subject, text = rng.choice(TOPICS)
        year = rng.choice([2019, 2020, 2021, 2022, 2023, 2024])
        body = text.format_map(_Fill(y=year, y1=year + 1, n=rng.randint(2, 12), k=rng.randint(1, 9)))
        body = f"{rng.choice(ASKS)} {body[0].lower()}{body[1:]} In particular for {rng.choice(PLACES)}, {rng.randint(1, 50)} items."
        who = (
            rng.choice(frequent) if rng.random() < 0.2 else requester_key(f"P {i % 30000}", f"p{i % 30000}@example.org")
        )
        received = start + pd.Timedelta(minutes=rng.randint(0, days * 24 * 60))
        answered = rng.random() < 0.8
        rows.append(
            HistoryRow(
                crm_id=f"00000000-0000-4000-8000-{i:012d}",
                reference=f"FOI/H/{i:06d}",
                text=f"{subject}\n{body}",
                received_at=received,
                regime=regime,
                answered=answered,
                answered_at=received + pd.Timedelta(days=rng.randint(5, 30)) if answered else None,
                requester=who,
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--history", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--changed", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=14)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    rows = synthetic(args.history, rng, start, 700)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "foi-sync-crossref.sqlite"
        t = time.perf_counter()
        with CrmHistory(path) as h:
            for i in range(0, len(rows), 5000):  # as the pull feeds it: a page at a time
                h.upsert(rows[i : i + 5000])
        full = time.perf_counter() - t

        with CrmHistory(path) as h:
            t = time.perf_counter()
            h.load()
            load = time.perf_counter() - t
            queries = synthetic(args.queries, random.Random(args.seed + 1), start + pd.Timedelta(days=700), 20)
            # Half the new requests come from requesters with history (the case that costs most).
            keys = [r.requester if i % 2 else rows[rng.randrange(len(rows))].requester for i, r in enumerate(queries)]
            times, linked, repeats = [], 0, 0
            for q, key in zip(queries, keys, strict=True):
                t = time.perf_counter()
                found = h.related(q.text, str(key), q.received_at, q.regime)
                times.append((time.perf_counter() - t) * 1000)
                linked += bool(found)
                repeats += any(r.relation.value == "repeat" for r in found)

            changed = [
                HistoryRow(**{**r.__dict__, "answered": True, "answered_at": r.received_at + pd.Timedelta(days=9)})
                for r in rng.sample(rows, args.changed)
            ]
            t = time.perf_counter()
            h.upsert(changed)
            incremental = time.perf_counter() - t
            t = time.perf_counter()
            h.load()
            reload = time.perf_counter() - t
            size = path.stat().st_size

    frame = pd.DataFrame(
        {
            "reference": [r.reference for r in rows],
            "subject": [r.text.split("\n", 1)[0] for r in rows],
            "request_text": [r.text.split("\n", 1)[1] for r in rows],
            "received_at": [r.received_at for r in rows],
            "regime": [r.regime for r in rows],
            "requester_key": [r.requester for r in rows],
        }
    )
    t = time.perf_counter()
    CrossRefIndex(frame)
    refit = time.perf_counter() - t

    times.sort()
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    print(f"cross-reference against {args.history:,} CRM-held requests ({size / 1e6:.1f} MB index on disk)")
    print(
        f"  per-request cross-check: median {statistics.median(times):.2f} ms, p95 {p95:.2f} ms, "
        f"max {times[-1]:.2f} ms over {len(times):,} new requests ({linked} linked, {repeats} repeats)"
    )
    print(f"  load the index at the start of a run: {load:.2f} s (after the update: {reload:.2f} s)")
    print(
        f"  incremental update of {args.changed:,} changed cases: {incremental:.3f} s; full rebuild of "
        f"{args.history:,}: {full:.2f} s ({full / incremental:.0f}x); TF-IDF refit over all (the old per-run way): "
        f"{refit:.2f} s ({refit / incremental:.0f}x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
