"""Statutory working-day calendars: which days count when the law says "working day".

* FOIA s.10(6) (and EIR, which follows it): not a Saturday, Sunday, Christmas Day, Good Friday "or a day which is a
  bank holiday under the Banking and Financial Dealings Act 1971 in any part of the United Kingdom" -> the union of
  the England and Wales, Scotland and Northern Ireland lists, even for an English council (ICO LTT47).
* FOISA s.73 (and EISR): Saturday, Sunday, Christmas Day and bank holidays "in Scotland" only.
* Subject access: the ICO says "public holiday" without naming a nation; we use the authority's own nation.

Holidays come from the `holidays` package (subdivisions ENG, WLS, SCT, NIR, including substitute and one-off days),
plus the override file in ``mappings/`` for proclamations made after the package was released. The non-working
weekdays of 1990..2110 are precomputed into a sorted numpy array so the vectorized engine can use numpy's
``busday_offset``/``busday_count``; the scalar methods here are written independently (pure Python) so the two
paths check each other.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from pathlib import Path

import holidays as holidays_lib
import numpy as np
from dateutil.easter import easter

from connector.deadlines.overrides import HolidayOverrides, load_overrides

#: Years precomputed; inputs must fall in SUPPORTED_YEARS (the margin lets a 2100 request run into 2101).
BUILT_YEARS = range(1990, 2111)
SUPPORTED_YEARS = range(2000, 2101)

NATION_SUBDIV = {"england": "ENG", "wales": "WLS", "scotland": "SCT", "northern-ireland": "NIR"}
NATION_LABEL = {
    "england": "England",
    "wales": "Wales",
    "scotland": "Scotland",
    "northern-ireland": "Northern Ireland",
}


class OutOfRangeError(ValueError):
    """A date outside the years the calendars cover."""


def _nice(name: str) -> str:
    return name.replace("(observed)", "(substitute)").replace("Saint ", "St ")


def fmt(d: date) -> str:
    """'Sat 24 Dec 2022': the form officers read in letters and explanations."""
    return f"{d:%a} {d.day} {d:%b %Y}"


class WorkingCalendar:
    """One statutory calendar: weekends plus a set of non-working weekdays with names for explanations."""

    def __init__(self, name: str, non_working: Mapping[date, str], description: str = "") -> None:
        self.name = name
        self.description = description
        self.first = date(BUILT_YEARS.start, 1, 1)
        self.last = date(BUILT_YEARS.stop - 1, 12, 31)
        #: Weekday holidays only (weekend holidays change nothing), with their names.
        self.names: dict[date, str] = {d: n for d, n in non_working.items() if d.weekday() < 5}
        self._sorted: list[date] = sorted(self.names)
        self._set = frozenset(self._sorted)
        #: For numpy: sorted datetime64[D] array and a reusable busdaycalendar.
        self.holidays_array = np.array(self._sorted, dtype="datetime64[D]")
        self.busdaycal = np.busdaycalendar(weekmask="1111100", holidays=self.holidays_array)

    def __repr__(self) -> str:
        return (
            f"WorkingCalendar({self.name!r}, {len(self._sorted)} weekday holidays {self.first.year}-{self.last.year})"
        )

    def _check(self, d: date) -> None:
        if not (self.first <= d <= self.last):
            raise OutOfRangeError(
                f"date {d.isoformat()} is outside the calendar ({SUPPORTED_YEARS.start}-{SUPPORTED_YEARS.stop - 1} "
                "supported); check the year"
            )

    def is_working_day(self, d: date) -> bool:
        self._check(d)
        return d.weekday() < 5 and d not in self._set

    def holiday_name(self, d: date) -> str | None:
        """Name of a weekday holiday, or None (weekends and working days)."""
        return self.names.get(d)

    def add_working_days(self, d: date, n: int) -> date:
        """The n-th working day after d (d itself never counts, so d may be a non-working day); n=0 returns d."""
        self._check(d)
        step = 1 if n >= 0 else -1
        remaining = abs(n)
        cur = d
        while remaining:
            cur += timedelta(days=step)
            if cur.weekday() < 5 and cur not in self._set:
                remaining -= 1
        self._check(cur)
        return cur

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after d."""
        return self.add_working_days(d, 1)

    def roll_forward(self, d: date) -> date:
        """d itself if it is a working day, else the next working day."""
        return d if self.is_working_day(d) else self.next_working_day(d)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after start up to and including end (negative when end is before start)."""
        self._check(start)
        self._check(end)
        if end < start:
            return -self.working_days_between(end, start)
        weekdays = _weekdays_upto(end) - _weekdays_upto(start)
        lo = bisect.bisect_right(self._sorted, start)
        hi = bisect.bisect_right(self._sorted, end)
        return weekdays - (hi - lo)

    def holidays_between(self, start: date, end: date) -> list[tuple[date, str]]:
        """Weekday holidays after start up to and including end, with names (for explanations)."""
        lo = bisect.bisect_right(self._sorted, start)
        hi = bisect.bisect_right(self._sorted, end)
        return [(d, self.names[d]) for d in self._sorted[lo:hi]]


def _weekdays_upto(d: date) -> int:
    """Number of Mon-Fri days from a fixed Monday epoch up to and including d (closed form, no loop)."""
    days = (d - date(1900, 1, 1)).days + 1  # 1900-01-01 was a Monday
    full, rest = divmod(days, 7)
    return full * 5 + min(rest, 5)


@functools.lru_cache(maxsize=8)
def _package_list(nation: str) -> dict[date, str]:
    """One nation's bank holidays from the `holidays` package, 1990-2110 (built once per process)."""
    raw = holidays_lib.country_holidays("GB", subdiv=NATION_SUBDIV[nation], years=BUILT_YEARS)
    return {d: _nice(n) for d, n in raw.items()}


