"""Derived status on a given day: elapsed, remaining, clock state, due soon, overdue, overdue beyond 40."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from connector.deadlines import DeadlineEngine
from connector.model import FoiCase

D = date


def case(regime: str = "foia", received: datetime | None = None, events: list | None = None, **kw) -> FoiCase:
    return FoiCase(
        reference="FOI-1",
        regime=regime,
        received_at=received or datetime(2025, 1, 3, 9, 30, tzinfo=UTC),
        channel="email",
        requester={"name": "A Requester", "email": "a@example.org"},
        subject="Test",
        request_text="Please send",
        clock_events=events or [],
        **kw,
    )


# Received Fri 3 Jan 2025, due Fri 31 Jan 2025 (Jan 6-10 = 5; 13-17 = 10; 20-24 = 15; 27-31 = 20).


@pytest.mark.parametrize(
    ("today", "elapsed", "remaining", "due_soon", "overdue", "beyond", "rag"),
    [
        (D(2025, 1, 3), 0, 20, False, False, False, "green"),
        (D(2025, 1, 4), 0, 20, False, False, False, "green"),  # Saturday: nothing elapses
        (D(2025, 1, 24), 15, 5, True, False, False, "amber"),  # 5 left = due_soon_working_days
        (D(2025, 1, 31), 20, 0, True, False, False, "amber"),  # the due day itself is still in time
        (D(2025, 2, 3), 21, -1, False, True, False, "red"),
        (D(2025, 2, 28), 40, -20, False, True, False, "red"),  # day 40: overdue but not beyond 40
        (D(2025, 3, 3), 41, -21, False, True, True, "red"),  # beyond 40 working days (WDTK "long overdue")
    ],
)
def test_status_through_the_life_of_a_request(
    engine: DeadlineEngine,
    today: date,
    elapsed: int,
    remaining: int,
    due_soon: bool,
    overdue: bool,
    beyond: bool,
    rag: str,
) -> None:
    s = engine.status(case(), today)
    assert (s.elapsed, s.remaining, s.due_soon, s.overdue, s.overdue_beyond_40, s.rag) == (
        elapsed,
        remaining,
        due_soon,
        overdue,
        beyond,
        rag,
    )
    assert s.clock == "running" and s.effective_due == D(2025, 1, 31)


def test_extension_moves_the_effective_due_date(engine: DeadlineEngine) -> None:
    c = case(events=[{"kind": "extension_pit", "on": "2025-01-27"}])
    s = engine.status(c, D(2025, 2, 10))
    assert s.effective_due == D(2025, 2, 28) and not s.overdue and s.remaining == 14


def test_paused_for_fees(engine: DeadlineEngine) -> None:
    # Notice Mon 6 Jan, unpaid on Fri 10 Jan: clock paused, nothing has elapsed, 20 remain.
    c = case(events=[{"kind": "fee_notice_issued", "on": "2025-01-06"}])
    s = engine.status(c, D(2025, 1, 10))
    assert (s.clock, s.elapsed, s.remaining, s.overdue) == ("paused", 0, 20, False)
    # Paid Wed 8 Jan: 3 paused days; on Mon 20 Jan 11 working days passed, 8 of them count.
    paid = case(events=[{"kind": "fee_notice_issued", "on": "2025-01-06"}, {"kind": "fee_paid", "on": "2025-01-08"}])
    s = engine.status(paid, D(2025, 1, 20))
    assert (s.clock, s.elapsed, s.remaining, s.effective_due) == ("running", 8, 12, D(2025, 2, 5))


def test_stopped_awaiting_clarification(engine: DeadlineEngine) -> None:
    c = case(events=[{"kind": "clarification_requested", "on": "2025-01-08"}])
    s = engine.status(c, D(2025, 3, 1))
    # Jan 6, 7, 8 elapsed before the clock stopped; 20 will run again from the clarification. Never overdue.
    assert (s.clock, s.elapsed, s.remaining, s.overdue, s.due_soon) == ("stopped", 3, 20, False, False)


def test_closed_cases_measure_to_the_response(engine: DeadlineEngine) -> None:
    in_time = case(stage="response_sent", responded_at=datetime(2025, 1, 30, 15, tzinfo=UTC))
    s = engine.status(in_time, D(2025, 6, 1))
    assert (s.clock, s.elapsed, s.overdue, s.rag) == ("closed", 19, False, "green")
    late = case(stage="closed", responded_at=datetime(2025, 3, 4, 15, tzinfo=UTC))
    s = engine.status(late, D(2025, 6, 1))
    assert (s.clock, s.elapsed, s.overdue, s.overdue_beyond_40, s.rag) == ("closed", 42, True, True, "red")
    withdrawn = case(stage="withdrawn_or_lapsed")
    s = engine.status(withdrawn, D(2025, 6, 1))
    assert s.clock == "closed" and not s.overdue


def test_subject_access_status(engine: DeadlineEngine) -> None:
    c = case("sar", datetime(2024, 1, 31, 10, tzinfo=UTC))
    s = engine.status(c, D(2024, 2, 29))
    assert s.effective_due == D(2024, 2, 29) and s.remaining == 0 and s.due_soon and not s.overdue
    assert engine.status(c, D(2024, 3, 1)).overdue


def test_due_soon_threshold_comes_from_settings() -> None:
    from connector.config import load_settings

    settings = load_settings(None)
    settings.deadlines.due_soon_working_days = 2
    e = DeadlineEngine.from_settings(settings)
    assert not e.status(case(), D(2025, 1, 27)).due_soon  # 4 remaining
    assert e.status(case(), D(2025, 1, 29)).due_soon  # 2 remaining
