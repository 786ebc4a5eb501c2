"""Month-based rules at month ends and in leap years, and the engine, the vectorised engine and the letters agreeing.

Expected dates are worked by hand from the statutes:
- FOIA s.9(2) / FOISA s.9(4): "the period of three months beginning with the day on which the fees notice is
  given". "Beginning with" includes the day of the notice, so the period ends on the day before the corresponding
  date three months on, or on the last day of that month when it has no corresponding date.
- Subject access (UK GDPR Art 12(3), Art 12A): the ICO counts from the day of receipt to the corresponding date
  one (or three) months later, the last day of the month when there is none, then the next working day.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from deadline_helpers import due

from connector.deadlines import DeadlineEngine
from connector.deadlines.engine import _add_months, _months_beginning_with
from connector.model import Regime
from connector.rules import RULES, Basis, add_months, months_beginning_with, rule_for

D = date

THREE_MONTHS_BEGINNING_WITH = [
    (D(2025, 1, 6), D(2025, 4, 5)),  # the statute's ordinary case
    (D(2025, 5, 1), D(2025, 7, 31)),  # 1 May: the whole of May, June and July
    (D(2025, 3, 1), D(2025, 5, 31)),
    (D(2025, 1, 31), D(2025, 4, 30)),  # no 31 April: the last day of April
    (D(2025, 8, 30), D(2025, 11, 29)),
    (D(2025, 8, 31), D(2025, 11, 30)),  # no 31 November
    (D(2025, 11, 29), D(2026, 2, 28)),  # no 29 February 2026
    (D(2025, 11, 30), D(2026, 2, 28)),
    (D(2025, 12, 1), D(2026, 2, 28)),
    (D(2023, 11, 29), D(2024, 2, 28)),  # leap year: 29 Feb 2024 exists, so the day before it
    (D(2023, 11, 30), D(2024, 2, 29)),  # leap year: no 30 Feb, so 29 Feb
    (D(2023, 12, 1), D(2024, 2, 29)),
    (D(2025, 12, 31), D(2026, 3, 30)),
]

ONE_MONTH_ICO = [
    (D(2025, 1, 31), 1, D(2025, 2, 28)),
    (D(2024, 1, 31), 1, D(2024, 2, 29)),  # leap year
    (D(2024, 1, 30), 1, D(2024, 2, 29)),
    (D(2024, 2, 29), 1, D(2024, 3, 29)),
    (D(2025, 8, 30), 1, D(2025, 9, 30)),
    (D(2025, 8, 31), 1, D(2025, 9, 30)),
    (D(2025, 11, 29), 3, D(2026, 2, 28)),  # the two-month extension: three months from receipt
    (D(2025, 11, 30), 3, D(2026, 2, 28)),
    (D(2023, 11, 30), 3, D(2024, 2, 29)),
    (D(2023, 12, 31), 2, D(2024, 2, 29)),
]


@pytest.mark.parametrize(("notice", "last"), THREE_MONTHS_BEGINNING_WITH)
def test_three_months_beginning_with(notice: date, last: date) -> None:
    assert months_beginning_with(notice, 3) == last
    assert RULES[Regime.FOIA].fee_lapse is not None and RULES[Regime.FOIA].fee_lapse.months == 3


@pytest.mark.parametrize(("start", "months", "end"), ONE_MONTH_ICO)
def test_corresponding_date_months(start: date, months: int, end: date) -> None:
    assert add_months(start, months) == end


def test_vectorised_month_helpers_agree_with_the_scalar_ones_on_every_day_of_a_decade() -> None:
    days = np.arange(np.datetime64("2020-01-01"), np.datetime64("2030-01-01"), dtype="datetime64[D]")
    scalar_days = [D(2020, 1, 1) + timedelta(days=i) for i in range(days.size)]
    for months in (1, 2, 3):
        got_b = _months_beginning_with(days, months).astype(object)
        got_a = _add_months(days, months).astype(object)
        assert list(got_b) == [months_beginning_with(d, months) for d in scalar_days]
        assert list(got_a) == [add_months(d, months) for d in scalar_days]


@pytest.mark.parametrize(("notice", "last"), [p for p in THREE_MONTHS_BEGINNING_WITH if p[0] >= D(2025, 1, 6)])
@pytest.mark.parametrize("regime", ["foia", "foisa"])
def test_fee_lapse_in_both_engines(engine: DeadlineEngine, regime: str, notice: date, last: date) -> None:
    received = notice - timedelta(days=3)
    on_time = due(engine, regime, received, fee_notice=notice, fee_paid=last)
    late = due(engine, regime, received, fee_notice=notice, fee_paid=last + timedelta(days=1))
    assert on_time.fee_last_day == last and not on_time.lapsed
    assert late.lapsed and "fee_lapsed" in late.flags
    assert engine.fee_last_day(regime, notice) == last
    frame = pd.DataFrame(
        {
            "regime": [regime, regime],
            "received_at": [received.isoformat(), received.isoformat()],
            "fee_notice": [notice, notice],
            "fee_paid": [last, last + timedelta(days=1)],
        }
    )
    out = engine.compute_frame(frame, as_of=D(2030, 1, 1))
    assert out["lapsed"].tolist() == [False, True]


# ------------------------------------------------------------------------------- subject access: Art 12A pause


def test_sar_clarification_restarts_before_commencement_and_pauses_from_5_feb_2026(engine: DeadlineEngine) -> None:
    # Received Wed 4 Feb 2026 (the day before SI 2026/82 brings Art 12A in): clarification asked Mon 9 Feb,
    # received Thu 12 Feb -> the month restarts from 12 Feb: Thu 12 Mar 2026.
    before = due(
        engine, "sar", D(2026, 2, 4), clarification_requested=D(2026, 2, 9), clarification_received=D(2026, 2, 12)
    )
    assert before.due == D(2026, 3, 12) and before.paused_days == 0
    # Received Thu 5 Feb 2026: 9-12 Feb (4 days, both ends included) do not count: 5 Mar + 4 = Mon 9 Mar 2026.
    after = due(
        engine, "sar", D(2026, 2, 5), clarification_requested=D(2026, 2, 9), clarification_received=D(2026, 2, 12)
    )
    assert (after.due, after.paused_days, after.day0) == (D(2026, 3, 9), 4, D(2026, 2, 5))
    # Extension: 5 May + 4 = Sat 9 May 2026 -> Mon 11 May (4 May is the early May bank holiday, not in the way).
    ext = due(
        engine,
        "sar",
        D(2026, 2, 5),
        clarification_requested=D(2026, 2, 9),
        clarification_received=D(2026, 2, 12),
        extension="sar",
    )
    assert ext.extended_due == D(2026, 5, 11)
    assert "Art 12A" in " ".join(after.explanation)


def test_sar_pause_across_easter_and_awaiting(engine: DeadlineEngine) -> None:
    # Received Mon 2 Mar 2026; asked Mon 9 Mar, answered Fri 13 Mar: 5 days. 2 Apr + 5 = Tue 7 Apr 2026
    # (after Good Friday 3 Apr and Easter Monday 6 Apr).
    r = due(engine, "sar", D(2026, 3, 2), clarification_requested=D(2026, 3, 9), clarification_received=D(2026, 3, 13))
    assert (r.due, r.paused_days) == (D(2026, 4, 7), 5)
    waiting = due(engine, "sar", D(2026, 3, 2), clarification_requested=D(2026, 3, 9), as_of=D(2026, 3, 10))
    assert (waiting.clock, waiting.paused_days, waiting.due) == ("paused", 2, D(2026, 4, 7))
    assert "awaiting_clarification" in waiting.flags


def test_sar_pause_agrees_with_the_vectorised_engine(engine: DeadlineEngine) -> None:
    rows = [
        ("2026-02-04", "2026-02-09", "2026-02-12", None),
        ("2026-02-05", "2026-02-09", "2026-02-12", None),
        ("2026-02-05", "2026-02-09", "2026-02-12", "sar"),
        ("2026-03-02", "2026-03-09", "2026-03-13", None),
        ("2026-03-02", "2026-03-09", None, None),
    ]
    frame = pd.DataFrame(
        rows, columns=["received_at", "clarification_requested", "clarification_received", "extension"]
    )
    frame["regime"] = "sar"
    out = engine.compute_frame(frame, as_of=D(2026, 3, 10))
    for i, (rec, asked, answered, ext) in enumerate(rows):
        one = due(
            engine,
            "sar",
            D.fromisoformat(rec),
            clarification_requested=D.fromisoformat(asked),
            clarification_received=D.fromisoformat(answered) if answered else None,
            extension=ext,
            as_of=D(2026, 3, 10),
        )
        assert out["due"].iloc[i].date() == one.due, rows[i]
        if ext:
            assert out["extended_due"].iloc[i].date() == one.extended_due


# ------------------------------------------------------------------------------- review: statutory or guidance


def test_review_output_says_which_period_is_statutory(engine: DeadlineEngine) -> None:
    eir = due(engine, "eir", D(2025, 1, 3), review_requested=D(2025, 3, 3))
    assert (eir.review_due_basis, eir.review_latest_basis) == (Basis.GUIDANCE, Basis.STATUTORY)
    assert eir.to_dict()["review_latest_basis"] == "statutory"
    foia = due(engine, "foia", D(2025, 1, 3), review_requested=D(2025, 3, 3))
    assert (foia.review_due_basis, foia.review_latest_basis) == (Basis.GUIDANCE, Basis.GUIDANCE)
    foisa = due(engine, "foisa", D(2025, 1, 3), review_requested=D(2025, 3, 3))
    assert foisa.review_latest_basis is Basis.STATUTORY
    eir_review = rule_for("eir").review
    assert eir_review is not None and eir_review.limit.working_days == 40 and "reg 11(4)" in eir_review.limit.source
