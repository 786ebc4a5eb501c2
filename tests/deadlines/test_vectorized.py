"""The vectorized path (numpy busday functions over a DataFrame) agrees exactly with the single-case path."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.deadlines import ClockInput, DeadlineEngine
from connector.model import LONDON, FoiCase, Regime

ENGINES = {
    (rule, nation): DeadlineEngine(receipt_rule=rule, nation=nation)
    for rule in ("arrival", "next-working-day")
    for nation in ("england", "scotland", "northern-ireland", "wales")
}


@st.composite
def clock_rows(draw: st.DrawFn) -> dict:
    regime = draw(st.sampled_from(["foia", "eir", "foisa", "eisr", "sar"]))
    received_at = draw(
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC))
    )
    received = received_at.astimezone(LONDON).date()

    def maybe_after(base: date, lo: int, hi: int) -> date | None:
        return draw(st.one_of(st.none(), st.integers(lo, hi).map(lambda n: base + timedelta(days=n))))

    clar = maybe_after(received, -5, 60)  # occasionally before receipt: must be ignored the same way
    asked = maybe_after(received, -2, 50)  # SAR from 5 Feb 2026: the days from asking to the answer do not count
    notice = maybe_after(received, -3, 45)
    paid = maybe_after(notice, -2, 120) if notice else None
    ext = draw(st.sampled_from([None, None, "pit", "eir", "sar"]))
    until = maybe_after(received, 20, 100) if ext == "pit" else None
    return {
        "regime": regime,
        "received_at": received_at,
        "received": received,
        "clarification_received": clar,
        "clarification_requested": asked,
        "fee_notice": notice,
        "fee_paid": paid,
        "extension": ext,
        "extension_until": until,
    }


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows).drop(columns=["received"])
    df["received_at"] = pd.to_datetime(df["received_at"], utc=True)
    return df


def _single(engine: DeadlineEngine, row: dict, as_of: date):
    ci = ClockInput(
        regime=Regime(row["regime"]),
        received=row["received"],
        received_at=row["received_at"],
        clarification_received=row["clarification_received"],
        clarification_requested=row["clarification_requested"],
        fee_notice=row["fee_notice"],
        fee_paid=row["fee_paid"],
        extension=row["extension"],
        extension_until=row["extension_until"],
        extension_count=1 if row["extension"] else 0,
    )
    return engine.compute_clock(ci, as_of=as_of)


def _d(value: object) -> date | None:
    return None if pd.isna(value) else pd.Timestamp(value).date()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(clock_rows(), min_size=1, max_size=40),
    rule=st.sampled_from(["arrival", "next-working-day"]),
    nation=st.sampled_from(["england", "scotland", "northern-ireland", "wales"]),
    as_of=st.dates(min_value=date(2000, 1, 1), max_value=date(2036, 6, 30)),
)
def test_vectorized_agrees_with_single_case(rows: list[dict], rule: str, nation: str, as_of: date) -> None:
    engine = ENGINES[(rule, nation)]
    out = engine.compute_frame(_frame(rows), as_of=as_of)
    for i, row in enumerate(rows):
        r = _single(engine, row, as_of)
        got = out.iloc[i]
        assert got["error"] is None
        assert _d(got["day0"]) == r.day0, (i, row)
        assert _d(got["due"]) == r.due, (i, row)
        assert _d(got["extended_due"]) == r.extended_due, (i, row)
        assert int(got["paused_working_days"]) == r.paused_working_days, (i, row)
        assert bool(got["lapsed"]) == r.lapsed, (i, row)


def test_output_columns_and_dtypes(engine: DeadlineEngine) -> None:
    df = pd.DataFrame(
        {"regime": ["foia", "eir"], "received_at": pd.to_datetime(["2025-01-03T10:00Z", "2025-01-03T10:00Z"], utc=True)}
    )
    out = engine.compute_frame(df, as_of=date(2025, 2, 1))
    assert list(out.columns[:3]) == ["day0", "due", "extended_due"]
    assert all(str(out[c].dtype) == "datetime64[ns]" for c in ("day0", "due", "extended_due"))
    assert out["extended_due"].isna().all()
    assert list(out["due"].dt.date) == [date(2025, 1, 31)] * 2


def test_received_at_as_iso_strings_and_python_datetimes(engine: DeadlineEngine) -> None:
    # 23:30 UTC on 31 Mar 2025 is 00:30 BST on 1 Apr: day 0 is 1 April (FOIA due Thu 1 May 2025).
    as_text = pd.DataFrame({"regime": ["foia"], "received_at": ["2025-03-31T23:30:00+00:00"]})
    as_obj = pd.DataFrame({"regime": ["foia"], "received_at": [datetime(2025, 3, 31, 23, 30, tzinfo=UTC)]})
    as_date = pd.DataFrame({"regime": ["foia"], "received_at": ["2025-04-01"]})
    for df in (as_text, as_obj, as_date):
        out = engine.compute_frame(df, as_of=date(2025, 6, 1))
        assert out["day0"].iloc[0].date() == date(2025, 4, 1)
        assert out["due"].iloc[0].date() == date(2025, 5, 1)


def test_bad_rows_get_an_error_and_never_stop_the_others(engine: DeadlineEngine) -> None:
    df = pd.DataFrame(
        {
            "regime": ["foia", "nonsense", "foia", "foia", "foia"],
            "received_at": ["2025-01-03T10:00:00Z", "2025-01-03T10:00:00Z", "2025-01-03T10:00:00", None, "1850-01-01"],
        }
    )
    out = engine.compute_frame(df, as_of=date(2025, 2, 1))
    assert out["due"].iloc[0].date() == date(2025, 1, 31) and out["error"].iloc[0] is None
    assert "regime" in out["error"].iloc[1]
    assert "time zone" in out["error"].iloc[2]  # naive date-time: refused, like FoiCase
    assert "missing" in out["error"].iloc[3]
    assert "outside" in out["error"].iloc[4]
    assert out["due"].iloc[1:].isna().all()
    typo = pd.DataFrame({"regime": ["foia"], "received_at": ["2025-01-03T10:00:00Z"], "fee_notice": ["2205-01-06"]})
    assert "fee_notice is outside" in engine.compute_frame(typo, as_of=date(2025, 2, 1))["error"].iloc[0]


def _case(ref: str, regime: str, received_at: datetime, events: list[dict]) -> FoiCase:
    return FoiCase(
        reference=ref,
        regime=regime,
        received_at=received_at,
        channel="email",
        requester={"name": "A Requester", "email": "a@example.org"},
        subject="Test",
        request_text="Please send",
        clock_events=events,
    )


@pytest.mark.parametrize("rule", ["arrival", "next-working-day"])
def test_compute_on_foicase_matches_frame(rule: str) -> None:
    engine = ENGINES[(rule, "england")]
    cases = [
        _case("A", "foia", datetime(2022, 12, 24, 9, tzinfo=UTC), []),
        _case(
            "B",
            "foia",
            datetime(2025, 1, 3, 9, tzinfo=UTC),
            [
                {"kind": "fee_notice_issued", "on": "2025-01-06"},
                {"kind": "fee_paid", "on": "2025-01-08"},
                {"kind": "extension_pit", "on": "2025-01-20", "until": "2025-03-14"},
            ],
        ),
        _case(
            "C",
            "eir",
            datetime(2025, 1, 4, 23, 30, tzinfo=UTC),
            [
                {"kind": "clarification_requested", "on": "2025-01-08"},
                {"kind": "clarification_received", "on": "2025-01-18"},
                {"kind": "extension_eir", "on": "2025-01-30"},
            ],
        ),
        _case("D", "sar", datetime(2024, 2, 29, 12, tzinfo=UTC), [{"kind": "extension_sar", "on": "2024-03-01"}]),
        _case("E", "foisa", datetime(2024, 3, 29, 12, tzinfo=UTC), []),
    ]
    frame = pd.DataFrame(
        {
            "regime": [c.regime.value for c in cases],
            "received_at": pd.to_datetime([c.received_at for c in cases], utc=True),
            "clarification_received": [ClockInput.from_case(c).clarification_received for c in cases],
            "fee_notice": [ClockInput.from_case(c).fee_notice for c in cases],
            "fee_paid": [ClockInput.from_case(c).fee_paid for c in cases],
            "extension": [ClockInput.from_case(c).extension for c in cases],
            "extension_until": [ClockInput.from_case(c).extension_until for c in cases],
        }
    )
    out = engine.compute_frame(frame, as_of=date(2026, 1, 1))
    for i, case in enumerate(cases):
        r = engine.compute(case, as_of=date(2026, 1, 1))
        assert (_d(out["due"].iloc[i]), _d(out["extended_due"].iloc[i])) == (r.due, r.extended_due), case.reference
