"""Benchmark: a report over 100,000 synthetic cases (store -> frame -> measures -> xlsx + html + csv).

    python3 scripts/bench_report.py [--cases 100000] [--keep DIR]

Prints the seconds for each step and the total; the target is under 10 s. The synthetic mix (regimes, outcomes,
share answered in time) loosely follows the 2017 council figures in mySociety's "Freedom of Information in Local
Government" research (CC BY 4.0), not any real council.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from connector.deadlines import DeadlineEngine
from connector.reporting import ReportingStore, compute_measures, write_tables
from connector.reporting.store import CASE_COLUMNS

TEAMS = [f"Team {c}" for c in "ABCDEFGHIJKL"]
AREAS = ["Highways", "Planning", "Housing", "Finance", "Adult Social Care", "Children's Services", "Waste", "HR"]
CODES = ["s40(2)", "s43", "s31", "s21", "s42", "s36", "s38", "reg12(4)(b)", "reg13", "reg12(5)(e)", "s22", "s41"]


def synthetic(n: int, seed: int = 9, today: date = date(2025, 12, 1)) -> pd.DataFrame:
    """Three years of cases with realistic proportions; due dates from the deadlines engine's calendar."""
    rng = np.random.default_rng(seed)
    engine = DeadlineEngine()
    cal = engine.calendar("foia")
    received = pd.Timestamp("2023-01-02") + pd.to_timedelta(rng.integers(0, 1060, n), unit="D")
    regime = rng.choice(["foia", "eir", "sar"], n, p=[0.8, 0.12, 0.08])
    rec = received.to_numpy().astype("datetime64[D]")
    due = np.busday_offset(rec, 20, roll="forward", busdaycal=cal.busdaycal)
    took = rng.gamma(3.2, 3.8, n).astype(int) + 1  # about 88% within 20 working days
    responded = np.busday_offset(rec, np.minimum(took, 400), roll="forward", busdaycal=cal.busdaycal)
    open_ = responded >= np.datetime64(today)
    ext = np.where((regime == "foia") & (rng.random(n) < 0.04), "pit", None)
    ext_due = np.where(
        ext == "pit", np.busday_offset(rec, 40, roll="forward", busdaycal=cal.busdaycal), np.datetime64("NaT")
    )
    outcome = rng.choice(
        [
            "granted_in_full",
            "partially_withheld",
            "withheld_in_full",
            "not_held",
            "refused_cost",
            "vexatious",
            "repeated",
            "advice_and_assistance",
        ],
        n,
        p=[0.48, 0.2, 0.08, 0.14, 0.05, 0.01, 0.01, 0.03],
    )
    has_codes = np.isin(outcome, ["partially_withheld", "withheld_in_full"])
    codes = np.where(
        has_codes, [";".join(rng.choice(CODES, rng.integers(1, 3), replace=False)) for _ in range(n)], None
    )
    stage = np.where(
        open_, rng.choice(["in_progress", "acknowledged", "clarification_requested"], n, p=[0.7, 0.25, 0.05]), "closed"
    )
    stage = np.where(~open_ & (rng.random(n) < 0.02), "withdrawn_or_lapsed", stage)
    review = ~open_ & (rng.random(n) < 0.04)
    review_req = np.where(review, responded + 10, np.datetime64("NaT"))
    review_done = np.where(review, responded + 10 + rng.integers(5, 60, n), np.datetime64("NaT"))
    df = pd.DataFrame(
        {
            "crm_id": [f"{i:08x}-0000-4000-8000-000000000000" for i in range(n)],
            "reference": [f"FOI/{d.year}/{i:06d}" for i, d in zip(range(n), received, strict=True)],
            "regime": regime,
            "channel": rng.choice(
                ["email", "web_form", "post", "whatdotheyknow", "phone"], n, p=[0.55, 0.25, 0.05, 0.13, 0.02]
            ),
            "requester_type": rng.choice(
                ["member_of_public", "journalist", "business", "campaign_group", "researcher"], n
            ),
            "service_area": rng.choice(AREAS, n),
            "assigned_team": rng.choice(TEAMS, n),
            "stage": stage,
            "outcome": np.where(open_, None, outcome),
            "exemptions": np.where(open_, None, codes),
            "received_date": rec.astype(str),
            "responded_date": np.where(open_, None, responded.astype(str)),
            "due_date": due.astype(str),
            "extended_due_date": np.where(ext == "pit", ext_due.astype(str), None),
            "extension": ext,
            "review_requested_date": np.where(review, review_req.astype(str), None),
            "review_completed_date": np.where(review, review_done.astype(str), None),
            "review_outcome": np.where(review, rng.choice(["upheld", "upheld_in_part", "overturned"], n), None),
        }
    )
    for col in CASE_COLUMNS:
        if col not in df.columns:
            df[col] = None
    return df[CASE_COLUMNS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, default=None, help="write the outputs here instead of a temp folder")
    args = parser.parse_args()

    df = synthetic(args.cases)
    folder = Path(tempfile.mkdtemp(prefix="foi-bench-")) if args.keep is None else args.keep
    engine = DeadlineEngine()
    steps: dict[str, float] = {}
    t0 = time.perf_counter()
    rows = df.astype(object).where(df.notna(), None).to_dict("records")
    with ReportingStore(folder / "reporting.sqlite") as store:
        store.clear()
        store.upsert(rows)
        t1 = time.perf_counter()
        steps["store upsert"] = t1 - t0
        frame = store.frame()
    t2 = time.perf_counter()
    steps["store -> frame"] = t2 - t1
    tables = compute_measures(frame, "2025", today=date(2025, 12, 1), engine=engine)
    t3 = time.perf_counter()
    steps["measures"] = t3 - t2
    for fmt in ("xlsx", "html", "csv"):
        s = time.perf_counter()
        write_tables(tables, [fmt], folder, "2025", "Benchmark Council")
        steps[fmt] = time.perf_counter() - s
    total = time.perf_counter() - t1
    print(
        f"cases: {len(frame):,}   in period 2025: {int(tables['quarterly_trend']['Total requests received'].sum()):,}"
        f"   overdue now: {len(tables['overdue']):,}"
    )
    for name, secs in steps.items():
        print(f"  {name:<16} {secs:6.2f} s")
    print(
        f"report from the store (frame + measures + xlsx + html + csv): {total:.2f} s (target < 10 s; "
        f"ratio {total / 10:.2f} of budget)"
    )
    print(f"outputs in {folder}")


if __name__ == "__main__":
    main()
