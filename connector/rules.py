"""The statutory rules per regime, as one typed table: the engines, the letters and the templates all read it.

Every number a requester or an officer sees (20 working days, 40, 60, one month, three months) comes from here,
with the provision that sets it and whether it is the law (``statutory``) or the regulator's or Code's
expectation (``guidance``). docs/deadlines.md prints the table and says where sources disagree.

Month arithmetic lives here too (:func:`add_months`, :func:`months_beginning_with`), in one tested place, because
the scalar engine, the vectorised engine and the letters must all agree on the last day of a month-based period.
"""

from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Literal

from connector.model import Regime

CalendarKind = Literal["uk", "scotland", "nation"]
ExtensionKind = Literal["pit", "eir", "sar"]
ClarificationEffect = Literal["restart", "pause"]

_WORDS = {1: "one", 2: "two", 3: "three", 6: "six"}


def months_words(n: int) -> str:
    """``one month``, ``two months``: how the letters and explanations say a number of months."""
    return f"{_WORDS.get(n, str(n))} month{'s' if n != 1 else ''}"


class Basis(StrEnum):
    """Where a period comes from: the Act or Regulations, or guidance (ICO, a Code of Practice)."""

    STATUTORY = "statutory"
    GUIDANCE = "guidance"
    PRACTICE = "council practice"


@dataclass(frozen=True)
class Period:
    """A period of working days or of calendar months, with the provision that sets it."""

    source: str
    working_days: int | None = None
    months: int | None = None
    basis: Basis = Basis.STATUTORY

    def __post_init__(self) -> None:
        if (self.working_days is None) == (self.months is None):
            raise ValueError("a Period has either working_days or months")

    @property
    def words(self) -> str:
        """How letters say it: ``20 working days``, ``one month``, ``three months``."""
        if self.working_days is not None:
            return f"{self.working_days} working days"
        return months_words(self.months or 0)

    @property
    def days(self) -> int:
        """The working days (for code that only makes sense for a working-day period)."""
        if self.working_days is None:
            raise ValueError(f"{self.source}: a month-based period has no working-day count")
        return self.working_days


@dataclass(frozen=True)
class Extension:
    kind: ExtensionKind
    label: str  # "public interest test extension"
    #: The whole period once extended (40 working days; three months for subject access).
    total: Period
    source: str
    #: What the regulator expects on top of the limit, where the law says only "reasonable" (FOIA s.10(3)).
    expected_extra: Period | None = None


@dataclass(frozen=True)
class Clarification:
    """What a request for clarification does to the clock, for requests received from ``applies_from``."""

    effect: ClarificationEffect
    source: str
    applies_from: date | None = None


@dataclass(frozen=True)
class Review:
    """Internal review / reconsideration: how long the requester has to ask, the target and the limit."""

    name: str  # "internal review", "reconsideration", "review"
    request_within: Period
    target: Period
    limit: Period

    @property
    def quoted(self) -> Period:
        """The period a letter promises: the statutory limit where the law sets one, else the target."""
        return self.limit if self.limit.basis is Basis.STATUTORY else self.target


@dataclass(frozen=True)
class Regulator:
    """Who a requester complains or appeals to, and the provision that gives the right."""

    name: str
    short: str
    address: str
    phone: str
    website: str
    #: Time limit for applying to the regulator after the review, where the law sets one.
    apply_within: Period | None = None


ICO = Regulator(
    name="the Information Commissioner's Office",
    short="ICO",
    address="Wycliffe House, Water Lane, Wilmslow, Cheshire SK9 5AF",
    phone="0303 123 1113",
    website="https://ico.org.uk/make-a-complaint/",
)
SIC = Regulator(
    name="the Scottish Information Commissioner",
    short="the Commissioner",
    address="Kinburn Castle, Doubledykes Road, St Andrews, Fife KY16 9DS",
    phone="01334 464610",
    website="https://www.foi.scot",
    apply_within=Period("FOISA s.47(4)(a): within six months after the review response", months=6),
)

