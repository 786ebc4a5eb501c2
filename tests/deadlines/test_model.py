"""The case model: per-field errors a person can act on, never echoing requester data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from connector.deadlines import ClockInput
from connector.model import ClockEvent, ClockEventKind, FoiCase, case_errors

SECRET_NAME, SECRET_EMAIL, SECRET_TEXT = "Jane Q Requester", "jane.secret@example.org", "my private question"


def base(**kw: object) -> dict:
    data: dict = {
        "reference": "FOI-2025-0001",
        "regime": "foia",
        "received_at": datetime(2025, 1, 3, 9, 30, tzinfo=UTC),
        "channel": "email",
        "requester": {"name": SECRET_NAME, "email": SECRET_EMAIL, "type": "journalist"},
        "subject": "Potholes",
        "request_text": SECRET_TEXT,
    }
    data.update(kw)
    return data


def errors_of(**kw: object) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        FoiCase(**base(**kw))
    found = case_errors(info.value)
    for _, message in found:
        assert SECRET_NAME not in message and SECRET_EMAIL not in message and SECRET_TEXT not in message
    return found


def test_received_date_is_taken_in_london() -> None:
    # 23:30 UTC on 31 Mar 2025 is 00:30 BST on 1 Apr; 23:30 UTC on 1 Mar is still 1 Mar (GMT).
    assert FoiCase(**base(received_at=datetime(2025, 3, 31, 23, 30, tzinfo=UTC))).received_date == date(2025, 4, 1)
    assert FoiCase(**base(received_at=datetime(2025, 3, 1, 23, 30, tzinfo=UTC))).received_date == date(2025, 3, 1)
    # An offset far from London still lands on the London date.
    tokyo = datetime(2025, 6, 2, 7, 0, tzinfo=timezone(timedelta(hours=9)))  # = 1 Jun 23:00 BST
    assert FoiCase(**base(received_at=tokyo)).received_date == date(2025, 6, 1)


def test_naive_timestamp_is_refused_with_the_fix() -> None:
    (field, message), *_ = errors_of(received_at=datetime(2025, 1, 3, 9, 30))
    assert field == "received_at" and "no time zone" in message and "Europe/London" in message


def test_years_outside_the_calendars_are_refused() -> None:
    (field, message), *_ = errors_of(received_at=datetime(1925, 1, 3, tzinfo=UTC))
    assert field == "received_at" and "2000-2100" in message


def test_enum_errors_list_the_allowed_values() -> None:
    found = dict(errors_of(regime="freedom", channel="fax"))
    assert "'foia'" in found["regime"] and "'eisr'" in found["regime"]
    assert "whatdotheyknow" in found["channel"]


def test_requester_errors_name_the_field_without_the_value() -> None:
    found = dict(errors_of(requester={"name": SECRET_NAME, "postcode": "NOT A CODE", "email": SECRET_EMAIL}))
    assert "requester.postcode" in found and "SW1A 1AA" in found["requester.postcode"]
    # No address is not a model error any more: triage decides per regime (FOIA s.8 needs one, EIR reg 5 does not).
    assert FoiCase(**base(requester={"name": SECRET_NAME})).requester.has_address is False
    found = dict(errors_of(requester={"name": SECRET_NAME, "email": "not-an-email"}))
    assert "requester.email" in found


def test_clock_events_before_receipt_are_refused() -> None:
    found = dict(errors_of(clock_events=[{"kind": "clarification_received", "on": "2025-01-02"}]))
    assert (
        "clock_events[0] (clarification_received on 2025-01-02) is before the request was received"
        in found["clock_events"]
    )


def test_fee_paid_needs_a_notice_first() -> None:
    found = dict(
        errors_of(
            clock_events=[
                {"kind": "fee_paid", "on": "2025-01-06"},
                {"kind": "fee_notice_issued", "on": "2025-01-07"},
            ]
        )
    )
    assert "add the fees notice" in found["clock_events"]


def test_extension_until_before_the_event_is_refused() -> None:
    with pytest.raises(ValidationError, match="'until'"):
        ClockEvent(kind=ClockEventKind.EXTENSION_PIT, on=date(2025, 1, 20), until=date(2025, 1, 10))


def test_exemption_codes_normalised_and_checked() -> None:
    case = FoiCase(**base(exemptions=["section 40(2)", "s43", "regulation 12(4)(b)"]))
    assert case.exemptions == ["s40(2)", "s43", "reg12(4)(b)"]
    assert "s40(2)" in dict(errors_of(exemptions=["personal data"])).get("exemptions", "s40(2)")


def test_responded_before_received_is_refused() -> None:
    found = errors_of(responded_at=datetime(2025, 1, 1, tzinfo=UTC))
    assert any("responded_at is before received_at" in m for _, m in found)


def test_events_helper_and_clock_input() -> None:
    case = FoiCase(
        **base(
            regime="eir",
            clock_events=[
                {"kind": "extension_pit", "on": "2025-01-20"},  # wrong kind for EIR: passed over
                {"kind": "extension_eir", "on": "2025-01-21"},
                {"kind": "extension_eir", "on": "2025-01-22"},
                {"kind": "fee_notice_issued", "on": "2025-01-06"},
                {"kind": "fee_paid", "on": "2025-01-08"},
            ],
        )
    )
    assert [e.on.day for e in case.events(ClockEventKind.EXTENSION_EIR)] == [21, 22]
    ci = ClockInput.from_case(case)
    assert (ci.extension, ci.extension_count, ci.fee_notice, ci.fee_paid) == (
        "eir",
        2,
        date(2025, 1, 6),
        date(2025, 1, 8),
    )
