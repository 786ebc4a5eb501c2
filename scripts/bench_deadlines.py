"""Benchmark: statutory due dates for 1,000,000 synthetic cases through DeadlineEngine.compute_frame.

Prints the time taken against the 5 s target from issue 5, plus a spot check that a sample of rows agrees with the
single-case engine. Run: ``python scripts/bench_deadlines.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import numpy as np
import pandas as pd

from connector.deadlines import ClockInput, DeadlineEngine
from connector.model import LONDON, Regime

TARGET_SECONDS = 5.0


def synthetic(rows: int, seed: int = 7) -> pd.DataFrame:
    """A register-like mix: mostly FOIA, some EIR/SAR/Scottish; 10% clarified, 3% fees, 8% extended."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2005-01-01T00:00:00", "s")
    seconds = rng.integers(0, 20 * 365 * 86400, rows)
    received = pd.to_datetime(start + seconds.astype("timedelta64[s]")).tz_localize("UTC")
    regime = rng.choice(["foia", "eir", "foisa", "eisr", "sar"], rows, p=[0.62, 0.15, 0.08, 0.03, 0.12])
    day = received.tz_convert(LONDON).tz_localize(None).to_numpy().astype("datetime64[D]")
    nat = np.datetime64("NaT", "D")
    clar = np.where(rng.random(rows) < 0.10, day + rng.integers(1, 30, rows), nat)
    fee = rng.random(rows) < 0.03
    notice = np.where(fee, day + rng.integers(1, 15, rows), nat)
    paid = np.where(fee & (rng.random(rows) < 0.8), notice + rng.integers(0, 40, rows), nat)
    ext_pick = rng.random(rows) < 0.08
    ext = np.where(
        ext_pick & (regime == "foia"),
        "pit",
        np.where(ext_pick & np.isin(regime, ["eir", "eisr"]), "eir", np.where(ext_pick & (regime == "sar"), "sar", "")),
    )
    return pd.DataFrame(
        {
            "regime": regime,
            "received_at": received,
            "clarification_received": clar.astype("datetime64[ns]"),
            "fee_notice": notice.astype("datetime64[ns]"),
            "fee_paid": paid.astype("datetime64[ns]"),
            "extension": pd.Series(ext).replace("", None),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    engine = DeadlineEngine()
    df = synthetic(args.rows)
    as_of = date(2026, 1, 1)
    engine.compute_frame(df.head(1000), as_of=as_of)  # warm the calendars (built once per process)

    t0 = time.perf_counter()
    out = engine.compute_frame(df, as_of=as_of)
    elapsed = time.perf_counter() - t0

    rng = np.random.default_rng(1)
    sample = rng.choice(len(df), size=min(2000, len(df)), replace=False)
    mismatches = 0
    for i in sample:
        row = df.iloc[i]

        def d(v: object) -> date | None:
            return None if pd.isna(v) else pd.Timestamp(v).date()

        ci = ClockInput(
            regime=Regime(row["regime"]),
            received=row["received_at"].tz_convert(LONDON).date(),
            clarification_received=d(row["clarification_received"]),
            fee_notice=d(row["fee_notice"]),
            fee_paid=d(row["fee_paid"]),
            extension=row["extension"] if isinstance(row["extension"], str) else None,
        )
        r = engine.compute_clock(ci, as_of=as_of)
        got = out.iloc[i]
        if (d(got["due"]), d(got["extended_due"])) != (r.due, r.extended_due):
            mismatches += 1

    rate = args.rows / elapsed
    verdict = "MET" if elapsed < TARGET_SECONDS else "MISSED"
    print(f"compute_frame: {args.rows:,} cases in {elapsed:.2f} s ({rate:,.0f} cases/s)")
    print(
        f"target: under {TARGET_SECONDS:.0f} s for 1,000,000 cases -> {verdict} (ratio {elapsed / TARGET_SECONDS:.2f})"
    )
    print(f"errors: {int(out['error'].notna().sum())} rows; extended: {int(out['extended_due'].notna().sum()):,}")
    print(f"single-case spot check: {len(sample) - mismatches}/{len(sample)} rows agree")


if __name__ == "__main__":
    main()
