"""Every statutory rule, with hand-worked expected dates. The working is in the comment above each case.

Notation: "Jan 6-10 = 5" means those working days bring the count to 5. Day 1 is the first working day after day 0.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from deadline_helpers import due

from connector.deadlines import DeadlineEngine

D = date

# ------------------------------------------------------------------------------------------ FOIA / EIR basics


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        # Christmas 2022: 25 Sun, 26 Boxing Day, 27 Christmas substitute; 2 Jan New Year substitute (E&W, NI),
        # 3 Jan 2 January substitute (Scotland). Day 1 Wed 28 Dec: Dec 28-30 = 3; Jan 4-6 = 6; 9-13 = 11;
        # 16-20 = 16; 23-26 = 20 -> Thu 26 Jan 2023.
        (D(2022, 12, 23), D(2023, 1, 26)),
        # Christmas/New Year 2023-24: 25, 26 Dec; 1 Jan; 2 Jan (Scotland). Day 1 Wed 27 Dec: 27-29 = 3;
        # Jan 3-5 = 6; 8-12 = 11; 15-19 = 16; 22-25 = 20 -> Thu 25 Jan 2024.
        (D(2023, 12, 22), D(2024, 1, 25)),
        # Year 2000/01: 25, 26 Dec 2000; 1 Jan 2001; 2 Jan 2001 (Scotland). Day 1 Wed 27 Dec: 27-29 = 3;
        # Jan 3-5 = 6; 8-12 = 11; 15-19 = 16; 22-25 = 20 -> Thu 25 Jan 2001.
        (D(2000, 12, 22), D(2001, 1, 25)),
        # Easter 2024 (Good Friday 29 Mar, Easter Monday 1 Apr). Received Thu 28 Mar; day 1 Tue 2 Apr:
        # Apr 2-5 = 4; 8-12 = 9; 15-19 = 14; 22-26 = 19; Mon 29 Apr = 20.
        (D(2024, 3, 28), D(2024, 4, 29)),
        # 2 January (Scotland only) still counts for an English council: received Fri 20 Dec 2024; 25, 26 Dec,
        # 1 Jan, 2 Jan skipped. Day 1 Mon 23 Dec: 23-24 = 2; 27 = 3; 30-31 = 5; Jan 3 = 6; 6-10 = 11;
        # 13-17 = 16; 20-23 = 20 -> Thu 23 Jan 2025 (an England-only calendar would say Wed 22 Jan).
        (D(2024, 12, 20), D(2025, 1, 23)),
        # Scottish August bank holiday (Mon 5 Aug 2024) AND the E&W/NI late summer holiday (Mon 26 Aug).
        # Received Mon 29 Jul; day 1 Tue 30 Jul: Jul 30-31 = 2; Aug 1-2 = 4; 6-9 = 8; 12-16 = 13; 19-23 = 18;
        # 27-28 = 20 -> Wed 28 Aug 2024.
        (D(2024, 7, 29), D(2024, 8, 28)),
        # St Andrew's Day Thu 30 Nov 2023. Received Mon 20 Nov; day 1 Tue 21: 21-24 = 4; 27-29 = 7; Dec 1 = 8;
        # 4-8 = 13; 11-15 = 18; 18-19 = 20 -> Tue 19 Dec 2023.
        (D(2023, 11, 20), D(2023, 12, 19)),
        # St Andrew's Day substitute Mon 1 Dec 2025 (30 Nov a Sunday). Received Fri 28 Nov; day 1 Tue 2 Dec:
        # 2-5 = 4; 8-12 = 9; 15-19 = 14; 22-24 = 17; (25, 26 Dec) 29-31 = 20 -> Wed 31 Dec 2025.
        (D(2025, 11, 28), D(2025, 12, 31)),
        # St Patrick's Day Thu 17 Mar 2022 (NI). Received Mon 14 Mar; day 1 Tue 15: 15-16 = 2; 18 = 3;
        # 21-25 = 8; 28-Apr 1 = 13; Apr 4-8 = 18; 11-12 = 20 -> Tue 12 Apr 2022.
        (D(2022, 3, 14), D(2022, 4, 12)),
        # 12 July 2022 (NI) and 1 Aug 2022 (Scotland). Received Fri 8 Jul; day 1 Mon 11: 11 = 1; 13-15 = 4;
        # 18-22 = 9; 25-29 = 14; Aug 2-5 = 18; 8-9 = 20 -> Tue 9 Aug 2022.
        (D(2022, 7, 8), D(2022, 8, 9)),
        # Platinum Jubilee: Thu 2 and Fri 3 Jun 2022 (Mon 30 May was a working day). Received Tue 31 May;
        # day 1 Wed 1 Jun: 1 = 1; 6-10 = 6; 13-17 = 11; 20-24 = 16; 27-30 = 20 -> Thu 30 Jun 2022.
        (D(2022, 5, 31), D(2022, 6, 30)),
        # Received Mon 30 May 2022 (a working day that year): day 1 Tue 31: 31, Jun 1 = 2; 6-10 = 7; 13-17 = 12;
        # 20-24 = 17; 27-29 = 20 -> Wed 29 Jun 2022.
        (D(2022, 5, 30), D(2022, 6, 29)),
        # State Funeral Mon 19 Sep 2022. Received Fri 16 Sep; day 1 Tue 20: 20-23 = 4; 26-30 = 9; Oct 3-7 = 14;
        # 10-14 = 19; 17 = 20 -> Mon 17 Oct 2022.
        (D(2022, 9, 16), D(2022, 10, 17)),
        # Coronation Mon 8 May 2023 (and early May bank holiday Mon 1 May, spring bank holiday Mon 29 May).
        # Received Fri 28 Apr; day 1 Tue 2 May: 2-5 = 4; 9-12 = 8; 15-19 = 13; 22-26 = 18; 30-31 = 20 -> Wed 31 May.
        (D(2023, 4, 28), D(2023, 5, 31)),
        # Leap year: received Mon 5 Feb 2024; day 1 Tue 6: 6-9 = 4; 12-16 = 9; 19-23 = 14; 26-29 = 18 (29 Feb
        # counts); Mar 1 = 19; Mon 4 Mar = 20.
        (D(2024, 2, 5), D(2024, 3, 4)),
        # Non-leap year: received Mon 6 Feb 2023; day 1 Tue 7: 7-10 = 4; 13-17 = 9; 20-24 = 14; 27-28 = 16;
        # Mar 1-3 = 19; Mon 6 Mar = 20.
        (D(2023, 2, 6), D(2023, 3, 6)),
    ],
)
def test_foia_due_dates(engine: DeadlineEngine, received: date, expected: date) -> None:
    assert due(engine, "foia", received).due == expected
    assert due(engine, "eir", received).due == expected  # EIR reg 5(2): same 20 working days, same calendar


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        # WhatDoTheyKnow / Alaveteli's own expectations (mysociety/alaveteli spec/models/holiday_spec.rb):
        (D(2008, 10, 1), D(2008, 10, 29)),  # "handles no holidays"
        (D(2007, 2, 1), D(2007, 3, 1)),  # "handles non leap years"
        (D(2008, 2, 1), D(2008, 2, 29)),  # "handles leap years"
        # Thu 12 Mar 2009: day 1 Fri 13: 13 = 1; 16 = 2; (17 St Patrick's) 18-20 = 5; 23-27 = 10; 30-Apr 3 = 15;
        # 6-9 = 19; (10 Good Friday, 13 Easter Monday) Tue 14 Apr = 20.
        (D(2009, 3, 12), D(2009, 4, 14)),  # "handles Thursday start"
        (D(2009, 3, 13), D(2009, 4, 15)),  # "handles Friday start"
        (D(2009, 3, 14), D(2009, 4, 15)),  # "handles Saturday start" (same as Friday: ICO/WDTK reading)
        (D(2009, 3, 15), D(2009, 4, 15)),  # "handles Sunday start"
        (D(2009, 3, 16), D(2009, 4, 16)),  # "handles Monday start"
    ],
)
def test_agrees_with_whatdotheyknow(engine: DeadlineEngine, received: date, expected: date) -> None:
    assert due(engine, "foia", received).due == expected


# ------------------------------------------------------------------------------------------ Scotland


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        # Easter 2024 in Scotland: Good Friday off, Easter Monday a working day. Received Thu 28 Mar; day 1
        # Mon 1 Apr: 1-5 = 5; 8-12 = 10; 15-19 = 15; 22-26 = 20 -> Fri 26 Apr 2024 (FOIA: Mon 29 Apr).
        (D(2024, 3, 28), D(2024, 4, 26)),
        # Scottish August holiday counts, the late August one does not. Received Mon 29 Jul 2024; day 1 Tue 30:
        # Jul 30-31 = 2; Aug 1-2 = 4; (5 Aug) 6-9 = 8; 12-16 = 13; 19-23 = 18; 26-27 = 20 -> Tue 27 Aug 2024.
        (D(2024, 7, 29), D(2024, 8, 27)),
        # St Patrick's Day is a working day in Scotland. Received Mon 14 Mar 2022; day 1 Tue 15: 15-18 = 4;
        # 21-25 = 9; 28-Apr 1 = 14; 4-8 = 19; 11 = 20 -> Mon 11 Apr 2022 (FOIA: Tue 12 Apr).
        (D(2022, 3, 14), D(2022, 4, 11)),
        # St Andrew's Day substitute Mon 1 Dec 2025 -> Wed 31 Dec 2025 (as the FOIA case above).
        (D(2025, 11, 28), D(2025, 12, 31)),
        # 2 January: received Fri 20 Dec 2024 -> Thu 23 Jan 2025 (as FOIA: Scotland has all four days).
        (D(2024, 12, 20), D(2025, 1, 23)),
    ],
)
def test_foisa_and_eisr_use_scottish_days_only(engine: DeadlineEngine, received: date, expected: date) -> None:
    assert due(engine, "foisa", received).due == expected
    assert due(engine, "eisr", received).due == expected


# ------------------------------------------------------------------------------------------ receipt readings


@pytest.mark.parametrize(
    ("regime", "received", "arrival", "next_working_day"),
    [
        # Sat 4 Jan 2025. ICO: day 0 Sat, day 1 Mon 6: 6-10 = 5; 13-17 = 10; 20-24 = 15; 27-31 = 20 -> Fri 31 Jan
        # (the same as a Friday arrival). s.45 Code: day 0 Mon 6, day 1 Tue 7: 7-10 = 4; ...; 27-31 = 19;
        # Feb 3 = 20 -> Mon 3 Feb.
        ("foia", D(2025, 1, 4), D(2025, 1, 31), D(2025, 2, 3)),
        ("eir", D(2025, 1, 5), D(2025, 1, 31), D(2025, 2, 3)),  # Sunday, same answers
        # Bank holiday receipt, Mon 26 Aug 2024 (E&W/NI). ICO: day 1 Tue 27: 27-30 = 4; Sep 2-6 = 9; 9-13 = 14;
        # 16-20 = 19; 23 = 20 -> Mon 23 Sep. s.45 Code: day 0 Tue 27, day 1 Wed 28: 28-30 = 3; ...; 16-20 = 18;
        # 23-24 = 20 -> Tue 24 Sep.
        ("foia", D(2024, 8, 26), D(2024, 9, 23), D(2024, 9, 24)),
        # Scotland-only bank holiday receipt under FOIA, Mon 5 Aug 2024. ICO: day 1 Tue 6: 6-9 = 4; 12-16 = 9;
        # 19-23 = 14; (26) 27-30 = 18; Sep 2-3 = 20 -> Tue 3 Sep. s.45 Code: day 0 Tue 6, day 1 Wed 7 ... -> Wed 4 Sep.
        ("foia", D(2024, 8, 5), D(2024, 9, 3), D(2024, 9, 4)),
        # Christmas Eve 2022 (Saturday). ICO: Thu 26 Jan 2023 (see above). s.45 Code: day 0 Wed 28 Dec, day 1 Thu 29:
        # 29-30 = 2; Jan 4-6 = 5; 9-13 = 10; 16-20 = 15; 23-27 = 20 -> Fri 27 Jan 2023.
        ("foia", D(2022, 12, 24), D(2023, 1, 26), D(2023, 1, 27)),
        # Good Friday receipt in Scotland, Fri 29 Mar 2024. ICO: day 1 Mon 1 Apr -> Fri 26 Apr (as Thursday above).
        # s.45 Code: day 0 Mon 1 Apr, day 1 Tue 2: 2-5 = 4; 8-12 = 9; 15-19 = 14; 22-26 = 19; 29 = 20 -> Mon 29 Apr.
        ("foisa", D(2024, 3, 29), D(2024, 4, 26), D(2024, 4, 29)),
    ],
)
def test_non_working_day_receipt_both_readings(
    engine: DeadlineEngine,
    engine_nwd: DeadlineEngine,
    regime: str,
    received: date,
    arrival: date,
    next_working_day: date,
) -> None:
    a, b = due(engine, regime, received), due(engine_nwd, regime, received)
    assert (a.due, b.due) == (arrival, next_working_day)
    assert a.day0 == received and b.day0 > received
    assert any("ICO reading" in line for line in a.explanation)
    assert any("s.45 Code of Practice reading" in line for line in b.explanation)


def test_working_day_receipt_is_the_same_under_both_readings(engine, engine_nwd) -> None:
    assert due(engine, "foia", D(2025, 1, 3)).due == due(engine_nwd, "foia", D(2025, 1, 3)).due == D(2025, 1, 31)


# ------------------------------------------------------------------------------------------ clarification


def test_clarification_restarts_the_clock(engine: DeadlineEngine) -> None:
    # Received Mon 6 Jan 2025, clarification asked Wed 8 Jan, received Mon 13 Jan: a new 20 days from 13 Jan.
    # Day 1 Tue 14: 14-17 = 4; 20-24 = 9; 27-31 = 14; Feb 3-7 = 19; Mon 10 Feb = 20.
    r = due(engine, "foia", D(2025, 1, 6), clarification_requested=D(2025, 1, 8), clarification_received=D(2025, 1, 13))
    assert (r.day0, r.due, r.clock) == (D(2025, 1, 13), D(2025, 2, 10), "running")
    assert any("restarts from zero" in line for line in r.explanation)


def test_clarification_on_a_weekend_both_readings(engine, engine_nwd) -> None:
    # Clarification arrives Sat 18 Jan 2025. ICO: day 1 Mon 20: 20-24 = 5; 27-31 = 10; Feb 3-7 = 15;
    # 10-14 = 20 -> Fri 14 Feb. s.45 Code: day 0 Mon 20, so one working day later -> Mon 17 Feb.
    kw = {"clarification_requested": D(2025, 1, 8), "clarification_received": D(2025, 1, 18)}
    assert due(engine, "foia", D(2025, 1, 6), **kw).due == D(2025, 2, 14)
    assert due(engine_nwd, "foia", D(2025, 1, 6), **kw).due == D(2025, 2, 17)


def test_awaiting_clarification_stops_the_clock(engine: DeadlineEngine) -> None:
    r = due(engine, "foia", D(2025, 1, 6), clarification_requested=D(2025, 1, 8))
    assert r.clock == "stopped" and "awaiting_clarification" in r.flags
    # A second round: requested again after the first answer -> stopped again.
    r = due(
        engine,
        "foia",
        D(2025, 1, 6),
        clarification_requested=D(2025, 1, 20),
        clarification_received=D(2025, 1, 13),
    )
    assert r.clock == "stopped" and r.day0 == D(2025, 1, 13)


def test_clarification_dated_before_receipt_is_flagged_not_used(engine: DeadlineEngine) -> None:
    r = due(engine, "foia", D(2025, 1, 6), clarification_received=D(2025, 1, 1))
    assert r.day0 == D(2025, 1, 6) and "clarification_before_receipt" in r.flags


# ------------------------------------------------------------------------------------------ fees


def test_fees_notice_pauses_the_clock(engine: DeadlineEngine) -> None:
    # Received Fri 3 Jan 2025; notice Mon 6 Jan; paid Wed 8 Jan: 6, 7, 8 disregarded (both ends included).
    # The 23rd working day after 3 Jan: Jan 6-10 = 5; ...; 27-31 = 20; Feb 3-5 = 23 -> Wed 5 Feb 2025.
    r = due(engine, "foia", D(2025, 1, 3), fee_notice=D(2025, 1, 6), fee_paid=D(2025, 1, 8))
    assert (r.due, r.paused_working_days, r.lapsed) == (D(2025, 2, 5), 3, False)
    assert "Clock paused 3 working days for the fees notice (2025-01-06 to 2025-01-08)" in " ".join(r.explanation)


def test_fee_paid_over_a_weekend_pauses_only_working_days(engine: DeadlineEngine) -> None:
    # Notice Fri 10 Jan, paid Mon 13 Jan: 2 working days disregarded -> 22nd working day after 3 Jan = Tue 4 Feb.
    r = due(engine, "foia", D(2025, 1, 3), fee_notice=D(2025, 1, 10), fee_paid=D(2025, 1, 13))
    assert (r.due, r.paused_working_days) == (D(2025, 2, 4), 2)


def test_fees_notice_after_the_due_date_does_not_move_it(engine: DeadlineEngine) -> None:
    r = due(engine, "foia", D(2025, 1, 3), fee_notice=D(2025, 2, 3), fee_paid=D(2025, 2, 5))
    assert (r.due, r.paused_working_days) == (D(2025, 1, 31), 0)


def test_fee_lapses_after_three_months(engine: DeadlineEngine) -> None:
    # FOIA s.9(2): "three months beginning with the day on which the fees notice is given": notice 6 Jan 2025
    # -> the period includes 6 Jan and ends Sat 5 Apr 2025.
    on_time = due(engine, "foia", D(2025, 1, 3), fee_notice=D(2025, 1, 6), fee_paid=D(2025, 4, 5))
    late = due(engine, "foia", D(2025, 1, 3), fee_notice=D(2025, 1, 6), fee_paid=D(2025, 4, 7))
    assert on_time.fee_last_day == D(2025, 4, 5) and not on_time.lapsed
    assert late.lapsed and "fee_lapsed" in late.flags
    unpaid_5 = due(engine, "foia", D(2025, 1, 3), fee_notice=D(2025, 1, 6), as_of=D(2025, 4, 5))
    unpaid_6 = due(engine, "foia", D(2025, 1, 3), fee_notice=D(2025, 1, 6), as_of=D(2025, 4, 6))
    assert not unpaid_5.lapsed and unpaid_6.lapsed
    assert unpaid_5.clock == "paused" and "fee_unpaid" in unpaid_5.flags
    # FOISA s.9(4) has the same three months.
    assert due(engine, "foisa", D(2025, 1, 3), fee_notice=D(2025, 1, 6), fee_paid=D(2025, 4, 7)).lapsed


def test_eir_advance_payment_lapses_after_60_working_days(engine: DeadlineEngine) -> None:
    # EIR reg 8(5): paid no later than 60 working days after the notice. Notice Mon 6 Jan 2025: Jan 7-10 = 4;
    # 13-17 = 9; 20-24 = 14; 27-31 = 19; Feb 3-7 = 24; 10-14 = 29; 17-21 = 34; 24-28 = 39; Mar 3-7 = 44;
    # 10-14 = 49; (Mon 17 Mar St Patrick's Day, NI) 18-21 = 53; 24-28 = 58; Mar 31 = 59; Tue 1 Apr = 60.
    on_time = due(engine, "eir", D(2025, 1, 3), fee_notice=D(2025, 1, 6), fee_paid=D(2025, 4, 1))
    assert on_time.fee_last_day == D(2025, 4, 1) and not on_time.lapsed
    assert due(engine, "eir", D(2025, 1, 3), fee_notice=D(2025, 1, 6), fee_paid=D(2025, 4, 2)).lapsed


def test_unpaid_fee_pauses_until_today(engine: DeadlineEngine) -> None:
    # Notice Mon 6 Jan, still unpaid on Fri 10 Jan: 5 working days paused so far -> 25th working day after
    # 3 Jan = Fri 7 Feb (if paid today).
    r = due(engine, "foia", D(2025, 1, 3), fee_notice=D(2025, 1, 6), as_of=D(2025, 1, 10))
    assert (r.due, r.paused_working_days, r.clock) == (D(2025, 2, 7), 5, "paused")


# ------------------------------------------------------------------------------------------ extensions


def test_public_interest_extension(engine: DeadlineEngine) -> None:
    # Received Fri 3 Jan 2025: day 20 Fri 31 Jan; Feb 3-7 = 25; 10-14 = 30; 17-21 = 35; 24-28 = 40 -> Fri 28 Feb.
    r = due(engine, "foia", D(2025, 1, 3), extension="pit", extension_on=D(2025, 1, 29))
    assert (r.due, r.extended_due, r.extension, r.flags) == (D(2025, 1, 31), D(2025, 2, 28), "pit", [])


def test_public_interest_extension_beyond_40_days_is_flagged(engine: DeadlineEngine) -> None:
    r = due(engine, "foia", D(2025, 1, 3), extension="pit", extension_until=D(2025, 3, 14))
    assert r.extended_due == D(2025, 3, 14) and "pit_beyond_40" in r.flags
    r = due(engine, "foia", D(2025, 1, 3), extension="pit", extension_until=D(2025, 2, 21))
    assert r.extended_due == D(2025, 2, 21) and "pit_beyond_40" not in r.flags


def test_public_interest_extension_with_fees_pause(engine: DeadlineEngine) -> None:
    # 40 + 3 paused working days after 3 Jan 2025: Fri 28 Feb + Mar 3, 4, 5 -> Wed 5 Mar 2025.
    r = due(engine, "foia", D(2025, 1, 3), fee_notice=D(2025, 1, 6), fee_paid=D(2025, 1, 8), extension="pit")
    assert (r.due, r.extended_due) == (D(2025, 2, 5), D(2025, 3, 5))


def test_extension_notified_after_the_due_date_is_flagged(engine: DeadlineEngine) -> None:
    r = due(engine, "foia", D(2025, 1, 3), extension="pit", extension_on=D(2025, 2, 3))
    assert "extension_notified_late" in r.flags


def test_eir_regulation_7_extension_once(engine: DeadlineEngine) -> None:
    r = due(engine, "eir", D(2025, 1, 3), extension="eir", extension_count=1)
    assert (r.due, r.extended_due, r.flags) == (D(2025, 1, 31), D(2025, 2, 28), [])
    twice = due(engine, "eir", D(2025, 1, 3), extension="eir", extension_count=2)
    assert twice.extended_due == D(2025, 2, 28) and "eir_extended_more_than_once" in twice.flags
    # EISR reg 7 in the Scottish calendar: received Thu 28 Mar 2024; day 20 Fri 26 Apr (Easter Monday worked);
    # Apr 29-May 3 = 25; (Mon 6 May early May holiday) 7-10 = 29; 13-17 = 34; 20-24 = 39; (Mon 27 May spring
    # holiday) Tue 28 May = 40.
    assert due(engine, "eisr", D(2024, 3, 28), extension="eir").extended_due == D(2024, 5, 28)


@pytest.mark.parametrize(("regime", "ext"), [("foisa", "pit"), ("eir", "pit"), ("foia", "eir"), ("foia", "sar")])
def test_extension_not_available_is_flagged_and_ignored(engine: DeadlineEngine, regime: str, ext: str) -> None:
    r = due(engine, regime, D(2025, 1, 3), extension=ext)
    assert r.extended_due is None and f"extension_{ext}_not_available" in r.flags


# ------------------------------------------------------------------------------------------ subject access


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (D(2024, 9, 3), D(2024, 10, 3)),  # ICO example: 3 September -> 3 October (Thu)
        (D(2025, 8, 1), D(2025, 9, 1)),  # ICO: received 1 Aug (even at 23:59) -> 1 Sep (Mon)
        (D(2023, 1, 30), D(2023, 2, 28)),  # ICO: 30 Jan -> 28 Feb (no 30 Feb; non-leap)
        (D(2024, 1, 31), D(2024, 2, 29)),  # leap year: last day of February is the 29th
        (D(2023, 1, 31), D(2023, 2, 28)),
        (D(2025, 8, 31), D(2025, 9, 30)),  # Sunday receipt counts; no 31 Sep -> Tue 30 Sep
        (D(2024, 11, 30), D(2024, 12, 30)),  # Saturday receipt -> Mon 30 Dec (a working day)
        # 25 Nov 2022 -> Sun 25 Dec: not a working day; 26 Boxing Day, 27 Christmas substitute -> Wed 28 Dec.
        (D(2022, 11, 25), D(2022, 12, 28)),
        # 29 Feb 2024 -> Fri 29 Mar 2024 is Good Friday; Sat, Sun, Mon 1 Apr Easter Monday (England) -> Tue 2 Apr.
        (D(2024, 2, 29), D(2024, 4, 2)),
        # 24 Apr 2022 -> Tue 24 May (working): no roll.
        (D(2022, 4, 24), D(2022, 5, 24)),
    ],
)
def test_subject_access_one_calendar_month(engine: DeadlineEngine, received: date, expected: date) -> None:
    assert due(engine, "sar", received).due == expected


def test_subject_access_uses_the_authoritys_nation() -> None:
    # 29 Feb 2024 -> Fri 29 Mar (Good Friday); in Scotland Easter Monday is a working day -> Mon 1 Apr 2024.
    scot = DeadlineEngine(nation="scotland")
    assert due(scot, "sar", D(2024, 2, 29)).due == D(2024, 4, 1)
    # 12 Jun 2022 -> Tue 12 Jul 2022: a working day in England, a bank holiday in NI -> Wed 13 Jul.
    assert due(DeadlineEngine(nation="england"), "sar", D(2022, 6, 12)).due == D(2022, 7, 12)
    assert due(DeadlineEngine(nation="northern-ireland"), "sar", D(2022, 6, 12)).due == D(2022, 7, 13)


@pytest.mark.parametrize(
    ("received", "extended"),
    [
        (D(2024, 1, 31), D(2024, 4, 30)),  # three months from receipt: no 31 Apr -> Tue 30 Apr
        (D(2025, 11, 30), D(2026, 3, 2)),  # -> Sat 28 Feb 2026 (no 30 Feb) -> Mon 2 Mar
        (D(2025, 12, 1), D(2026, 3, 2)),  # -> Sun 1 Mar 2026 -> Mon 2 Mar
    ],
)
def test_subject_access_extension_by_two_months(engine: DeadlineEngine, received: date, extended: date) -> None:
    r = due(engine, "sar", received, extension="sar")
    assert r.extended_due == extended and r.extension == "sar"


def test_subject_access_ignores_the_receipt_rule(engine_nwd: DeadlineEngine) -> None:
    # ICO: from the day of receipt "whether it's a working day or not": Sunday 31 Aug 2025 -> Tue 30 Sep.
    assert due(engine_nwd, "sar", D(2025, 8, 31)).due == D(2025, 9, 30)


# ------------------------------------------------------------------------------------------ internal review


def test_internal_review(engine: DeadlineEngine) -> None:
    # Requested Mon 3 Mar 2025: Mar 4-7 = 4; 10-14 = 9; (Mon 17 Mar St Patrick's Day, NI) 18-21 = 13;
    # 24-28 = 18; 31 = 19; Tue 1 Apr = 20. 40 at most: Apr 2-4 = 23; 7-11 = 28; 14-17 = 32 (18 Good Friday,
    # 21 Easter Monday); 22-25 = 36; 28-30 = 39; Thu 1 May = 40.
    r = due(engine, "foia", D(2025, 1, 3), review_requested=D(2025, 3, 3))
    assert (r.review_due, r.review_latest) == (D(2025, 4, 1), D(2025, 5, 1))
    late = due(engine, "foia", D(2025, 1, 3), review_requested=D(2025, 3, 3), review_completed=D(2025, 5, 2))
    assert "review_late" in late.flags
    # FOISA s.21(1): 20 working days is the statutory limit, not a target. Scotland works on 17 Mar:
    # Mar 4-7 = 4; 10-14 = 9; 17-21 = 14; 24-28 = 19; Mon 31 Mar = 20.
    s = due(engine, "foisa", D(2025, 1, 3), review_requested=D(2025, 3, 3))
    assert (s.review_due, s.review_latest) == (D(2025, 3, 31), D(2025, 3, 31))
    # EIR reg 11(4): 40 working days is statutory.
    assert due(engine, "eir", D(2025, 1, 3), review_requested=D(2025, 3, 3)).review_latest == D(2025, 5, 1)
    assert due(engine, "sar", D(2025, 1, 3), review_requested=D(2025, 3, 3)).review_due is None


# ------------------------------------------------------------------------------------------ explanation


def test_explanation_names_the_holidays_skipped(engine: DeadlineEngine) -> None:
    r = due(engine, "foia", D(2022, 12, 24))
    text = "\n".join(r.explanation)
    assert "Received Sat 24 Dec 2022 (non-working day: weekend; ICO reading: day 0 is the arrival date)" in text
    assert "Skipped: 26 Dec 2022 Boxing Day, 27 Dec 2022 Christmas Day (substitute)" in text
    assert "Due: day 20 is Thu 26 Jan 2023" in text


def test_out_of_range_year_is_refused(engine: DeadlineEngine) -> None:
    from connector.deadlines import OutOfRangeError

    with pytest.raises(OutOfRangeError, match="2000-2100"):
        due(engine, "foia", D(1999, 12, 1))


# ------------------------------------------------------------------------------------------ brute-force oracle


def _oracle_due(received: date, non_working: set[date], next_working_day: bool) -> date:
    """The statute read literally, one day at a time, with no shared code: the 20th working day after receipt."""

    def working(d: date) -> bool:
        return d.weekday() < 5 and d not in non_working

    day0 = received
    if next_working_day:
        while not working(day0):
            day0 += timedelta(days=1)
    d, count = day0, 0
    while count < 20:
        d += timedelta(days=1)
        count += working(d)
    return d


def test_random_dates_agree_with_a_brute_force_reading_of_the_statute(engine, engine_nwd) -> None:
    import random

    import holidays
    from dateutil.easter import easter

    years = range(1999, 2038)
    union: set[date] = set()
    for subdiv in ("ENG", "WLS", "SCT", "NIR"):
        union |= set(holidays.country_holidays("GB", subdiv=subdiv, years=years))
    union |= {date(y, 12, 25) for y in years} | {easter(y) - timedelta(days=2) for y in years}
    scotland = set(holidays.country_holidays("GB", subdiv="SCT", years=years)) | {date(y, 12, 25) for y in years}
    rnd = random.Random(20)
    for _ in range(400):
        received = date(2000, 1, 1) + timedelta(days=rnd.randrange(365 * 36))
        for eng, nwd in ((engine, False), (engine_nwd, True)):
            assert due(eng, "foia", received).due == _oracle_due(received, union, nwd), (received, nwd)
            assert due(eng, "foisa", received).due == _oracle_due(received, scotland, nwd), (received, nwd)
