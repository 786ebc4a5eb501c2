"""Triage of 48 hand-labelled requests through the real intake (CSV -> normalise -> triage)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import expected

from connector.errors import MappingError
from connector.intake import run_intake
from connector.intake.triage import load_triage_rules
from connector.model import NO_CLOCK_STAGES, Stage

STAGE_FOR = {"request": Stage.RECEIVED, "invalid": Stage.INVALID, "business_as_usual": Stage.REROUTED}


def test_every_fixture_request_is_triaged_as_hand_labelled(triage_settings: Any) -> None:
    want = expected()
    assert len(want) >= 40
    result = run_intake(triage_settings)
    assert result.rejects == []  # nothing dropped: invalid requests are cases too
    got = {c.reference: c for c in result.cases}
    assert set(got) == set(want)
    wrong = []
    for ref, row in want.items():
        c = got[ref]
        seen = (c.triage.value, c.regime.value, c.triage_reason or "", c.stage)
        exp = (row["ExpectTriage"], row["ExpectRegime"], row["ExpectReason"], STAGE_FOR[row["ExpectTriage"]])
        if seen != exp:
            wrong.append(f"{ref} ({row['Why']}): got {seen}, expected {exp}")
    assert wrong == []


def test_each_decision_is_explained_and_cites_its_law(triage_settings: Any) -> None:
    cases = {c.reference: c for c in run_intake(triage_settings).cases}
    for c in cases.values():
        assert c.triage_explanation, c.reference
    assert "FOIA s.8(1)(b)" in (cases["T-039"].triage_explanation or "")
    assert "FOISA s.8(1)(b)" in (cases["T-041"].triage_explanation or "")
    assert "pseudonym" in (cases["T-037"].triage_explanation or "")
    assert "subject access" in (cases["T-022"].triage_explanation or "")
    assert "EIR reg 5" in (cases["T-013"].triage_explanation or "")
    assert "Business as usual" in (cases["T-026"].triage_explanation or "")
    assert "recorded information" in (cases["T-008"].triage_explanation or "")


def test_no_clock_for_invalid_or_rerouted_and_rerouted_cases_go_to_the_service(triage_settings: Any) -> None:
    cases = {c.reference: c for c in run_intake(triage_settings).cases}
    for c in cases.values():
        assert (c.stage in NO_CLOCK_STAGES) == (c.triage.value != "request"), c.reference
    assert (cases["T-026"].service_area, cases["T-026"].assigned_team) == ("Waste and Recycling", "Waste Services")
    assert cases["T-028"].assigned_team == "Highways Maintenance"
    assert cases["T-044"].assigned_team == "Complaints and Correspondence"


def test_a_broken_triage_rules_file_names_the_file_the_key_and_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "triage-rules.toml"
    bad.write_text(
        'sar_as_foi = "maybe"\n\n[[business_as_usual]]\nname = "bins"\nservice_area = "Waste"\nreply = "Passed on."\n'
        "patterns = ['(unclosed']\n",
        encoding="utf-8",
    )
    with pytest.raises(MappingError) as info:
        load_triage_rules(bad)
    message = str(info.value)
    assert str(bad) in message and "sar_as_foi" in message and "true or false" in message
    assert "business_as_usual" in message and "not a valid regular expression" in message and "fix" in message
