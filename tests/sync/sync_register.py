"""Synthetic legacy FOI registers for the sync tests (made up: no real requester appears)."""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

SOURCE_MAPPING = """
[source]
description = "synthetic legacy register for the sync tests"
encoding = "auto"
header_row = 1
timezone = "Europe/London"
date_formats = ["%d/%m/%Y"]
source_system = "legacy-test"
regime_detection = "off"

[columns]
reference = "Ref No"
received_at = "Date Received"
regime = "Request Type"
channel = "Received Via"
requester_name = "Requester Name"
requester_email = "Email"
subject = "Subject"
request_text = "Request Details"
stage = "Status"
responded_at = "Date Responded"
outcome = "Outcome"
exemptions = "Exemptions Applied"

[values.regime]
"FOI" = "foia"
"EIR" = "eir"

[values.stage]
"Closed" = "closed"
"Open" = "in_progress"

[values.outcome]
"Full disclosure" = "granted_in_full"
"Part disclosure" = "partially_withheld"
"Not held" = "not_held"
"""

HEADER = [
    "Ref No",
    "Date Received",
    "Request Type",
    "Received Via",
    "Requester Name",
    "Email",
    "Subject",
    "Request Details",
    "Status",
    "Date Responded",
    "Outcome",
    "Exemptions Applied",
]
OUTCOMES = ["Full disclosure", "Part disclosure", "Not held"]
TOPICS = [
    "potholes repaired on the ring road",
    "agency staff spending in adult social care",
    "air quality monitoring near schools",
    "parking fines issued by civil enforcement officers",
    "planning appeals lost by the council",
    "bin collections missed in the north ward",
    "temporary accommodation costs for homeless families",
    "street lighting energy contracts",
]


def write_register(folder: Path, n: int, *, seed: int = 7, start: int = 1, regime: str = "FOI") -> tuple[Path, Path]:
    """-> (register.csv, source-mapping.toml): n closed historical cases with outcomes and response dates."""
    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    reg = folder / "legacy-register.csv"
    with reg.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(start, start + n):
            received = date(2023, 1, 2) + timedelta(days=rnd.randrange(0, 600))
            outcome = rnd.choice(OUTCOMES)
            w.writerow(
                [
                    f"FOI/2023/{i:05d}",
                    received.strftime("%d/%m/%Y"),
                    regime,
                    "email",
                    f"Requester {i % 97}",
                    f"requester{i % 97}@example.org",
                    f"Historic request {i}: {TOPICS[i % len(TOPICS)]}",
                    f"Please send me the figures on {TOPICS[(i * 3) % len(TOPICS)]} for {2015 + i % 9}.",
                    "Closed",
                    (received + timedelta(days=rnd.randrange(5, 25))).strftime("%d/%m/%Y"),
                    outcome,
                    "s40(2)" if outcome == "Part disclosure" else "",
                ]
            )
    sm = folder / "source-legacy.toml"
    sm.write_text(SOURCE_MAPPING, encoding="utf-8")
    return reg, sm
