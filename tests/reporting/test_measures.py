"""Every measure on the hand-worked fixture tests/reporting/fixtures/cases_q1_2025.csv.

The answers below were worked out by hand, not by running the code. Conventions used:
- calendar: FOIA/EIR working days exclude weekends and the union of UK bank holidays; in Q1 2025 that removes
  Wed 1 Jan, Thu 2 Jan (Scotland) and Mon 17 Mar (Northern Ireland); Good Friday 18 Apr and Easter Monday 21 Apr;
- period 2025-Q1 = cases received 1 Jan to 31 Mar 2025 (calendar quarter): c01-c15 and c17-c20 (19 cases);
  c16 (received 16 Dec 2024) counts only through its internal review (requested 20 Jan) and ICO complaint (5 Mar);
- as at Thursday 10 April 2025; due soon = within 5 working days.

Per case (FOI and EIR in Q1; c14 is the one SAR):
  case regime  received   due        ext.due    responded  timeliness      outcome          WD to respond
  c01  FOIA    06 Jan     03 Feb     -          20 Jan     met             granted           10
  c02  FOIA    06 Jan     03 Feb     -          10 Feb     late            partial           25
  c03  FOIA    13 Jan     10 Feb     10 Mar pit 03 Mar     extension       withheld (exmp.)  35 (PIT: 15 beyond)
  c04  EIR     20 Jan     17 Feb     18 Mar eir 20 Mar     late            partial           42 (17 Mar skipped)
  c05  FOIA    03 Feb     03 Mar     -          28 Feb     met             not held          19
  c06  FOIA    03 Feb     03 Mar     -          14 Feb     met             cost limit         9
  c07  FOIA    10 Feb     10 Mar     -          10 Mar     met (on due)    vexatious         20
  c08  FOIA    17 Feb     18 Mar     -          open       late (overdue 17 WD on 10 Apr)
  c09  FOIA    10 Mar     08 Apr     -          open       late (overdue 2 WD)
  c10  FOIA    24 Mar     23 Apr     -          open       not yet due (7 WD left)
  c11  EIR     14 Mar     14 Apr     -          open       not yet due (2 WD left: due soon)
  c12  FOIA    20 Mar     17 Apr     -          on hold (clarification requested: clock stopped)
  c13  FOIA    27 Jan     -          -          withdrawn/lapsed
  c15  FOIA    03 Mar     (blank ->  computed 01 Apr by the engine) 28 Mar met  granted   18
  c17  FOIA    03 Feb     03 Mar     -          20 Feb     met             withheld (s21)    13
  c18  FOIA    24 Feb     25 Mar     22 Apr pit 03 Apr     extension       partial           27 (PIT: 7 beyond)
  c19  FOIA    05 Mar     03 Apr     -          12 Mar     met             advice             5
  c20  EIR     08 Jan     05 Feb     -          05 Feb     met             (not recorded)    20
  c14  SAR     15 Jan     15 Feb     -          12 Feb     met             granted           20
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest

from connector.reporting import categories as C
from connector.reporting import compute_measures

TODAY = date(2025, 4, 10)  # as in conftest.py


def _row(df: pd.DataFrame, key_col: str, key: str) -> dict[str, Any]:
    found = df[df[key_col] == key]
    assert len(found) == 1, f"no single row {key_col}={key}"
    return found.iloc[0].to_dict()


def _summary(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    return dict(zip(tables["summary"]["Measure"], tables["summary"]["Value"], strict=True))


def test_volumes_by_regime_channel_service_area_requester_type(q1_tables: dict[str, pd.DataFrame]) -> None:
    reg = q1_tables["volumes_by_regime"].set_index("Regime")[C.TOTAL].to_dict()
    assert reg == {"EIR": 3, "FOIA": 15, "SAR": 1, "All requests": 19}
    chan = q1_tables["volumes_by_channel"].set_index("Channel")[C.TOTAL].to_dict()
    assert chan == {"Email": 14, "Phone": 1, "Post": 1, "Web form": 2, "WhatDoTheyKnow": 1, "All requests": 19}
    area = q1_tables["volumes_by_service_area"].set_index("Service area")[C.TOTAL].to_dict()
    assert area == {
        "Adult Social Care": 1,
        "Finance": 4,
        "Highways": 5,
        "Housing": 4,
        "Planning": 5,
        "All requests": 19,
    }
    rt = q1_tables["volumes_by_requester_type"].set_index("Requester type")[C.TOTAL].to_dict()
    assert rt["Member of public"] == 10 and rt["Journalist"] == 3 and rt["Business"] == 2
    assert rt["Campaign group"] == rt["Elected member"] == rt["Researcher"] == rt["Other"] == 1
    # status split: FOIA 15 = 10 processed (c01-03,05-07,15,17-19) + 2 on hold (c12,c13) + 3 open (c08-10)
    foia = _row(q1_tables["volumes_by_regime"], "Regime", "FOIA")
    assert (foia[C.PROCESSED], foia[C.ON_HOLD], foia[C.STILL_PROCESSING]) == (10, 2, 3)
    assert _row(q1_tables["volumes_by_regime"], "Regime", "All requests")["Percentage of all requests"] == 100.0


def test_timeliness_counts_percentages_and_ico_flag(q1_tables: dict[str, pd.DataFrame]) -> None:
    allinfo = _row(q1_tables["timeliness_by_regime"], "Regime", C.ALL_INFO)
    # met: c01 c05 c06 c07 c15 c17 c19 c20; extension: c03 c18; late: c02 c04 (responded late) c08 c09 (overdue)
    assert allinfo[C.TOTAL] == 18 and allinfo[C.ON_HOLD] == 2 and allinfo[C.TOTAL_EXCL] == 16
    assert (allinfo[C.MET], allinfo[C.EXTENDED], allinfo[C.LATE], allinfo[C.NOT_YET_DUE]) == (8, 2, 4, 2)
    assert allinfo[C.PCT_MET] == 57.1  # 8 / 14
    assert allinfo[C.PCT_IN_TIME] == 71.4  # 10 / 14
    assert allinfo[C.ICO_FLAG] == "No"
    eir = _row(q1_tables["timeliness_by_regime"], "Regime", "EIR")
    assert (eir[C.MET], eir[C.EXTENDED], eir[C.LATE], eir[C.NOT_YET_DUE]) == (1, 0, 1, 1)  # c20 / - / c04 / c11
    sar = _row(q1_tables["timeliness_by_regime"], "Regime", "SAR")
    assert sar[C.MET] == 1 and sar[C.ICO_FLAG] == "Yes"
    s = _summary(q1_tables)
    assert s[C.PCT_IN_TIME] == 71.4 and s[C.ICO_FLAG] == "No"
    assert s[C.PROCESSED] == 12 and s[C.STILL_PROCESSING] == 4


def test_timeliness_by_team(q1_tables: dict[str, pd.DataFrame]) -> None:
    t = q1_tables["timeliness_by_team"]
    a = _row(t, "Team", "Team A")  # c01 met, c02 late, c07 met, c08 late, c13 lapsed, c15 met
    assert (a[C.MET], a[C.EXTENDED], a[C.LATE], a[C.PCT_IN_TIME]) == (3, 0, 2, 60.0)
    b = _row(t, "Team", "Team B")  # c03 ext, c04 late, c09 late, c10 not due, c17 met, c18 ext
    assert (b[C.MET], b[C.EXTENDED], b[C.LATE], b[C.PCT_MET], b[C.PCT_IN_TIME]) == (1, 2, 2, 20.0, 60.0)
    c = _row(t, "Team", "Team C")  # c05 c06 c20 met, c11 not due, c12 on hold
    assert (c[C.MET], c[C.PCT_IN_TIME], c[C.ICO_FLAG]) == (3, 100.0, "Yes")
    assert _row(t, "Team", "Team D")[C.TOTAL] == 1  # c19 only: the SAR c14 is not an FOI/EIR request


def test_ico_threshold_boundary_is_90_percent_inclusive(engine: Any) -> None:
    # 9 met + 1 late = 90.0% -> meets; 8 met + 1 extension + 2 late = 81.8% -> does not.
    rows = [
        {
            "crm_id": f"x{i}",
            "regime": "foia",
            "stage": "closed",
            "received_date": "2025-01-06",
            "due_date": "2025-02-03",
            "responded_date": "2025-01-20" if i < 9 else "2025-02-10",
        }
        for i in range(10)
    ]
    t = compute_measures(pd.DataFrame(rows), "2025-Q1", today=TODAY, engine=engine)
    allinfo = _row(t["timeliness_by_regime"], "Regime", C.ALL_INFO)
    assert allinfo[C.PCT_IN_TIME] == 90.0 and allinfo[C.ICO_FLAG] == "Yes"
    rows[8]["responded_date"] = "2025-02-10"
    t = compute_measures(pd.DataFrame(rows), "2025-Q1", today=TODAY, engine=engine)
    assert _row(t["timeliness_by_regime"], "Regime", C.ALL_INFO)[C.ICO_FLAG] == "No"


def test_outcomes_and_refusal_reasons(q1_tables: dict[str, pd.DataFrame]) -> None:
    o = _row(q1_tables["outcomes"], "Regime", C.ALL_INFO)
    assert o[C.TOTAL_EXCL] == 16
    assert o[C.ADVICE] == 1 and o[C.NOT_HELD] == 1  # c19, c05
    assert o[C.RESOLVABLE] == 14  # 16 - 1 - 1, as in the Cabinet Office tables
    assert o[C.GRANTED] == 2  # c01 c15
    assert o[C.PARTIAL] == 3  # c02 c04 c18
    assert o[C.WITHHELD] == 4  # c03 c17 (exemption), c06 (cost), c07 (vexatious)
    assert o[C.NOT_YET_PROVIDED] == 4  # c08-c11
    assert o[C.OUTCOME_NOT_RECORDED] == 1  # c20
    assert (o[C.REFUSED_EXEMPTION], o[C.REFUSED_COST], o[C.REFUSED_VEXATIOUS], o[C.REFUSED_REPEATED]) == (2, 1, 1, 0)
    assert o[C.PCT_GRANTED] == 14.3 and o[C.PCT_WITHHELD] == 28.6  # 2/14, 4/14
    assert o[C.GRANTED] + o[C.PARTIAL] + o[C.WITHHELD] + o[C.NOT_YET_PROVIDED] + o[C.OUTCOME_NOT_RECORDED] == 14


def test_exemptions_counted_once_per_use_per_section(q1_tables: dict[str, pd.DataFrame]) -> None:
    ex = q1_tables["exemptions"]
    uses = {r: n for r, n in zip(ex["Exemption or exception"], ex["Uses"], strict=True) if n}
    assert uses == {
        C.FOIA_EXEMPTIONS["40"]: 2,  # c02 s40(2), c18 s40(2)
        C.FOIA_EXEMPTIONS["43"]: 2,  # c02 s43, c03 s43 + s43(2) = one use
        C.FOIA_EXEMPTIONS["36"]: 1,  # c18
        C.EIR_EXCEPTIONS["3(a)"]: 1,  # c04 reg13
        C.EIR_EXCEPTIONS["4(b)"]: 1,  # c04 reg12(4)(b)
        C.EIR_EXCEPTIONS["5(e)"]: 1,  # c20 reg12(5)(e)
    }
    # every Cabinet Office FOIA/EIR category is listed, zero or not, in the published order
    assert list(ex["Exemption or exception"][:23]) == list(C.FOIA_EXEMPTIONS.values())
    s = _summary(q1_tables)
    assert s[C.TOTAL_EXEMPTIONS] == 8
    assert s[C.REQUESTS_WITH_EXEMPTION] == 5  # c02 c03 c04 c18 c20 (c17 cites s21 only)
    assert (s[C.S21_TOTAL], s[C.S21_FULLY], s[C.S21_PARTLY], s[C.S21_MET], s[C.S21_LATE]) == (1, 1, 0, 1, 0)


def test_exemption_codes_follow_the_regime() -> None:
    assert C.classify_exemption("s30", "foia") == ("FOIA", C.FOIA_EXEMPTIONS["30"])
    assert C.classify_exemption("s30(b)(i)", "foisa") == (
        "FOISA",
        "Substantial inhibition to free and frank provision of advice",
    )
    assert C.classify_exemption("s38(1)(b)", "foisa")[1] == "Third party personal data - FOI"
    assert C.classify_exemption("reg12(3)", "eir")[1] == C.EIR_EXCEPTIONS["3(a)"]
    assert C.classify_exemption("reg10(5)(e)", "eisr")[0] == "EISR"
    assert C.classify_exemption("s12", "foia") == ("Other", "s12")  # cost limit is an outcome, not an exemption


def test_internal_reviews_and_ico_complaints(q1_tables: dict[str, pd.DataFrame]) -> None:
    ir = _row(q1_tables["internal_reviews"], "Regime", C.ALL_INFO)
    # requested in Q1: c16 (20 Jan, upheld), c17 (25 Feb, overturned)
    assert (ir[C.IR_TOTAL], ir[C.IR_KNOWN], ir[C.IR_UPHELD], ir[C.IR_PART], ir[C.IR_OVERTURNED]) == (2, 2, 1, 0, 1)
    assert ir[C.IR_PCT_UPHELD] == 50.0
    ico = _row(q1_tables["ico_complaints"], "Regime", C.ALL_INFO)
    assert (ico[C.ICO_TOTAL], ico[C.ICO_KNOWN], ico[C.ICO_PART], ico[C.ICO_PCT_UPHELD]) == (1, 1, 1, 0.0)  # c16


def test_pit_and_internal_review_duration_buckets(q1_tables: dict[str, pd.DataFrame]) -> None:
    pit = q1_tables["pit_extension_durations"].set_index("Working days")["PIT extensions completed"]
    assert list(pit.index) == [
        "5 or Less",
        "6 to 10",
        "11 to 15",
        "16 to 20",
        "21 to 30",
        "31 to 40",
        "41 to 60",
        "61 to 80",
        "81 to 100",
        "More than 100",
    ]
    # c03: 15 WD beyond its 10 Feb deadline (11 Feb .. 3 Mar); c18: 7 WD beyond 25 Mar (26 Mar .. 3 Apr)
    assert pit["11 to 15"] == 1 and pit["6 to 10"] == 1 and pit.sum() == 2
    ir = q1_tables["internal_review_durations"].set_index("Working days")["Internal reviews completed"]
    assert list(ir.index) == [
        "10 or less",
        "11 to 20",
        "21 to 40",
        "41 to 60",
        "61 to 80",
        "81 to 100",
        "More than 100",
    ]
    # completed in Q1: only c16, 20 Jan -> 14 Feb = 19 WD (c17 completes 4 Apr, next quarter)
    assert ir["11 to 20"] == 1 and ir.sum() == 1
    s = _summary(q1_tables)
    assert (s[C.PIT_TOTAL], s[C.PIT_COMPLETED], s[C.IR_COMPLETED]) == (2, 2, 1)


def test_median_and_spread_of_working_days_to_respond(q1_tables: dict[str, pd.DataFrame]) -> None:
    rt = _row(q1_tables["response_times"], "Regime", C.ALL_INFO)
    # sorted: 5 9 10 13 18 19 20 20 25 27 35 42 -> median (19+20)/2; quartiles by linear interpolation
    assert rt[C.PROCESSED] == 12
    assert rt["Median working days to respond"] == 19.5
    assert rt["Lower quartile (working days)"] == 12.25  # 10 + 0.75 * (13 - 10)
    assert rt["Upper quartile (working days)"] == 25.5  # 25 + 0.25 * (27 - 25)
    assert rt["Interquartile range (working days)"] == 13.25
    assert (rt["Minimum working days"], rt["Maximum working days"]) == (5.0, 42.0)
    assert rt["Mean working days"] == pytest.approx(20.25, abs=0.051)  # 243 / 12
    foia = _row(q1_tables["response_times"], "Regime", "FOIA")
    assert foia["Median working days to respond"] == 18.5  # without c04 (42) and c20 (20)
    bands = _row(q1_tables["response_time_bands"], "Regime", C.ALL_INFO)
    assert [bands[b] for b in C.bucket_labels(C.RESPONSE_BANDS)] == [0, 1, 2, 1, 2, 2, 4]


def test_open_caseload_due_soon_and_overdue_lists(q1_tables: dict[str, pd.DataFrame]) -> None:
    oc = q1_tables["open_caseload"].set_index("Team")
    # open on 10 Apr: c08 (A, overdue), c09 (B, overdue), c10 (B, 7 WD left), c11 (C, 2 WD left), c12 (C, paused)
    assert oc.loc["Team A"].to_dict() == {
        "Open cases": 1,
        "Due soon": 0,
        "Overdue": 1,
        "Clock stopped (clarification or fee)": 0,
    }
    assert oc.loc["Team B", "Open cases"] == 2 and oc.loc["Team B", "Overdue"] == 1
    assert oc.loc["Team C", "Due soon"] == 1 and oc.loc["Team C", "Clock stopped (clarification or fee)"] == 1
    assert oc.loc["All teams"].tolist() == [5, 1, 2, 1]
    overdue = q1_tables["overdue"]
    assert overdue["Reference"].tolist() == ["FOI/2025/0008", "FOI/2025/0009"]
    assert overdue["Working days overdue"].tolist() == [17, 2]  # 19 Mar..10 Apr; 9-10 Apr
    assert overdue["Due"].tolist() == [date(2025, 3, 18), date(2025, 4, 8)]
    soon = q1_tables["due_soon"]
    assert soon["Reference"].tolist() == ["EIR/2025/0011"] and soon["Working days remaining"].tolist() == [2]
    # references only: no requester data columns in the lists
    assert set(overdue.columns) == {"Team", "Reference", "Regime", "Stage", "Received", "Due", "Working days overdue"}


def test_open_caseload_by_stage_in_the_order_a_case_moves(q1_tables: dict[str, pd.DataFrame]) -> None:
    """Hand-worked from the fixture: open on 10 Apr are c10 (acknowledged, 7 WD left), c12 (clarification requested,
    clock stopped), and c08, c09 (in progress, overdue) and c11 (in progress, 2 WD left: due soon)."""
    by_stage = q1_tables["open_caseload_by_stage"]
    assert by_stage.columns.tolist() == [
        "Stage",
        "Open cases",
        "Due soon",
        "Overdue",
        "Clock stopped (clarification or fee)",
    ]
    assert by_stage.values.tolist() == [
        ["Acknowledged", 1, 0, 0, 0],
        ["Clarification requested", 1, 0, 0, 1],
        ["In progress", 3, 1, 2, 0],
        ["All stages", 5, 1, 2, 1],
    ]


def test_monthly_and_quarterly_trends(q1_tables: dict[str, pd.DataFrame]) -> None:
    m = q1_tables["monthly_trend"].set_index("Month")
    assert list(m.index) == ["2025-01", "2025-02", "2025-03"]
    assert m[C.TOTAL].tolist() == [6, 6, 6]
    assert m[C.PCT_IN_TIME].tolist() == [60.0, 83.3, 66.7]  # 3/5, 5/6, 2/3
    q = q1_tables["quarterly_trend"]
    assert q["Quarter"].tolist() == ["2025-Q1"] and q[C.PCT_IN_TIME].tolist() == [71.4]


def test_missing_due_date_is_computed_by_the_deadline_engine(
    q1_tables: dict[str, pd.DataFrame], fixture_frame: pd.DataFrame, engine: Any
) -> None:
    from connector.reporting.measures import prepare
    from connector.reporting.store import cases_frame

    prepared = prepare(cases_frame(fixture_frame), TODAY, engine).set_index("crm_id")
    assert prepared.loc["c15", "due_date"] == pd.Timestamp("2025-04-01")  # 3 Mar + 20 WD, 17 Mar skipped


def test_vectorised_working_days_agree_with_the_calendar(engine: Any) -> None:
    from connector.reporting.measures import WorkingDays

    rng = np.random.default_rng(7)
    start = pd.Series(pd.Timestamp("2024-11-01") + pd.to_timedelta(rng.integers(0, 400, 300), unit="D"))
    end = start + pd.to_timedelta(rng.integers(-10, 120, 300), unit="D")
    regime = pd.Series(rng.choice(["foia", "eir", "foisa", "sar"], 300))
    got = WorkingDays(engine).between(start, end, regime)
    for s, e, r, g in zip(start, end, regime, got, strict=True):
        assert g == engine.calendar(r).working_days_between(s.date(), e.date()), (s, e, r)


def test_scottish_statistics_use_the_commissioners_columns(engine: Any) -> None:
    rows = [
        {
            "crm_id": "s1",
            "regime": "foisa",
            "stage": "closed",
            "outcome": "granted_in_full",
            "received_date": "2025-01-06",
            "responded_date": "2025-01-10",
            "due_date": "2025-02-03",
        },
        {
            "crm_id": "s2",
            "regime": "eisr",
            "stage": "closed",
            "outcome": "vexatious",
            "received_date": "2025-01-06",
            "responded_date": "2025-02-20",
            "due_date": "2025-02-03",
        },
        {
            "crm_id": "s3",
            "regime": "foisa",
            "stage": "in_progress",
            "received_date": "2025-01-06",
            "due_date": "2025-02-03",
        },
    ]
    t = compute_measures(pd.DataFrame(rows), "2025-Q1", today=TODAY, engine=engine)
    sic = dict(zip(t["sic_statistics"]["Measure"], t["sic_statistics"]["Value"], strict=True))
    assert sic["FOISA requests"] == 2 and sic["FOISA response on time"] == 1
    assert sic["FOISA - faliure to respond"] == 1  # [sic]: the portal's own spelling
    assert sic["EIRs response late"] == 1 and sic["EIRs - manifestly unreasonable"] == 1


def test_period_filters_by_date_received(fixture_frame: pd.DataFrame, engine: Any) -> None:
    t = compute_measures(fixture_frame, "2025-01", today=TODAY, engine=engine)
    assert _summary(t)[C.TOTAL + " (all regimes, including SAR)"] == 7  # c01-c04, c13, c14, c20
    t = compute_measures(fixture_frame, None, today=TODAY, engine=engine)
    assert _summary(t)[C.TOTAL + " (all regimes, including SAR)"] == 20
    assert _summary(t)["Period (by date received)"] == "all (2024-12-16 to 2025-03-24)"


def test_an_empty_store_still_gives_every_table(engine: Any) -> None:
    t = compute_measures(pd.DataFrame(), "2025-Q1", today=TODAY, engine=engine)
    assert {"summary", "timeliness_by_regime", "outcomes", "exemptions", "open_caseload", "overdue"} <= set(t)
    s = _summary(t)
    assert s[C.TOTAL + " (all regimes, including SAR)"] == 0 and s[C.ICO_FLAG] == "n/a"
    assert t["overdue"].empty and t["open_caseload"]["Open cases"].tolist() == [0]
    assert t["open_caseload_by_stage"].values.tolist() == [["All stages", 0, 0, 0, 0]]