#: Data (Use and Access) Act 2025 s.76 (new UK GDPR Art 12A; DPA 2018 s.54(3C)) in force on 5 February 2026:
#: SI 2026/82 (Commencement No. 6 and Transitional and Saving Provisions) Regulations 2026, reg 2(h).
DUAA_TIME_LIMITS_IN_FORCE = date(2026, 2, 5)


@dataclass(frozen=True)
class RegimeRule:
    regime: Regime
    label: str
    calendar: CalendarKind
    #: The time limit for the first response (working days; one month for subject access).
    limit: Period
    #: The one extension this regime allows (None: no extension, FOISA).
    extension: Extension | None
    #: Working days from a fees notice to payment are disregarded (None: no fee pause).
    fee_pause_source: str | None
    #: How long the requester has to pay before the request lapses (None where no lapse applies).
    fee_lapse: Period | None
    #: Clarification rules, oldest first; the last whose ``applies_from`` is on or before the receipt applies.
    clarifications: tuple[Clarification, ...]
    review: Review | None
    regulator: Regulator
    #: How long the council asks a requester to reply when it offers to transfer the request (council practice).
    transfer_reply: Period

    @property
    def months(self) -> bool:
        """True for subject access, which counts calendar months rather than working days."""
        return self.limit.months is not None

    @property
    def limit_working_days(self) -> int | None:
        return self.limit.working_days

    @property
    def limit_source(self) -> str:
        return self.limit.source

    @property
    def extension_kind(self) -> ExtensionKind | None:
        return self.extension.kind if self.extension else None

    @property
    def extension_source(self) -> str:
        return self.extension.source if self.extension else _NO_EXTENSION[self.regime]

    def clarification_for(self, received: date) -> Clarification:
        """The clarification rule for a request received on ``received``."""
        chosen = self.clarifications[0]
        for rule in self.clarifications:
            if rule.applies_from is None or received >= rule.applies_from:
                chosen = rule
        return chosen


_NO_EXTENSION = {
    Regime.FOISA: "FOISA allows no extension (no public interest extension in Scotland)",
}

_FOIA_REVIEW = Review(
    name="internal review",
    request_within=Period(
        "s.45 Code of Practice (2018): authorities may set a limit for asking, of no less than 40 working days",
        working_days=40,
        basis=Basis.GUIDANCE,
    ),
    target=Period(
        "s.45 Code of Practice (2018): normally within 20 working days", working_days=20, basis=Basis.GUIDANCE
    ),
    limit=Period(
        "s.45 Code of Practice (2018): no more than 40 working days in complex cases (no statutory limit)",
        working_days=40,
        basis=Basis.GUIDANCE,
    ),
)
_TRANSFER = Period(
    "council practice: time to agree to a transfer before the council closes the request",
    working_days=20,
    basis=Basis.PRACTICE,
)

