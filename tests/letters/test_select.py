"""letters_due: which letters a case's state calls for (acknowledgement, then one per clock event)."""

from __future__ import annotations

import logging

import pytest

from connector.letters import LetterType, letters_due

L = LetterType


@pytest.mark.parametrize(
    ("regime", "stage", "events", "outcome", "expected"),
    [
        ("foia", "received", [], None, [L.ACKNOWLEDGEMENT]),
        ("sar", "validated", [], None, [L.ACKNOWLEDGEMENT]),
        ("foia", "acknowledged", [], None, []),  # a person already acknowledged it
        ("foia", "clarification_requested", [], None, [L.ACKNOWLEDGEMENT, L.CLARIFICATION]),
        (
            "foia",
            "in_progress",
            [{"kind": "clarification_requested", "on": "2025-07-07"}],
            None,
            [L.ACKNOWLEDGEMENT, L.CLARIFICATION],
        ),
        (  # clarified: asking again would be wrong
            "foia",
            "in_progress",
            [
                {"kind": "clarification_requested", "on": "2025-07-07"},
                {"kind": "clarification_received", "on": "2025-07-09"},
            ],
            None,
            [L.ACKNOWLEDGEMENT],
        ),
        (
            "foia",
            "fee_requested",
            [{"kind": "fee_notice_issued", "on": "2025-07-10"}],
            None,
            [L.ACKNOWLEDGEMENT, L.FEES],
        ),
        (  # paid: no fees notice after the fact
            "foia",
            "in_progress",
            [{"kind": "fee_notice_issued", "on": "2025-07-10"}, {"kind": "fee_paid", "on": "2025-07-15"}],
            None,
            [L.ACKNOWLEDGEMENT],
        ),
        (
            "foia",
            "extended",
            [{"kind": "extension_pit", "on": "2025-07-30"}],
            None,
            [L.ACKNOWLEDGEMENT, L.PIT_EXTENSION],
        ),
        ("eir", "extended", [], None, [L.ACKNOWLEDGEMENT, L.EIR_EXTENSION]),
        (
            "eisr",
            "in_progress",
            [{"kind": "extension_eir", "on": "2025-07-30"}],
            None,
            [L.ACKNOWLEDGEMENT, L.EIR_EXTENSION],
        ),
        (
            "sar",
            "extended",
            [{"kind": "extension_sar", "on": "2025-07-30"}],
            None,
            [L.ACKNOWLEDGEMENT, L.SAR_EXTENSION],
        ),
        ("foia", "internal_review", [], None, [L.INTERNAL_REVIEW_ACK]),
        ("foia", "response_sent", [], "not_held", [L.NOT_HELD]),
        ("foia", "response_sent", [], "granted_in_full", []),
        ("foia", "closed", [{"kind": "extension_pit", "on": "2025-07-30"}], "not_held", []),  # history: no mail
        ("foia", "withdrawn_or_lapsed", [], None, []),
        ("foia", "ico_complaint", [], None, []),
    ],
)
def test_letters_follow_stage_and_clock_events(make_case, regime, stage, events, outcome, expected):
    assert letters_due(make_case(regime, stage=stage, events=events, outcome=outcome)) == expected


def test_event_that_does_not_exist_in_the_regime_is_reported_not_mailed(make_case, caplog):
    case = make_case("foisa", stage="in_progress", events=[{"kind": "extension_pit", "on": "2025-07-30"}])
    logger = logging.getLogger("connector.letters.select")
    logger.addHandler(caplog.handler)  # the CLI's logging setup may stop propagation to the root logger
    try:
        with caplog.at_level(logging.WARNING, logger="connector.letters.select"):
            assert letters_due(case) == [L.ACKNOWLEDGEMENT]
    finally:
        logger.removeHandler(caplog.handler)
    assert "pit_extension does not exist for foisa" in caplog.text
    assert "Sam Example" not in caplog.text
