"""Working-day calendars: which days count, per statute, checked against GOV.UK's published list."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from connector.deadlines import OutOfRangeError, nation_calendar, scotland_calendar, uk_calendar
from connector.deadlines.calendar import NATION_SUBDIV

DATA = Path(__file__).parent / "data" / "govuk-bank-holidays.json"


@pytest.fixture(scope="module")
def uk():
    return uk_calendar(None)


@pytest.fixture(scope="module")
def scot():
    return scotland_calendar(None)


# Days that are non-working for FOIA/EIR anywhere in the UK because ONE nation has them (FOIA s.10(6), ICO LTT47).
UNION_ONLY_DAYS = [
    date(2025, 1, 2),  # 2 January, Scotland
    date(2023, 1, 3),  # 2 January substitute (2 Jan 2023 was the New Year's Day substitute), Scotland
    date(2024, 8, 5),  # first Monday in August, Scotland
    date(2023, 11, 30),  # St Andrew's Day (Thu), Scotland
    date(2025, 12, 1),  # St Andrew's Day substitute (30 Nov 2025 is a Sunday), Scotland
    date(2022, 3, 17),  # St Patrick's Day, Northern Ireland
    date(2022, 7, 12),  # Battle of the Boyne, Northern Ireland
    date(2009, 3, 17),  # St Patrick's Day 2009 (Alaveteli's due-date tests depend on it)
]

ONE_OFF_DAYS = [
    date(2022, 6, 2),  # Spring bank holiday moved for the Platinum Jubilee
    date(2022, 6, 3),  # Platinum Jubilee
    date(2022, 9, 19),  # State Funeral of Queen Elizabeth II
    date(2023, 5, 8),  # Coronation of King Charles III
    date(2011, 4, 29),  # Royal Wedding
    date(2012, 6, 5),  # Diamond Jubilee
    date(2002, 6, 3),  # Golden Jubilee
]


@pytest.mark.parametrize("d", UNION_ONLY_DAYS + ONE_OFF_DAYS)
def test_uk_union_excludes_every_nations_bank_holidays(uk, d: date) -> None:
    assert not uk.is_working_day(d)


def test_moved_spring_bank_holiday_2022_is_a_working_day(uk) -> None:
    # The last Monday in May 2022 (30 May) was NOT a bank holiday: it moved to Thu 2 June by proclamation.
    assert uk.is_working_day(date(2022, 5, 30))


def test_christmas_and_good_friday_named_in_statute(uk, scot) -> None:
    for year in (2000, 2020, 2024, 2100):
        assert not uk.is_working_day(date(year, 12, 25)) or date(year, 12, 25).weekday() >= 5
    assert not uk.is_working_day(date(2024, 3, 29))  # Good Friday
    assert not scot.is_working_day(date(2024, 3, 29))  # Good Friday is a Scottish bank holiday (1971 Act Sch 1)


def test_scotland_counts_only_scottish_days(scot) -> None:
    assert scot.is_working_day(date(2024, 4, 1))  # Easter Monday: not a Scottish bank holiday
    assert scot.is_working_day(date(2024, 8, 26))  # late August Monday: England, Wales, NI only
    assert scot.is_working_day(date(2022, 3, 17))  # St Patrick's Day: NI only
    assert scot.is_working_day(date(2022, 7, 12))  # 12 July: NI only
    assert not scot.is_working_day(date(2024, 1, 2))  # 2 January
    assert not scot.is_working_day(date(2024, 8, 5))  # first Monday in August
    assert not scot.is_working_day(date(2022, 11, 30))  # St Andrew's Day (Wed)
    assert not scot.is_working_day(date(2019, 12, 2))  # St Andrew's Day substitute (30 Nov 2019 a Saturday)
    assert scot.is_working_day(date(2004, 11, 30))  # before the St Andrew's Day Bank Holiday (Scotland) Act 2007


def test_nation_calendars_for_subject_access() -> None:
    eng, ni = nation_calendar("england"), nation_calendar("northern-ireland")
    assert eng.is_working_day(date(2022, 7, 12)) and not ni.is_working_day(date(2022, 7, 12))
    assert eng.is_working_day(date(2025, 1, 2)) and not nation_calendar("scotland").is_working_day(date(2025, 1, 2))
    assert not nation_calendar("wales").is_working_day(date(2024, 4, 1))  # Easter Monday in Wales
    with pytest.raises(ValueError, match="unknown nation"):
        nation_calendar("cornwall")


def test_add_and_count_working_days_christmas_span(uk) -> None:
    # Fri 23 Dec 2022 -> day 1 is Wed 28 Dec (26 Boxing Day, 27 Christmas Day substitute).
    assert uk.add_working_days(date(2022, 12, 23), 1) == date(2022, 12, 28)
    # Sat 24 Dec counts the same: the weekend day is day 0.
    assert uk.add_working_days(date(2022, 12, 24), 1) == date(2022, 12, 28)
    # Wed 28, Thu 29, Fri 30 Dec, (Mon 2 Jan E&W/NI, Tue 3 Jan Scotland skipped), Wed 4 Jan = 4
    assert uk.add_working_days(date(2022, 12, 23), 4) == date(2023, 1, 4)
    assert uk.working_days_between(date(2022, 12, 23), date(2023, 1, 4)) == 4
    assert uk.working_days_between(date(2023, 1, 4), date(2022, 12, 23)) == -4
    assert uk.add_working_days(date(2023, 1, 4), -4) == date(2022, 12, 23)
    assert uk.add_working_days(date(2022, 12, 24), 0) == date(2022, 12, 24)
    names = dict(uk.holidays_between(date(2022, 12, 23), date(2023, 1, 4)))
    assert names[date(2022, 12, 27)] == "Christmas Day (substitute)"
    assert "Scotland only" in names[date(2023, 1, 3)]


def test_leap_years(uk) -> None:
    assert uk.is_working_day(date(2024, 2, 29))
    # Thu 29 Feb 2024 is day 18 after Mon 5 Feb: 6-9 (4), 12-16 (9), 19-23 (14), 26-29 (18)
    assert uk.working_days_between(date(2024, 2, 5), date(2024, 2, 29)) == 18
    assert uk.add_working_days(date(2000, 2, 28), 1) == date(2000, 2, 29)  # 2000 was a leap year (div by 400)
    assert uk.add_working_days(date(2100, 2, 26), 1) == date(2100, 3, 1)  # 2100 is not


def test_scalar_counting_matches_numpy_over_a_century(uk, scot) -> None:
    """The pure-Python scalar methods and numpy's busday functions are independent; they must agree."""
    rng = np.random.default_rng(5)
    starts = date(2000, 1, 1) + np.array([timedelta(days=int(x)) for x in rng.integers(0, 36500, 400)])
    for cal in (uk, scot, nation_calendar("northern-ireland")):
        for s, n in zip(starts, rng.integers(0, 80, 400), strict=True):
            got = cal.add_working_days(s, int(n))
            want = np.busday_offset(np.datetime64(s, "D"), int(n), roll="backward", busdaycal=cal.busdaycal)
            assert got == (s if n == 0 else want.astype(date)), (cal.name, s, n)
            end = s + timedelta(days=int(n) * 2)
            assert cal.working_days_between(s, end) == int(
                np.busday_count(
                    np.datetime64(s + timedelta(days=1)),
                    np.datetime64(end + timedelta(days=1)),
                    busdaycal=cal.busdaycal,
                )
            )


