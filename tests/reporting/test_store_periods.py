"""The reporting store (SQLite mirror, CRM wins, no personal data) and report periods."""

from __future__ import annotations

import stat
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from connector.errors import ConfigError
from connector.model import ClockEvent, ClockEventKind, FoiCase, Requester
from connector.reporting import ReportingStore, make_period, normalise_case, parse_period
from connector.reporting.store import CASE_COLUMNS


def _case() -> FoiCase:
    return FoiCase(
        reference="FOI/2025/0042",
        regime="foia",
        received_at=datetime(2025, 3, 31, 23, 30, tzinfo=UTC),  # 00:30 on 1 April in BST
        channel="email",
        requester=Requester(name="Ada Example", email="ada@example.org", type="journalist"),
        subject="Pothole repairs",
        request_text="Please send the pothole repair log.",
        service_area="Highways",
        assigned_team="Team A",
        stage="extended",
        exemptions=["s40(2)", "s43"],
        clock_events=[
            ClockEvent(kind=ClockEventKind.EXTENSION_PIT, on=date(2025, 4, 20), until=date(2025, 5, 30)),
            ClockEvent(kind=ClockEventKind.INTERNAL_REVIEW_REQUESTED, on=date(2025, 6, 2)),
        ],
    )


def test_normalise_case_keeps_report_fields_and_drops_personal_data() -> None:
    fields = _case().model_dump()
    row = normalise_case(fields, crm_id="0001")
    assert set(row) == set(CASE_COLUMNS)
    assert row["received_date"] == "2025-04-01"  # London date, not the UTC one
    assert row["requester_type"] == "journalist"
    assert row["exemptions"] == "s40(2);s43"
    assert row["extension"] == "pit" and row["extended_due_date"] == "2025-05-30"
    assert row["review_requested_date"] == "2025-06-02"
    text = repr(row)
    for secret in ("Ada", "ada@example.org", "pothole repair log", "Pothole repairs"):
        assert secret not in text


def test_normalise_case_reads_target_mapping_output() -> None:
    # what TargetMapping.from_crm returns: case-field names, typed values, exemptions as a list
    fields = {
        "crm_id": "abc",
        "crm_etag": 'W/"1"',
        "reference": "EIR/1",
        "regime": "eir",
        "received_at": datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
        "responded_at": "2025-01-20T10:00:00Z",
        "due_date": date(2025, 2, 3),
        "outcome": "granted_in_full",
        "exemptions": [],
        "subject": "not kept",
    }
    row = normalise_case(fields)
    assert row["crm_id"] == "abc" and row["received_date"] == "2025-01-06"
    assert row["responded_date"] == "2025-01-20" and row["due_date"] == "2025-02-03"
    assert row["exemptions"] is None and "subject" not in row


def test_store_upsert_crm_wins_delete_frame_and_delta_link(tmp_path: Path) -> None:
    path = tmp_path / "var" / "reporting.sqlite"
    with ReportingStore(path) as store:
        store.upsert(
            [
                normalise_case({"reference": "A", "regime": "foia", "stage": "received"}, crm_id="1"),
                normalise_case({"reference": "B", "regime": "eir", "received_date": "2025-01-02"}, crm_id="2"),
            ]
        )
        store.upsert([normalise_case({"reference": "A", "regime": "foia", "stage": "closed"}, crm_id="1")])
        assert store.count() == 2 and store.get("1")["stage"] == "closed"
        store.delete(["2"])
        assert store.count() == 1 and store.get("2") is None
        store.save_delta_link("incidents", "https://crm/api/data/v9.2/incidents?$deltatoken=1")
        assert store.delta_link("incidents").endswith("$deltatoken=1")
        frame = store.frame()
        assert list(frame.columns) == CASE_COLUMNS
        assert pd.api.types.is_datetime64_any_dtype(frame["received_date"])
        store.clear()
        assert store.count() == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # owner-only, like the sync state file
    with ReportingStore(path) as again:  # persisted
        assert again.delta_link("incidents") is not None


def test_store_refuses_a_row_without_crm_id(tmp_path: Path) -> None:
    with ReportingStore(tmp_path / "r.sqlite") as store, pytest.raises(ValueError, match="crm_id"):
        store.upsert([normalise_case({"reference": "A"})])


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        ("2025-Q1", date(2025, 1, 1), date(2025, 3, 31), "2025-Q1"),
        ("Q4 2024", date(2024, 10, 1), date(2024, 12, 31), "2024-Q4"),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29), "2024-02"),
        ("2025", date(2025, 1, 1), date(2025, 12, 31), "2025"),
    ],
)
def test_periods_are_calendar_quarters_months_years(text: str, start: date, end: date, label: str) -> None:
    p = parse_period(text)
    assert (p.start, p.end, p.label) == (start, end, label)


def test_period_errors_name_the_fix() -> None:
    with pytest.raises(ConfigError, match="2025-Q1"):
        parse_period("spring 2025")
    with pytest.raises(ConfigError, match="not both"):
        make_period("2025-Q1", "2025-01-01", None)
    with pytest.raises(ConfigError, match="swap"):
        make_period(None, "2025-03-01", "2025-01-01")
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        make_period(None, "01/03/2025", None)
    p = make_period(None, "2025-01-15", "2025-02-14")
    assert p.contains(date(2025, 2, 14)) and not p.contains(date(2025, 2, 15))
    assert p.slug == "2025-01-15_to_2025-02-14"
