"""Which letters a case's current state calls for.

The answer is cumulative and state-based (not "what changed since last run"): every letter the case has
earned so far is listed, and the push step's deterministic activity ids make sure each is created only once.
So a rerun, a crash-replay or a case that skipped a sync still ends with exactly the right set of letters.
"""

from __future__ import annotations

import logging

from connector.letters.notices import notices_due
from connector.letters.types import LetterType, applies
from connector.model import FIRST_INSTANCE_STAGES, ClockEventKind, FoiCase, Outcome, Regime, Stage

log = logging.getLogger(__name__)

#: The model's open, first-instance stages (one definition, connector/model.py).
FIRST_INSTANCE = FIRST_INSTANCE_STAGES
_EXTENSION_EVENT = {
    Regime.FOIA: (ClockEventKind.EXTENSION_PIT, LetterType.PIT_EXTENSION),
    Regime.EIR: (ClockEventKind.EXTENSION_EIR, LetterType.EIR_EXTENSION),
    Regime.EISR: (ClockEventKind.EXTENSION_EIR, LetterType.EIR_EXTENSION),
    Regime.SAR: (ClockEventKind.EXTENSION_SAR, LetterType.SAR_EXTENSION),
}
_EVENT_LETTER = {
    ClockEventKind.EXTENSION_PIT: LetterType.PIT_EXTENSION,
    ClockEventKind.EXTENSION_EIR: LetterType.EIR_EXTENSION,
    ClockEventKind.EXTENSION_SAR: LetterType.SAR_EXTENSION,
}


def _waiting(case: FoiCase, asked: ClockEventKind, answered: ClockEventKind) -> bool:
    """True when the latest ``asked`` event has no ``answered`` event on or after it."""
    asks = [e.on for e in case.clock_events if e.kind == asked]
    if not asks:
        return False
    last = max(asks)
    return not any(e.kind == answered and e.on >= last for e in case.clock_events)


def letters_due(case: FoiCase) -> list[LetterType]:
    """The letters this case should have by now, in the order they should be sent.

    - acknowledgement: every open case still at first instance, unless its stage says a person already
      acknowledged it (``acknowledged``);
    - clarification / fees: while the requester has been asked and has not yet replied or paid
      (a fees notice after the fee is paid would be wrong);
    - extension notices: when an extension clock event exists (or the stage is ``extended``), by regime;
    - internal review acknowledgement: stage ``internal_review`` or an open review request;
    - not-held notice: outcome ``not_held`` while the case is being answered or just answered.

    Closed, withdrawn and regulator-complaint cases get nothing: a historical register must not mail anyone.
    Transfer notices need the other authority's name, so an officer asks for them explicitly.
    """
    stage = case.stage
    due: list[LetterType] = []
    kinds = {e.kind for e in case.clock_events}
    if stage in FIRST_INSTANCE:
        if stage is not Stage.ACKNOWLEDGED:
            due.append(LetterType.ACKNOWLEDGEMENT)
        if stage is Stage.CLARIFICATION_REQUESTED or _waiting(
            case, ClockEventKind.CLARIFICATION_REQUESTED, ClockEventKind.CLARIFICATION_RECEIVED
        ):
            due.append(LetterType.CLARIFICATION)
        if stage is Stage.FEE_REQUESTED or _waiting(case, ClockEventKind.FEE_NOTICE_ISSUED, ClockEventKind.FEE_PAID):
            due.append(LetterType.FEES)
        for kind, letter in _EVENT_LETTER.items():
            if kind in kinds:
                due.append(letter)
        if stage is Stage.EXTENDED and case.regime in _EXTENSION_EVENT:
            due.append(_EXTENSION_EVENT[case.regime][1])
    review_open = _waiting(case, ClockEventKind.INTERNAL_REVIEW_REQUESTED, ClockEventKind.INTERNAL_REVIEW_COMPLETED)
    if stage is Stage.INTERNAL_REVIEW or (
        review_open and stage not in (Stage.CLOSED, Stage.WITHDRAWN_OR_LAPSED, Stage.ICO_COMPLAINT)
    ):
        due.append(LetterType.INTERNAL_REVIEW_ACK)
    if case.outcome is Outcome.NOT_HELD and (stage in FIRST_INSTANCE or stage is Stage.RESPONSE_SENT):
        due.append(LetterType.NOT_HELD)
    # Triage and decision notices: advice and assistance, routing reply, refusals, SAR, review outcome, transfer.
    due += notices_due(case)

    out: list[LetterType] = []
    for letter in due:
        if letter in out:
            continue
        if not applies(letter, case.regime):
            # e.g. a public interest extension recorded on a FOISA case: FOISA has none. Say so, don't mail.
            log.warning(
                "case %s: %s does not exist for %s requests; no letter sent (check the clock event)",
                case.reference,
                letter.value,
                case.regime.value,
            )
            continue
        out.append(letter)
    return out
