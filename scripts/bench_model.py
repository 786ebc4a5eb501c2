#!/usr/bin/env python3
"""Benchmark: training the learned models on synthetic closed cases (10,000 and 100,000 by default).

For each size it builds a history frame like the one `foi-sync model train` reads from the CRM (regime, service area,
channel, requester type, subject, request text, received and response dates; days to respond from a known rule plus
noise), then times, in this process:

* the time-to-respond model: held-back evaluation against the median-per-service-area baseline, then the refit on
  every case (what `model train` does), and the save and load of its JSON file;
* the routing model: held-back evaluation against the shipped routing rules, then the refit;
* prediction for 1,000 new requests with the loaded time model (what the grade costs a run).

It prints one line per step with seconds, the models' errors and the file sizes, and the peak resident memory.
Reading the history from the CRM is not timed here (it is the client's paging, 5,000 rows a request).

Usage: .venv/bin/python scripts/bench_model.py [--sizes 10000,100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.intake.classify import load_rules
from connector.learn.model_file import load_model, model_path, save_model
from connector.learn.routing_model import RoutingModelJson
from connector.learn.time_model import TimeModel
from connector.paths import MAPPINGS_DIR

AREAS = {
    "Highways and Transport": (8, ["pothole", "road", "pavement", "street lighting", "gritting", "traffic"]),
    "Planning": (14, ["planning application", "section 106", "enforcement notice", "conservation area"]),
    "Housing": (5, ["homelessness", "temporary accommodation", "housing register", "damp", "mould"]),
    "Finance and Procurement": (10, ["contracts", "invoices", "suppliers", "budget", "spending"]),
    "Waste and Recycling": (6, ["bins", "recycling", "fly-tipping", "garden waste", "missed collection"]),
    "Adult Social Care": (12, ["care homes", "care packages", "safeguarding", "home care", "direct payments"]),
}
CHANNELS = ["email", "web_form", "whatdotheyknow", "post"]
TYPES = ["member_of_public", "journalist", "campaign_group", "business"]
FILLER = ["please", "information", "council", "number", "year", "provide", "copy", "records", "total", "report"]


def history(n: int, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    first = date(2021, 1, 4)
    names = sorted(AREAS)
    rows = []
    for i in range(n):
        area = rng.choice(names)
        base, words = AREAS[area]
        questions = rng.randint(0, 6)
        asks = " ".join(f"How many {rng.choice(words)} cases in {2015 + q}?" for q in range(questions))
        text = asks + " " + " ".join(rng.choice(FILLER) for _ in range(rng.randint(10, 60)))
        days = max(1, base + 2 * questions + rng.randint(-3, 3))
        received = first + timedelta(days=(i * 1460) // n)
        rows.append(
            {
                "reference": f"FOI/{received.year}/{i:06d}",
                "regime": "eir" if "road" in text or "waste" in text else "foia",
                "service_area": area,
                "channel": rng.choice(CHANNELS),
                "requester_type": rng.choice(TYPES),
                "subject": f"Request about {rng.choice(words)}",
                "request_text": text,
                "assigned_team": area,
                "received_date": received,
                "responded_date": received + timedelta(days=days * 7 // 5),
                "days": float(days),
            }
        )
    return pd.DataFrame(rows)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rules = load_rules(MAPPINGS_DIR / "routing-rules.toml")
    print(f"{'cases':>8}  {'step':<44} {'seconds':>8}  detail")
    for n in [int(x) for x in args.sizes.split(",")]:
        frame = history(n, args.seed)
        t0 = time.perf_counter()
        tm = TimeModel.train(frame, held_back=0.2, min_cases=40)
        t_time = time.perf_counter() - t0
        m = tm.meta.metrics
        print(
            f"{n:>8}  {'time model: evaluate + refit on all':<44} {t_time:>8.2f}  "
            f"MAE {m['mae_model']:.2f} vs baseline {m['mae_baseline']:.2f} working days, usable={tm.meta.usable}"
        )
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            save_model(Path(tmp), tm.to_file())
            loaded = load_model(Path(tmp), "time_to_respond")
            assert loaded is not None
            again = TimeModel.from_file(loaded)
            t_io = time.perf_counter() - t0
            size = model_path(Path(tmp), "time_to_respond").stat().st_size
        print(f"{n:>8}  {'time model: save + load JSON file':<44} {t_io:>8.2f}  {size / 1024:.0f} KiB")
        new = history(1000, args.seed + 1)
        t0 = time.perf_counter()
        again.estimate(new)
        print(f"{n:>8}  {'time model: estimates for 1,000 requests':<44} {time.perf_counter() - t0:>8.3f}")
        t0 = time.perf_counter()
        rm = RoutingModelJson.train(frame, rules, min_per_class=5, held_back=0.2, min_cases=40)
        t_route = time.perf_counter() - t0
        r = rm.meta.metrics
        print(
            f"{n:>8}  {'routing model: evaluate vs rules + refit':<44} {t_route:>8.2f}  "
            f"rules {r['accuracy_rules']:.1%}, rules+model {r['accuracy_with_model']:.1%}, usable={rm.meta.usable}"
        )
        print(f"{n:>8}  {'peak resident memory so far':<44} {'':>8}  {peak_mib():.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
