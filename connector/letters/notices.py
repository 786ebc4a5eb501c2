"""Triage and decision notices: which one a case's stage and outcome call for, and the law each one quotes.

Selection is state-based like :func:`connector.letters.select.letters_due`: a case at stage ``invalid`` has earned the
advice-and-assistance reply, a case whose officer has recorded a refusal outcome while it is still being answered has
earned the matching refusal notice, a review with an outcome has earned the review-outcome letter. The push step's
deterministic activity ids (reference + letter type) make each notice an email activity once, ever.

A historical register never mails anyone: refusal notices are due only while the case is open at first instance
(the decision recorded, the notice not yet sent); once the officer moves the case to ``response_sent`` or ``closed``
nothing new is drafted.

The statutory wording per notice and regime lives in :data:`NOTICE_LAW` (one typed table). The regulator, the
review route and its period come from the regime table in :mod:`connector.letters.types`; templates never write a
regulator's name, a provision or a number of days themselves.

Sources (legislation.gov.uk): FOIA 2000 ss.12, 14, 16, 17 (https://www.legislation.gov.uk/ukpga/2000/36/part/I);
FOISA 2002 ss.12, 14, 15, 16, 18 (https://www.legislation.gov.uk/asp/2002/13/part/1); EIR 2004 regs 12, 14
(https://www.legislation.gov.uk/uksi/2004/3391); EISR 2004 regs 9, 10 (incl. 10(8) NCND), 13 (https://www.legislation.gov.uk/ssi/2004/520);
UK GDPR Arts 12, 15; the appropriate limit: SI 2004/3244 reg 3 (£450 for local authorities, 18 hours at £25) and
SSI 2004/467 reg 5 (£600 in Scotland). ICO guidance on refusing requests, s.14 and NCND, and on manifestly unfounded
or excessive subject access requests (docs/triage.md lists the pages).
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.letters.types import LetterType
from connector.model import FIRST_INSTANCE_STAGES, ClockEventKind, FoiCase, Outcome, Regime, ReviewOutcome, Stage

#: The model's open, first-instance stages (one definition, connector/model.py).
ANSWERING = FIRST_INSTANCE_STAGES

#: Outcome -> the notice that announces it, by regime family (SAR outcomes have their own letters).
_OUTCOME_NOTICE: dict[Outcome, LetterType] = {
    Outcome.WITHHELD_IN_FULL: LetterType.REFUSAL,
    Outcome.PARTIALLY_WITHHELD: LetterType.REFUSAL,
    Outcome.REFUSED_COST: LetterType.COST_LIMIT,
    Outcome.VEXATIOUS: LetterType.VEXATIOUS,
    Outcome.REPEATED: LetterType.REPEATED,
    Outcome.NEITHER_CONFIRM_NOR_DENY: LetterType.NCND,
    Outcome.TRANSFERRED: LetterType.TRANSFER,
}
_SAR_OUTCOME_NOTICE: dict[Outcome, LetterType] = {
    Outcome.GRANTED_IN_FULL: LetterType.SAR_RESPONSE,
    Outcome.PARTIALLY_WITHHELD: LetterType.SAR_RESPONSE,
    Outcome.MANIFESTLY_UNFOUNDED: LetterType.SAR_REFUSAL,
    Outcome.MANIFESTLY_EXCESSIVE: LetterType.SAR_REFUSAL,
}
_REVIEW_DECIDED = frozenset({ReviewOutcome.UPHELD, ReviewOutcome.UPHELD_IN_PART, ReviewOutcome.OVERTURNED})


def notices_due(case: FoiCase) -> list[LetterType]:
    """The triage and decision notices this case has earned by now (see the module docstring)."""
    due: list[LetterType] = []
    if case.stage is Stage.INVALID:
        due.append(LetterType.ADVICE_AND_ASSISTANCE)
    elif case.stage is Stage.REROUTED:
        due.append(LetterType.ROUTING_REPLY)
    elif case.outcome is not None and case.stage in ANSWERING:
        table = _SAR_OUTCOME_NOTICE if case.regime is Regime.SAR else _OUTCOME_NOTICE
        if case.outcome in table:
            due.append(table[case.outcome])
    reviewed = any(e.kind is ClockEventKind.INTERNAL_REVIEW_COMPLETED for e in case.clock_events)
    if (
        case.review_outcome in _REVIEW_DECIDED
        and (case.stage is Stage.INTERNAL_REVIEW or reviewed)
        and (case.stage not in (Stage.CLOSED, Stage.WITHDRAWN_OR_LAPSED, Stage.ICO_COMPLAINT))
    ):
        due.append(LetterType.REVIEW_OUTCOME)
    return due


@dataclass(frozen=True)
class NoticeLaw:
    """What one notice quotes for one regime. Empty strings are left out by the templates."""

    #: The provision the notice is given under ("section 17(1) of the Act").
    notice: str
    #: The ground relied on ("section 12(1) of the Act: the cost of compliance would exceed the appropriate limit").
    ground: str = ""
    #: The duty to advise and assist ("section 16 of the Act").
    advice: str = ""
    #: The appropriate limit in money and hours (cost-limit notices).
    limit: str = ""
    #: Refusal notices: whether a public interest test applies, and how it is framed for this regime.
    public_interest: str = ""


_FOIA_ADVICE = "section 16 of the Act"
_FOISA_ADVICE = "section 15 of the Act"

#: (notice, regime) -> the law the notice quotes. One table for every template (shipped or overridden).
NOTICE_LAW: dict[tuple[LetterType, Regime], NoticeLaw] = {
    (LetterType.ADVICE_AND_ASSISTANCE, Regime.FOIA): NoticeLaw(notice="section 8(1) of the Act", advice=_FOIA_ADVICE),
    (LetterType.ADVICE_AND_ASSISTANCE, Regime.FOISA): NoticeLaw(notice="section 8(1) of the Act", advice=_FOISA_ADVICE),
    (LetterType.ADVICE_AND_ASSISTANCE, Regime.SAR): NoticeLaw(
        notice="Article 12(6) of the UK GDPR (confirming the identity of the person asking)",
        advice="Article 12(2) of the UK GDPR",
    ),
    (LetterType.REFUSAL, Regime.FOIA): NoticeLaw(
        notice="section 17(1) of the Act",
        advice=_FOIA_ADVICE,
        public_interest=(
            "Where an exemption is qualified, section 2(2)(b) of the Act lets us withhold the information only if the "
            "public interest in maintaining the exemption outweighs the public interest in disclosing it "
            "(section 17(3) requires us to give our reasons)."
        ),
    ),
    (LetterType.REFUSAL, Regime.FOISA): NoticeLaw(
        notice="section 16(1) of the Act",
        advice=_FOISA_ADVICE,
        public_interest=(
            "Where an exemption is not absolute, section 2(1)(b) of the Act lets us withhold the information only if, "
            "in all the circumstances, the public interest in disclosing it is not outweighed by that in maintaining "
            "the exemption (section 16(2) requires us to give our reasons)."
        ),
    ),
    (LetterType.REFUSAL, Regime.EIR): NoticeLaw(
        notice="regulation 14 of the Regulations",
        advice="regulation 9 of the Regulations",
        public_interest=(
            "Regulation 12(2) requires us to apply a presumption in favour of disclosure, and regulation 12(1)(b) "
            "lets us withhold information under an exception in regulation 12(4) or 12(5) only if, in all the "
            "circumstances, the public interest in maintaining the exception outweighs the public interest in "
            "disclosing it."
        ),
    ),
    (LetterType.REFUSAL, Regime.EISR): NoticeLaw(
        notice="regulation 13 of the Regulations",
        advice="regulation 9 of the Regulations",
        public_interest=(
            "Regulation 10(2)(b) requires us to apply a presumption in favour of disclosure, and regulation 10(1)(b) "
            "lets us withhold information under an exception in regulation 10(4) or 10(5) only if, in all the "
            "circumstances, the public interest in making it available is outweighed by that in maintaining the "
            "exception."
        ),
    ),
    (LetterType.COST_LIMIT, Regime.FOIA): NoticeLaw(
        notice="section 17(5) of the Act",
        ground="section 12(1) of the Act: the cost of complying would exceed the appropriate limit",
        advice=_FOIA_ADVICE,
        limit=(
            "£450 for a local authority, which is 18 hours of work at £25 an hour (regulation 3 of the Freedom of "
            "Information and Data Protection (Appropriate Limit and Fees) Regulations 2004)"
        ),
    ),
    (LetterType.COST_LIMIT, Regime.FOISA): NoticeLaw(
        notice="section 16(4) of the Act",
        ground="section 12(1) of the Act: the cost of complying would exceed the prescribed amount",
        advice=_FOISA_ADVICE,
        limit=(
            "£600 (regulation 5 of the Freedom of Information (Fees for Required Disclosure) (Scotland) "
            "Regulations 2004), counting staff time at no more than £15 an hour"
        ),
    ),
    (LetterType.VEXATIOUS, Regime.FOIA): NoticeLaw(
        notice="section 17(5) of the Act",
        ground="section 14(1) of the Act: the request is vexatious",
        advice=_FOIA_ADVICE,
    ),
    (LetterType.VEXATIOUS, Regime.FOISA): NoticeLaw(
        notice="section 16(5) of the Act",
        ground="section 14(1) of the Act: the request is vexatious",
        advice=_FOISA_ADVICE,
    ),
    (LetterType.REPEATED, Regime.FOIA): NoticeLaw(
        notice="section 17(5) of the Act",
        ground=(
            "section 14(2) of the Act: it is identical or substantially similar to an earlier request from you that "
            "we have answered, and a reasonable interval has not passed"
        ),
        advice=_FOIA_ADVICE,
    ),
    (LetterType.REPEATED, Regime.FOISA): NoticeLaw(
        notice="section 16(5) of the Act",
        ground=(
            "section 14(2) of the Act: it is identical or substantially similar to an earlier request from you that "
            "we have answered, and a reasonable period has not passed"
        ),
        advice=_FOISA_ADVICE,
    ),
    (LetterType.NCND, Regime.FOIA): NoticeLaw(
        notice="section 17(1) of the Act",
        ground=(
            "the duty to confirm or deny in section 1(1)(a) of the Act does not arise, because the exemption's own "
            "exclusion from that duty applies (for example section 40(5) for personal data)"
        ),
        advice=_FOIA_ADVICE,
    ),
    (LetterType.NCND, Regime.FOISA): NoticeLaw(
        notice="section 18(1) of the Act",
        ground=(
            "revealing whether the information exists or is held would be contrary to the public interest, and if it "
            "existed and were held it could be withheld under an exemption listed in section 18(1)"
        ),
        advice=_FOISA_ADVICE,
    ),
    (LetterType.NCND, Regime.EIR): NoticeLaw(
        notice="regulation 12(6) of the Regulations",
        ground=(
            "confirming or denying whether the information exists and is held would itself adversely affect a matter "
            "protected by regulation 12(5)(a) and would not be in the public interest (regulation 12(7))"
        ),
        advice="regulation 9 of the Regulations",
    ),
    # EISR reg 10(8): the Scottish NCND is narrower than FOISA s.18, limited to the interests in reg 10(5)(a) and
    # subject to the public interest test in reg 10(1)(b); the refusal itself is a reg 13 notice.
    (LetterType.NCND, Regime.EISR): NoticeLaw(
        notice="regulation 10(8) of the Regulations (given as a refusal notice under regulation 13)",
        ground=(
            "confirming or denying whether the information exists and is held would involve making available "
            "information that would, or would be likely to, prejudice substantially international relations, "
            "defence, national security or public safety (regulation 10(5)(a)), and in all the circumstances "
            "the public interest lies in neither confirming nor denying (regulation 10(1)(b))"
        ),
        advice="regulation 9 of the Regulations",
    ),
    (LetterType.SAR_RESPONSE, Regime.SAR): NoticeLaw(
        notice="Article 15 of the UK GDPR",
        ground="Article 15(1)(a) to (h) of the UK GDPR (the information that comes with your data)",
    ),
    (LetterType.SAR_REFUSAL, Regime.SAR): NoticeLaw(
        notice="Article 12(4) of the UK GDPR",
        ground="Article 12(5)(b) of the UK GDPR: the request is manifestly unfounded or excessive",
    ),
}


def notice_law(letter_type: LetterType, regime: Regime) -> NoticeLaw | None:
    """The law a notice quotes for a regime (None for letters that are not notices, or no such notice)."""
    return NOTICE_LAW.get((letter_type, regime))
