"""The holiday override file: a CRM admin adds or removes a proclaimed day without a release."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from deadline_helpers import due

from connector.deadlines import DeadlineEngine, load_overrides
from connector.errors import MappingError
from connector.paths import MAPPINGS_DIR


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "holiday-overrides.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_file_is_valid_and_changes_nothing() -> None:
    shipped = load_overrides(MAPPINGS_DIR / "holiday-overrides.toml")
    assert shipped.add == [] and shipped.remove == []


def test_added_day_in_one_nation_moves_foia_everywhere_but_not_foisa(tmp_path: Path) -> None:
    # A new Northern Ireland-only bank holiday on Wed 15 Jan 2031 (hypothetical proclamation).
    path = write(
        tmp_path,
        """
[[add]]
date = 2031-01-15
applies_to = ["northern-ireland"]
name = "Test proclamation day"
reason = "Proclamation of 1 Jan 2031 (test)"
""",
    )
    plain, overridden = DeadlineEngine(), DeadlineEngine(overrides=path)
    # Received Fri 3 Jan 2031. Without the override: Jan 6-10 = 5; 13-17 = 10; 20-24 = 15; 27-31 = 20 -> Fri 31 Jan.
    # With 15 Jan off, one more working day: Mon 3 Feb 2031.
    assert due(plain, "foia", date(2031, 1, 3)).due == date(2031, 1, 31)
    r = due(overridden, "foia", date(2031, 1, 3))
    assert r.due == date(2031, 2, 3)
    assert "15 Jan 2031 Test proclamation day (Northern Ireland only)" in " ".join(r.explanation)
    assert due(overridden, "foisa", date(2031, 1, 3)).due == date(2031, 1, 31)  # Scotland unaffected
    assert not overridden.calendar("sar").holiday_name(date(2031, 1, 15))  # English council's SAR unaffected
    scot = DeadlineEngine(nation="northern-ireland", overrides=path)
    assert due(scot, "sar", date(2030, 12, 15)).due == date(2031, 1, 16)  # 15 Jan off in NI -> Thu 16 Jan


def test_removed_day_becomes_a_working_day(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[remove]]
date = 2022-09-19
applies_to = ["all"]
reason = "test: as if the State Funeral day had not been proclaimed"
""",
    )
    # Received Fri 16 Sep 2022: with 19 Sep a working day, day 20 is Fri 14 Oct (instead of Mon 17 Oct).
    assert due(DeadlineEngine(overrides=path), "foia", date(2022, 9, 16)).due == date(2022, 10, 14)
    assert due(DeadlineEngine(), "foia", date(2022, 9, 16)).due == date(2022, 10, 17)


def test_statutory_days_survive_a_removal(tmp_path: Path) -> None:
    path = write(tmp_path, '[[remove]]\ndate = 2026-04-03\napplies_to = ["all"]\nreason = "test"\n')
    # Good Friday is named in FOIA s.10(6): still non-working for FOIA whatever the bank-holiday lists say.
    assert not DeadlineEngine(overrides=path).calendar("foia").is_working_day(date(2026, 4, 3))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[add]]\ndate = 2031-01-15\napplies_to = ["cornwall"]\nreason = "x"\n',
            r"\[\[add\]\] entry 1: 'applies_to.0'",
        ),
        ('[[add]]\ndate = 2031-01-15\napplies_to = ["wales"]\n', r"\[\[add\]\] entry 1: 'reason': required"),
        ('[[add]]\ndate = "15/01/2031"\napplies_to = ["wales"]\nreason = "x"\n', r"'date'.*without quotes"),
        ('[[add]]\ndate = 2031-01-15\napplies_to = ["wales"]\nreason = "x"\nnation = "x"\n', "unknown key"),
        ('[[remove]]\ndate = 2031-12-25\napplies_to = ["all"]\nreason = "x"\n', "Christmas Day is named"),
        ("[[add]\n", "not valid TOML"),
    ],
)
def test_errors_name_the_file_and_the_entry(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(MappingError, match=expected) as info:
        load_overrides(path)
    assert str(path) in str(info.value)


def test_missing_file_means_no_overrides(tmp_path: Path) -> None:
    assert load_overrides(tmp_path / "absent.toml").add == []