def test_out_of_range_dates_are_refused(uk) -> None:
    with pytest.raises(OutOfRangeError, match="outside"):
        uk.is_working_day(date(1850, 1, 1))


# ---------------------------------------------------------------------------------------------- GOV.UK


GOVUK_DIVISION = {"england": "england-and-wales", "wales": "england-and-wales", "scotland": "scotland",
                  "northern-ireland": "northern-ireland"}  # fmt: skip

#: Differences we know about and accept: the `holidays` package has a Scottish one-off day that the GOV.UK cache
#: shipped with govuk-bank-holidays 0.19 does not (foi-rules.md section 3: UNCONFIRMED against GOV.UK).
KNOWN_EXTRA = {("scotland", date(2026, 6, 15))}


@pytest.mark.parametrize("nation", list(NATION_SUBDIV))
def test_nation_calendars_match_govuk_2012_2028(nation: str) -> None:
    govuk = json.loads(DATA.read_text(encoding="utf-8"))
    theirs = {date.fromisoformat(d) for d, _ in govuk[GOVUK_DIVISION[nation]]}
    theirs = {d for d in theirs if d.weekday() < 5}
    cal = nation_calendar(nation)
    ours = {d for d, _ in cal.holidays_between(date(2011, 12, 31), date(2028, 12, 31))}
    assert theirs - ours == set()
    assert {(nation, d) for d in ours - theirs} <= KNOWN_EXTRA


def test_uk_union_matches_govuk_union_2012_2028(uk) -> None:
    govuk = json.loads(DATA.read_text(encoding="utf-8"))
    theirs = {date.fromisoformat(d) for div in govuk.values() for d, _ in div}
    theirs = {d for d in theirs if d.weekday() < 5}
    ours = {d for d, _ in uk.holidays_between(date(2011, 12, 31), date(2028, 12, 31))}
    assert theirs - ours == set()
    assert ours - theirs <= {d for _, d in KNOWN_EXTRA}