def _nation_lists(overrides: HolidayOverrides, nations: Iterable[str]) -> dict[str, dict[date, str]]:
    out: dict[str, dict[date, str]] = {}
    for nation in nations:
        lst = dict(_package_list(nation))
        added, removed = overrides.for_nation(nation)
        for d in removed:
            lst.pop(d, None)
        for d, n in added.items():
            lst[d] = n
        out[nation] = lst
    return out


def _statutory_days(good_friday: bool) -> dict[date, str]:
    """Christmas Day (and Good Friday), named in FOIA s.10(6) itself: added whatever the bank-holiday lists say."""
    out: dict[date, str] = {}
    for year in BUILT_YEARS:
        out[date(year, 12, 25)] = "Christmas Day"
        if good_friday:
            out[easter(year) - timedelta(days=2)] = "Good Friday"
    return out


def _union(lists: dict[str, dict[date, str]]) -> dict[date, str]:
    """Union of nation lists; a day that is not UK-wide gets its nations in brackets, e.g. '(Northern Ireland)'."""
    by_date: dict[date, dict[str, str]] = {}
    for nation, lst in lists.items():
        for d, n in lst.items():
            by_date.setdefault(d, {})[nation] = n
    out = {}
    for d, per in by_date.items():
        first = next(iter(per.values()))
        if len(per) == len(lists):
            out[d] = per.get("england", first)
        else:
            out[d] = f"{first} ({', '.join(NATION_LABEL[n] for n in per)} only)"
    return out


def _overrides_key(path: Path | None) -> tuple[str, float]:
    if path is None:
        return ("", 0.0)
    p = Path(path)
    return (str(p.resolve()), p.stat().st_mtime if p.is_file() else 0.0)


@functools.lru_cache(maxsize=32)
def _build(kind: str, nation: str, key: tuple[str, float]) -> WorkingCalendar:
    overrides = load_overrides(Path(key[0])) if key[0] else HolidayOverrides()
    if kind == "uk":
        lists = _nation_lists(overrides, NATION_SUBDIV)
        days = _union(lists)
        days.update({d: n for d, n in _statutory_days(good_friday=True).items() if d not in days})
        return WorkingCalendar(
            "uk",
            days,
            "weekends, Christmas Day, Good Friday and bank holidays in any part of the UK (FOIA s.10(6), EIR reg 2(1))",
        )
    if kind == "scotland":
        lists = _nation_lists(overrides, ["scotland"])
        days = dict(lists["scotland"])
        days.update({d: n for d, n in _statutory_days(good_friday=False).items() if d not in days})
        return WorkingCalendar(
            "scotland", days, "weekends, Christmas Day and bank holidays in Scotland only (FOISA s.73)"
        )
    lists = _nation_lists(overrides, [nation])
    days = dict(lists[nation])
    days.update({d: n for d, n in _statutory_days(good_friday=True).items() if d not in days})
    return WorkingCalendar(
        nation, days, f"weekends and public holidays in {NATION_LABEL[nation]} (the authority's own nation)"
    )


def uk_calendar(overrides: Path | None = None) -> WorkingCalendar:
    """FOIA/EIR: the union of every UK nation's bank holidays, plus Christmas Day and Good Friday."""
    return _build("uk", "", _overrides_key(overrides))


def scotland_calendar(overrides: Path | None = None) -> WorkingCalendar:
    """FOISA/EISR: Scotland's bank holidays only, plus Christmas Day."""
    return _build("scotland", "", _overrides_key(overrides))


def nation_calendar(nation: str, overrides: Path | None = None) -> WorkingCalendar:
    """Subject access: the authority's own nation's public holidays."""
    if nation not in NATION_SUBDIV:
        raise ValueError(f"unknown nation '{nation}'; use england, wales, scotland or northern-ireland")
    return _build("nation", nation, _overrides_key(overrides))