RULES: dict[Regime, RegimeRule] = {
    Regime.FOIA: RegimeRule(
        regime=Regime.FOIA,
        label="FOIA 2000",
        calendar="uk",
        limit=Period("FOIA s.10(1): not later than the twentieth working day following the date of receipt", 20),
        extension=Extension(
            kind="pit",
            label="public interest test extension",
            total=Period(
                "FOIA s.10(3): 'such time as is reasonable'; the ICO expects no more than 20 further working days "
                "(40 in total)",
                working_days=40,
                basis=Basis.GUIDANCE,
            ),
            source=(
                "FOIA s.10(3) public interest test: 'such time as is reasonable'; the ICO expects no more than "
                "20 further working days (40 in total)"
            ),
            expected_extra=Period("ICO: no more than 20 further working days", working_days=20, basis=Basis.GUIDANCE),
        ),
        fee_pause_source="FOIA s.10(2): working days from the fees notice to payment are disregarded",
        fee_lapse=Period(
            "FOIA s.9(2): three months beginning with the day on which the fees notice is given", months=3
        ),
        clarifications=(
            Clarification("restart", "FOIA s.1(3), s.10(6)(b): the clock restarts from receipt of the clarification"),
        ),
        review=_FOIA_REVIEW,
        regulator=ICO,
        transfer_reply=_TRANSFER,
    ),
    Regime.EIR: RegimeRule(
        regime=Regime.EIR,
        label="EIR 2004",
        calendar="uk",
        limit=Period("EIR reg 5(2): no later than 20 working days after the date of receipt", 20),
        extension=Extension(
            kind="eir",
            label="regulation 7 extension",
            total=Period("EIR reg 7(1): to 40 working days, once", working_days=40),
            source="EIR reg 7(1): to 40 working days where complexity and volume make 20 impracticable, once",
        ),
        fee_pause_source="EIR reg 8(6): the days from the advance-payment notice to payment are disregarded",
        fee_lapse=Period("EIR reg 8(5): paid no later than 60 working days after the notice", working_days=60),
        clarifications=(
            Clarification("restart", "EIR reg 9(4): the 20 working days run again from receipt of the particulars"),
        ),
        review=Review(
            name="reconsideration",
            request_within=Period("EIR reg 11(2): representations within 40 working days", working_days=40),
            target=Period(
                "guidance: the s.45 Code's normal 20 working days, applied as good practice (not in the Regulations)",
                working_days=20,
                basis=Basis.GUIDANCE,
            ),
            limit=Period(
                "EIR reg 11(4): reconsideration no later than 40 working days after the representations",
                working_days=40,
            ),
        ),
        regulator=ICO,
        transfer_reply=_TRANSFER,
    ),
    Regime.FOISA: RegimeRule(
        regime=Regime.FOISA,
        label="FOISA 2002",
        calendar="scotland",
        limit=Period("FOISA s.10(1): not later than the twentieth working day after receipt", 20),
        extension=None,
        fee_pause_source="FOISA s.10(2): the period from issue of the fees notice to receipt of the fee is disregarded",
        fee_lapse=Period(
            "FOISA s.9(4): three months beginning with the day on which the fees notice is given", months=3
        ),
        clarifications=(
            Clarification(
                "restart", "FOISA s.1(3), s.10(1)(b): the clock restarts from receipt of the further information"
            ),
        ),
        review=Review(
            name="review",
            request_within=Period("FOISA s.20(5): requirement for review within 40 working days", working_days=40),
            target=Period("FOISA s.21(1): review response within 20 working days (statutory)", working_days=20),
            limit=Period("FOISA s.21(1): review response within 20 working days (statutory)", working_days=20),
        ),
        regulator=SIC,
        transfer_reply=_TRANSFER,
    ),
    Regime.EISR: RegimeRule(
        regime=Regime.EISR,
        label="EISR 2004",
        calendar="scotland",
        limit=Period("EISR reg 5(2): no later than 20 working days after the date of receipt", 20),
        extension=Extension(
            kind="eir",
            label="regulation 7 extension",
            total=Period("EISR reg 7(1): to 40 working days", working_days=40),
            source="EISR reg 7(1): to 40 working days where volume and complexity make 20 impracticable",
        ),
        fee_pause_source="EISR reg 8: the days from the advance-payment notice to payment are disregarded",
        fee_lapse=Period("EISR reg 8: paid no later than 60 working days after the notice", working_days=60),
        clarifications=(
            Clarification("restart", "EISR reg 9(4): the 20 working days run again from receipt of the particulars"),
        ),
        review=Review(
            name="review",
            request_within=Period("EISR reg 16(2): representations within 40 working days", working_days=40),
            target=Period("EISR reg 16(4): review within 20 working days (statutory)", working_days=20),
            limit=Period("EISR reg 16(4): review within 20 working days (statutory)", working_days=20),
        ),
        regulator=SIC,
        transfer_reply=_TRANSFER,
    ),
    Regime.SAR: RegimeRule(
        regime=Regime.SAR,
        label="UK GDPR subject access",
        calendar="nation",
        limit=Period(
            "UK GDPR Art 12(3): within one month of receipt; ICO: from the day of receipt to the corresponding "
            "date next month (last day of the month if none), moved to the next working day if that is not one",
            months=1,
        ),
        extension=Extension(
            kind="sar",
            label="two-month extension",
            total=Period("UK GDPR Art 12(3) (Art 12A from 5 Feb 2026): two further months", months=3),
            source="UK GDPR Art 12(3): extendable by two further months for complex or numerous requests",
        ),
        fee_pause_source=None,
        fee_lapse=None,
        clarifications=(
            Clarification(
                "restart",
                "ICO subject access guidance (2018-19 reading): the time limit runs from receipt of the clarification",
            ),
            Clarification(
                "pause",
                "UK GDPR Art 12A (Data (Use and Access) Act 2025 s.76, in force 5 Feb 2026 by SI 2026/82 reg 2(h); "
                "as DPA 2018 s.54(3C)): the days from the request for further information to its receipt, both "
                "included, do not count",
                applies_from=DUAA_TIME_LIMITS_IN_FORCE,
            ),
        ),
        review=None,
        regulator=ICO,
        transfer_reply=_TRANSFER,
    ),
}

