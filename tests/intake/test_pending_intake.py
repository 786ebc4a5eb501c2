"""A migration writes requesters while intake finishes (docs/sync.md): what ``begin_source`` hands over must
already be final, and ``finish()`` must still route, cross-reference, grade and triage those same cases."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from connector.config import IntakeSource
from connector.intake.arrivals import merge_arrivals
from connector.intake.normalize import SOURCE
from connector.intake.pipeline import begin_source
from connector.intake.sources import ROW
from connector.model import RelationKind

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_a_cases_reference_and_requester_are_final_before_routing_and_cross_reference(
    settings: Any, register_mapping: Path
) -> None:
    path = FIXTURES / "register-crossref.csv"
    source = IntakeSource(name="x", kind="csv", path=str(path), mapping=register_mapping)
    pending = begin_source(source, settings, today=date(2026, 3, 4))
    with path.open(encoding="utf-8", newline="") as fh:
        refs = [row["Ref"] for row in csv.DictReader(fh)]
    assert [c.reference for c in pending.cases] == refs  # every register row is a case, in order
    assert all(c.related == [] and c.grade is None for c in pending.cases)  # nothing cross-referenced or graded yet
    before = {c.reference: c.requester.model_dump() for c in pending.cases}

    result = pending.finish()
    assert result.cases is pending.cases  # the same objects, finished in place (the push holds them already)
    assert {c.reference: c.requester.model_dump() for c in result.cases} == before
    cases = {c.reference: c for c in result.cases}
    # The fixture's four WhatDoTheyKnow users sent the same text: a round robin, found by finish().
    rr = {r.reference for r in cases["X/001"].related if r.relation is RelationKind.ROUND_ROBIN}
    assert rr == {"X/002", "X/003", "X/004"}
    assert all(c.grade for c in result.cases)
    assert set(result.grades) == set(refs)


def _arrivals(*rows: tuple[str, str | None]) -> pd.DataFrame:
    """Rows of one requester and one text, from the given (source file, received at) pairs."""
    return pd.DataFrame(
        {
            SOURCE: [src for src, _ in rows],
            ROW: list(range(1, len(rows) + 1)),
            "received_at": [when for _, when in rows],
            "requester_name": ["Sam Example"] * len(rows),
            "requester_email": ["sam@example.org"] * len(rows),
            "subject": ["Bins"] * len(rows),
            "request_text": ["How many bins were collected in 2025?"] * len(rows),
            "source_id": [None] * len(rows),
        }
    )


def test_the_same_text_through_two_sources_within_half_an_hour_is_one_arrival() -> None:
    frame = _arrivals(
        ("mailbox-planning/2.eml", "2026-03-02T10:29:00Z"),  # listed first, arrived second
        ("mailbox-foi/1.eml", "2026-03-02T10:00:00Z"),
    )
    out, others = merge_arrivals(frame)
    assert out[SOURCE].tolist() == ["mailbox-foi/1.eml"]  # the earliest keeps the case
    assert others == {0: ["mailbox-planning/2.eml"]}


def test_arrivals_31_minutes_apart_or_without_a_time_stay_separate() -> None:
    apart = _arrivals(("mailbox-foi/1.eml", "2026-03-02T10:00:00Z"), ("mailbox-planning/2.eml", "2026-03-02T10:31:00Z"))
    assert len(merge_arrivals(apart)[0]) == 2
    untimed = _arrivals(("mailbox-foi/1.eml", None), ("mailbox-planning/2.eml", "2026-03-02T10:05:00Z"))
    out, others = merge_arrivals(untimed)
    assert len(out) == 2 and others == {}
