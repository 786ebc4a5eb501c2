"""The statutory rules per regime, as data: time limit, calendar, extension allowed, review limits, sources.

Sources (see docs/deadlines.md and ../shared/docs/foi-rules.md):
FOIA 2000 s.1(3), s.9(2), s.10(1)-(3), s.10(6); EIR 2004 regs 5(2), 7(1), 9(4), 11(4); FOISA 2002 s.1(3), s.9(4),
s.10(1)-(2), s.21(1), s.73; EISR 2004 regs 5(2), 7(1), 16(4); UK GDPR Art 12(3) with the ICO's month counting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from connector.model import Regime

Extension = Literal["pit", "eir", "sar"]
CalendarKind = Literal["uk", "scotland", "nation"]


@dataclass(frozen=True)
class RegimeRule:
    regime: Regime
    label: str
    calendar: CalendarKind
    #: Working days after the date of receipt (None for subject access, which counts calendar months).
    limit_working_days: int | None
    limit_source: str
    #: The one extension this regime allows, and the working-day total it runs to.
    extension: Extension | None
    extension_working_days: int | None
    extension_source: str
    fee_source: str | None
    #: How long the requester has to pay: "3 months" (FOIA s.9(2), FOISA s.9(4)) or "60 working days" (EIR/EISR
    #: reg 8(5)); None where no fee lapse applies.
    fee_lapse: Literal["3 months", "60 working days"] | None
    clarification_source: str
    #: Internal review / reconsideration: normal target and the most allowed, in working days.
    review_target_working_days: int | None
    review_limit_working_days: int | None
    review_source: str

    @property
    def months(self) -> bool:
        return self.limit_working_days is None


RULES: dict[Regime, RegimeRule] = {
    Regime.FOIA: RegimeRule(
        regime=Regime.FOIA,
        label="FOIA 2000",
        calendar="uk",
        limit_working_days=20,
        limit_source="FOIA s.10(1): not later than the twentieth working day following the date of receipt",
        extension="pit",
        extension_working_days=40,
        extension_source=(
            "FOIA s.10(3) public interest test: 'such time as is reasonable'; the ICO expects no more than "
            "20 further working days (40 in total)"
        ),
        fee_source="FOIA s.10(2): working days from the fees notice to payment are disregarded",
        fee_lapse="3 months",
        clarification_source="FOIA s.1(3), s.10(6)(b): the clock restarts from receipt of the clarification",
        review_target_working_days=20,
        review_limit_working_days=40,
        review_source="s.45 Code of Practice (2018): normally 20 working days, 40 at most in complex cases",
    ),
    Regime.EIR: RegimeRule(
        regime=Regime.EIR,
        label="EIR 2004",
        calendar="uk",
        limit_working_days=20,
        limit_source="EIR reg 5(2): no later than 20 working days after the date of receipt",
        extension="eir",
        extension_working_days=40,
        extension_source="EIR reg 7(1): to 40 working days where complexity and volume make 20 impracticable, once",
        fee_source="EIR reg 8(6): the days from the advance-payment notice to payment are disregarded",
        fee_lapse="60 working days",
        clarification_source="EIR reg 9(4): the 20 working days run again from receipt of the particulars",
        review_target_working_days=20,
        review_limit_working_days=40,
        review_source="EIR reg 11(4): reconsideration no later than 40 working days after the representations",
    ),
    Regime.FOISA: RegimeRule(
        regime=Regime.FOISA,
        label="FOISA 2002",
        calendar="scotland",
        limit_working_days=20,
        limit_source="FOISA s.10(1): not later than the twentieth working day after receipt",
        extension=None,
        extension_working_days=None,
        extension_source="FOISA allows no extension (no public interest extension in Scotland)",
        fee_source="FOISA s.10(2): the period from issue of the fees notice to receipt of the fee is disregarded",
        fee_lapse="3 months",
        clarification_source="FOISA s.1(3), s.10(1)(b): the clock restarts from receipt of the further information",
        review_target_working_days=20,
        review_limit_working_days=20,
        review_source="FOISA s.21(1): review response within 20 working days (statutory)",
    ),
    Regime.EISR: RegimeRule(
        regime=Regime.EISR,
        label="EISR 2004",
        calendar="scotland",
        limit_working_days=20,
        limit_source="EISR reg 5(2): no later than 20 working days after the date of receipt",
        extension="eir",
        extension_working_days=40,
        extension_source="EISR reg 7(1): to 40 working days where volume and complexity make 20 impracticable",
        fee_source="EISR reg 8: the days from the advance-payment notice to payment are disregarded",
        fee_lapse="60 working days",
        clarification_source="EISR reg 9(4): the 20 working days run again from receipt of the particulars",
        review_target_working_days=20,
        review_limit_working_days=20,
        review_source="EISR reg 16(4): review within 20 working days (statutory)",
    ),
    Regime.SAR: RegimeRule(
        regime=Regime.SAR,
        label="UK GDPR subject access",
        calendar="nation",
        limit_working_days=None,
        limit_source=(
            "UK GDPR Art 12(3): within one month of receipt; ICO: from the day of receipt to the corresponding "
            "date next month (last day of the month if none), moved to the next working day if that is not one"
        ),
        extension="sar",
        extension_working_days=None,
        extension_source="UK GDPR Art 12(3): extendable by two further months for complex or numerous requests",
        fee_source=None,
        fee_lapse=None,
        clarification_source="ICO / UK GDPR Art 12A: the time limit runs from receipt of the clarification",
        review_target_working_days=None,
        review_limit_working_days=None,
        review_source="no statutory internal review for subject access",
    ),
}

EXTENSION_LABEL: dict[str, str] = {
    "pit": "public interest test extension",
    "eir": "regulation 7 extension",
    "sar": "two-month extension",
}


def rule_for(regime: Regime | str) -> RegimeRule:
    try:
        return RULES[Regime(regime)]
    except ValueError:
        raise ValueError(f"unknown regime '{regime}'; use foia, eir, foisa, eisr or sar") from None