#: Labels for every extension kind, including those a regime does not allow (to explain why it is ignored).
EXTENSION_LABEL: dict[str, str] = {
    "pit": "public interest test extension",
    "eir": "regulation 7 extension",
    "sar": "two-month extension",
}

#: Regimes grouped by the calendar they count in (derived, never written out).
REGIMES_BY_CALENDAR: dict[CalendarKind, tuple[Regime, ...]] = {
    kind: tuple(r for r, rule in RULES.items() if rule.calendar == kind) for kind in ("uk", "scotland", "nation")
}
#: The freedom-of-information regimes (working-day limits), as opposed to subject access.
INFO_REGIMES: tuple[Regime, ...] = tuple(r for r, rule in RULES.items() if not rule.months)
#: Working days after which a late request is "long overdue" (WhatDoTheyKnow; the ICO's 40-day expectation).
LONG_OVERDUE_WORKING_DAYS = 40


def rule_for(regime: Regime | str) -> RegimeRule:
    try:
        return RULES[Regime(regime)]
    except ValueError:
        raise ValueError(f"unknown regime '{regime}'; use {_regime_list()}") from None


def _regime_list() -> str:
    values = [r.value for r in Regime]
    return ", ".join(values[:-1]) + " or " + values[-1]


# ---------------------------------------------------------------------------------------------- month arithmetic


def add_months(d: date, months: int) -> date:
    """The corresponding date ``months`` later; the last day of that month when there is none.

    The ICO's subject access counting: received 31 January -> due 28 (29) February.
    """
    idx = d.year * 12 + (d.month - 1) + months
    year, month = divmod(idx, 12)
    month += 1
    return date(year, month, min(d.day, _calendar.monthrange(year, month)[1]))


def months_beginning_with(start: date, months: int) -> date:
    """Last day of a period of ``months`` months *beginning with* ``start`` (FOIA s.9(2), FOISA s.9(4)).

    "Beginning with" a day includes that day, so the period ends the day before the corresponding date in the
    last month; where that month has no corresponding date, on its last day. Notice 6 Jan -> 5 Apr; 1 May ->
    31 Jul; 31 Jan -> 30 Apr; 30 Nov 2025 -> 28 Feb 2026; 30 Nov 2023 -> 29 Feb 2024.
    """
    idx = start.year * 12 + (start.month - 1) + months
    year, month = divmod(idx, 12)
    month += 1
    last = _calendar.monthrange(year, month)[1]
    if start.day > last:
        return date(year, month, last)
    return date(year, month, start.day) - timedelta(days=1)
