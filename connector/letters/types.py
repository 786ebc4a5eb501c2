"""Letter types, which regimes each applies to, and the statutory facts the templates quote.

The wording lives here (not in the templates) so that every template, shipped or overridden, quotes the same
law; the numbers and the regulator come from :mod:`connector.rules`, the table the deadline engine reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from connector.model import Regime
from connector.rules import RULES, RegimeRule, Regulator


class LetterType(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    CLARIFICATION = "clarification"  # FOIA s.1(3) / EIR reg 9: the clock restarts on reply
    FEES = "fees"  # FOIA s.9 / FOISA s.9 / EIR reg 8: the clock is paused until paid
    PIT_EXTENSION = "pit_extension"  # FOIA s.10(3) + s.17(2): estimated decision date
    EIR_EXTENSION = "eir_extension"  # EIR/EISR reg 7: once, to 40 working days
    SAR_EXTENSION = "sar_extension"  # UK GDPR Art 12(3): two further months, told within the first month
    INTERNAL_REVIEW_ACK = "internal_review_ack"
    TRANSFER = "transfer"
    NOT_HELD = "not_held"
    # Triage and decision notices (connector/letters/notices.py says which stage or outcome calls for each).
    ADVICE_AND_ASSISTANCE = "advice_and_assistance"  # invalid request: FOIA s.16 / FOISA s.15 / SAR Art 12(2)
    ROUTING_REPLY = "routing_reply"  # business as usual: passed to the service, no statutory clock
    REFUSAL = "refusal"  # FOIA s.17 / FOISA s.16 / EIR reg 14 / EISR reg 13: exemptions, public interest
    COST_LIMIT = "cost_limit"  # FOIA s.12 + s.17(5) / FOISA s.12 + s.16(4), with advice and assistance
    VEXATIOUS = "vexatious"  # FOIA s.14(1) + s.17(5) / FOISA s.14(1) + s.16(5)
    REPEATED = "repeated"  # FOIA s.14(2) / FOISA s.14(2)
    NCND = "ncnd"  # neither confirm nor deny: FOIA s.17(1) / FOISA s.18 / EIR reg 12(6) / EISR reg 10(8)
    SAR_RESPONSE = "sar_response"  # UK GDPR Art 15: the data and the supplementary information
    SAR_REFUSAL = "sar_refusal"  # UK GDPR Art 12(5)(b) manifestly unfounded or excessive, Art 12(4)
    REVIEW_OUTCOME = "review_outcome"  # internal review / reconsideration / review: upheld, partly, overturned


_FOI = frozenset({Regime.FOIA, Regime.EIR, Regime.FOISA, Regime.EISR})
_ALL = frozenset(Regime)

#: Which regimes each letter exists in. FOISA has no public interest extension; only EIR/EISR have reg 7.
APPLIES_TO: dict[LetterType, frozenset[Regime]] = {
    LetterType.ACKNOWLEDGEMENT: _ALL,
    LetterType.CLARIFICATION: _ALL,
    LetterType.FEES: _FOI,
    LetterType.PIT_EXTENSION: frozenset({Regime.FOIA}),
    LetterType.EIR_EXTENSION: frozenset({Regime.EIR, Regime.EISR}),
    LetterType.SAR_EXTENSION: frozenset({Regime.SAR}),
    LetterType.INTERNAL_REVIEW_ACK: _FOI,
    LetterType.TRANSFER: _FOI,
    LetterType.NOT_HELD: _ALL,
    LetterType.ADVICE_AND_ASSISTANCE: frozenset({Regime.FOIA, Regime.FOISA, Regime.SAR}),
    LetterType.ROUTING_REPLY: _ALL,
    LetterType.REFUSAL: _FOI,
    LetterType.COST_LIMIT: frozenset({Regime.FOIA, Regime.FOISA}),
    LetterType.VEXATIOUS: frozenset({Regime.FOIA, Regime.FOISA}),
    LetterType.REPEATED: frozenset({Regime.FOIA, Regime.FOISA}),
    LetterType.NCND: _FOI,
    LetterType.SAR_RESPONSE: frozenset({Regime.SAR}),
    LetterType.SAR_REFUSAL: frozenset({Regime.SAR}),
    LetterType.REVIEW_OUTCOME: _FOI,
}

#: Notices that are not valid unless they name the exemption or exception relied on: FOIA s.17(1)(b), FOISA s.16(1)(c)
#: (and s.18 via s.16), EIR reg 14(3)(a), EISR reg 13(3)(a). Without one recorded on the case no such letter is made.
NEEDS_EXEMPTION: frozenset[LetterType] = frozenset({LetterType.REFUSAL, LetterType.NCND})

#: Short human titles, used in email subjects and ``letters list-types``.
TITLES: dict[LetterType, str] = {
    LetterType.ACKNOWLEDGEMENT: "Acknowledgement of your request",
    LetterType.CLARIFICATION: "We need more detail to answer your request",
    LetterType.FEES: "Fees notice",
    LetterType.PIT_EXTENSION: "Extension to consider the public interest",
    LetterType.EIR_EXTENSION: "Extension of time (EIR regulation 7)",
    LetterType.SAR_EXTENSION: "Extension of time for your subject access request",
    LetterType.INTERNAL_REVIEW_ACK: "Acknowledgement of your request for a review",
    LetterType.TRANSFER: "Your request: information held by another authority",
    LetterType.NOT_HELD: "Your request: information not held",
    LetterType.ADVICE_AND_ASSISTANCE: "Your request: what we need before we can answer it",
    LetterType.ROUTING_REPLY: "Your message has been passed to the right service",
    LetterType.REFUSAL: "Your request: refusal notice",
    LetterType.COST_LIMIT: "Your request: refusal notice (cost limit)",
    LetterType.VEXATIOUS: "Your request: refusal notice (vexatious request)",
    LetterType.REPEATED: "Your request: refusal notice (repeated request)",
    LetterType.NCND: "Your request: we can neither confirm nor deny",
    LetterType.SAR_RESPONSE: "Your subject access request: our response",
    LetterType.SAR_REFUSAL: "Your subject access request: refusal",
    LetterType.REVIEW_OUTCOME: "The outcome of your request for a review",
}


def applies(letter_type: LetterType, regime: Regime) -> bool:
    return regime in APPLIES_TO[letter_type]


@dataclass(frozen=True)
class RegimeInfo:
    """The statutory wording for one regime, quoted by the templates as ``regime.*``."""

    code: str
    short: str  # how the letters name the regime: "FOI", "EIR", ...
    law: str  # full title, with "the"
    request_name: str  # "request for information", "subject access request"
    duty: str  # the provision that gives the right
    time_limit: str  # the provision that sets the time limit
    clarification_provision: str
    fees_provision: str
    review_name: str  # "internal review", "review", "reconsideration"
    review_provision: str
    scottish: bool
    family: str  # template variant family: foia, eir, foisa, sar

    @property
    def rule(self) -> RegimeRule:
        """The statutory numbers (time limit, review periods, regulator) come from the one rules table."""
        return RULES[Regime(self.code)]

    @property
    def time_limit_words(self) -> str:
        return self.rule.limit.words

    @property
    def review_days(self) -> int | None:
        """Working days a letter promises for a review: the statutory limit where there is one, else the target."""
        review = self.rule.review
        return review.quoted.working_days if review else None

    @property
    def regulator(self) -> Regulator:
        return self.rule.regulator


REGIMES: dict[Regime, RegimeInfo] = {
    Regime.FOIA: RegimeInfo(
        code="foia",
        short="FOI",
        law="the Freedom of Information Act 2000",
        request_name="request for information",
        duty="section 1 of the Freedom of Information Act 2000",
        time_limit="section 10 of the Act",
        clarification_provision="section 1(3) of the Act",
        fees_provision="section 9 of the Act",
        review_name="internal review",
        review_provision="the Code of Practice issued under section 45 of the Act",
        scottish=False,
        family="foia",
    ),
    Regime.EIR: RegimeInfo(
        code="eir",
        short="EIR",
        law="the Environmental Information Regulations 2004",
        request_name="request for environmental information",
        duty="regulation 5 of the Environmental Information Regulations 2004",
        time_limit="regulation 5(2) of the Regulations",
        clarification_provision="regulation 9 of the Regulations",
        fees_provision="regulation 8 of the Regulations",
        review_name="reconsideration",
        review_provision="regulation 11 of the Regulations",
        scottish=False,
        family="eir",
    ),
    Regime.FOISA: RegimeInfo(
        code="foisa",
        short="FOISA",
        law="the Freedom of Information (Scotland) Act 2002",
        request_name="request for information",
        duty="section 1 of the Freedom of Information (Scotland) Act 2002",
        time_limit="section 10 of the Act",
        clarification_provision="section 1(3) of the Act",
        fees_provision="section 9 of the Act",
        review_name="review",
        review_provision="section 20 and section 21 of the Act",
        scottish=True,
        family="foisa",
    ),
    Regime.EISR: RegimeInfo(
        code="eisr",
        short="EISR",
        law="the Environmental Information (Scotland) Regulations 2004",
        request_name="request for environmental information",
        duty="regulation 5 of the Environmental Information (Scotland) Regulations 2004",
        time_limit="regulation 5(2) of the Regulations",
        clarification_provision="regulation 9 of the Regulations",
        fees_provision="regulation 8 of the Regulations",
        review_name="review",
        review_provision="regulation 16 of the Regulations",
        scottish=True,
        family="eir",
    ),
    Regime.SAR: RegimeInfo(
        code="sar",
        short="SAR",
        law="the UK General Data Protection Regulation",
        request_name="subject access request",
        duty="Article 15 of the UK General Data Protection Regulation",
        time_limit="Article 12(3) of the UK GDPR",
        clarification_provision="Article 12 of the UK GDPR",
        fees_provision="Article 12(5) of the UK GDPR",
        review_name="complaint",
        review_provision="our data protection complaints procedure",
        scottish=False,
        family="sar",
    ),
}
