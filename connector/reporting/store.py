"""The reporting store: a local SQLite mirror of the CRM's cases, keyed by CRM id. The CRM wins.

Only the fields reports need are kept: codes, dates, teams and references. No requester personal data
(names, emails, addresses, request text) ever reaches this file; :func:`normalise_case` drops it.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import pandas as pd

from connector import model
from connector.model import LONDON, ClockEvent, Requester

log = logging.getLogger(__name__)

#: Text columns of the ``cases`` table (case fields that reports count by).
TEXT_COLUMNS = [
    "reference",
    "regime",
    "channel",
    "requester_type",
    "service_area",
    "assigned_team",
    "assigned_officer",  # the officer's name (systemuser full name), when the mapping pulls an assigned officer
    "stage",
    "outcome",
    "exemptions",  # ';'-joined normalised codes, e.g. "s40(2);s43"
    "extension",  # pit | eir | sar | None
    "review_outcome",
    "complaint_outcome",
]
#: Date columns (Europe/London calendar dates, ISO text in SQLite, datetime64 in frames).
DATE_COLUMNS = [
    "received_date",
    "responded_date",
    "due_date",
    "extended_due_date",
    "clarification_requested_date",
    "clarification_received_date",
    "fee_notice_date",
    "fee_paid_date",
    "review_requested_date",
    "review_completed_date",
    "complaint_date",
]
CASE_COLUMNS = ["crm_id", *TEXT_COLUMNS, *DATE_COLUMNS, "modifiedon"]

#: Clock-event kinds (connector.model.ClockEventKind values) -> store date column; the latest event wins.
_EVENT_COLUMNS = {kind.value: column for kind, column in model.EVENT_DATE_FIELDS.items()}
_EXTENSION_EVENTS = {kind.value: ext for kind, ext in model.EXTENSION_EVENTS.items()}

#: The entity set the letters are pulled from (its delta link is kept under this name).
ACTIVITY_SET = "emails"
#: Columns of the ``activities`` table: the letters (email activities) regarding cases. No subject, body or
#: address is kept: the subject is only read to classify the letter (``kind``), because an officer's own subject line
#: may name the requester.
ACTIVITY_COLUMNS = [
    "activity_id",
    "regarding_id",  # the CRM id of the case (or other record) the email is regarding
    "kind",  # acknowledgement | review_acknowledgement | clarification | fees | extension | ... | other
    "state",  # draft | sent | received | cancelled
    "outgoing",  # "1" sent by the council, "0" received, None unknown
    "completed_date",  # Europe/London date it was sent (actualend, else modifiedon); None for drafts
    "modifiedon",
]

#: Letter kinds by subject: foi-sync's own letter titles (connector.letters TITLES) and what officers write.
#: First match wins, so the more specific patterns come first.
LETTER_KINDS: list[tuple[str, str]] = [
    ("review_acknowledgement", r"acknowledg\w*\b.*\breview|review.*\backnowledg"),
    ("acknowledgement", r"\backnowledg"),
    ("clarification", r"clarif|more detail"),
    ("fees", r"\bfees?\b"),
    ("extension", r"extension|extended|extend"),
    ("not_held", r"not held"),
    ("transfer", r"another authority|transfer"),
    ("advice_and_assistance", r"what we need before"),  # triage: an invalid request (docs/triage.md)
    ("routing", r"passed to the right service"),  # triage: business as usual
    ("refusal", r"\brefusal\b|neither confirm nor deny"),
    ("review_outcome", r"\breview\b"),
    ("response", r"\bresponse\b|\breply\b|\bdecision\b"),
]


def letter_kind(subject: Any) -> str:
    """Classify a letter by its subject (the subject itself is never stored)."""
    text = str(subject or "").lower()
    for kind, pattern in LETTER_KINDS:
        if re.search(pattern, text):
            return kind
    return "other"


def normalise_activity(record: Mapping[str, Any]) -> dict[str, Any]:
    """Store row from a pulled email activity (activityid, subject, statecode, statuscode, directioncode,
    actualend, modifiedon, _regardingobjectid_value)."""
    state_code, status = record.get("statecode"), record.get("statuscode")
    if state_code == 0:
        state = "draft"
    elif state_code == 2:
        state = "cancelled"
    elif status == 4 or record.get("directioncode") is False:
        state = "received"
    else:
        state = "sent"
    direction = record.get("directioncode")
    done = record.get("actualend") or (record.get("modifiedon") if state in ("sent", "received") else None)
    return {
        "activity_id": str(record.get("activityid") or "").lower(),
        "regarding_id": str(record["_regardingobjectid_value"]).lower()
        if record.get("_regardingobjectid_value")
        else None,
        "kind": letter_kind(record.get("subject")),
        "state": state,
        "outgoing": None if direction is None else ("1" if direction else "0"),
        "completed_date": _to_date(done) if state in ("sent", "received") else None,
        "modifiedon": None if record.get("modifiedon") is None else str(record["modifiedon"]),
    }


_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS cases (
    crm_id TEXT PRIMARY KEY,
    {", ".join(f"{c} TEXT" for c in CASE_COLUMNS[1:])}
);
CREATE INDEX IF NOT EXISTS cases_received ON cases(received_date);
CREATE TABLE IF NOT EXISTS activities (
    activity_id TEXT PRIMARY KEY,
    {", ".join(f"{c} TEXT" for c in ACTIVITY_COLUMNS[1:])}
);
CREATE INDEX IF NOT EXISTS activities_regarding ON activities(regarding_id);
CREATE TABLE IF NOT EXISTS sync_state (
    entity_set TEXT PRIMARY KEY,
    delta_link TEXT,
    updated_at TEXT NOT NULL
);
"""


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping) and "value" in value and len(value) == 1:
        return value["value"]
    return value


def _to_date(value: Any) -> str | None:
    """ISO date in Europe/London from a date, an aware datetime or an ISO string; None when empty."""
    if value is None or value == "" or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, datetime):
        return (value.astimezone(LONDON) if value.tzinfo else value).date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if len(text) == 10:
        return date.fromisoformat(text).isoformat()
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (stamp.astimezone(LONDON) if stamp.tzinfo else stamp).date().isoformat()


def _event_parts(event: ClockEvent | Mapping[str, Any]) -> tuple[object, object, object]:
    """(kind, on, until) of a clock event as the model holds it, or as its dict (``FoiCase.model_dump``, JSON)."""
    if isinstance(event, ClockEvent):
        return event.kind, event.on, event.until
    return event.get("kind"), event.get("on"), event.get("until")


def _event_fields(events: Iterable[ClockEvent | Mapping[str, Any]] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind_value, on_value, until in sorted(map(_event_parts, events or []), key=lambda e: str(e[1])):
        kind = str(_plain(kind_value))
        on = _to_date(on_value)
        if kind in _EVENT_COLUMNS:
            out[_EVENT_COLUMNS[kind]] = on
        elif kind in _EXTENSION_EVENTS:
            out["extension"] = _EXTENSION_EVENTS[kind]
            if until is not None:
                out.setdefault("extended_due_date", _to_date(until))
    return out


def _requester_type(value: object) -> object:
    """A requester's type (the only requester field a report keeps); None for a pulled lookup id, which has none."""
    if isinstance(value, Requester):
        return value.type
    if isinstance(value, Mapping):
        return value.get("type")
    return None


def normalise_case(fields: Mapping[str, Any], crm_id: str | None = None) -> dict[str, Any]:
    """Store row from a dict of case fields (``TargetMapping.from_crm`` output or FoiCase fields).

    Accepts ``received_at``/``responded_at`` timestamps (converted to the London date), ``clock_events``,
    a ``requester`` (only its type is kept) and list-valued ``exemptions``. Unknown keys are dropped.
    """
    row: dict[str, Any] = dict.fromkeys(CASE_COLUMNS)
    if "clock_events" in fields:
        row.update(_event_fields(fields["clock_events"]))
    for name, value in fields.items():
        value = _plain(value)
        if name == "received_at":
            row["received_date"] = _to_date(value)
        elif name == "responded_at":
            row["responded_date"] = _to_date(value)
        elif name == "requester":
            # a FoiCase requester: keep only its type (a pulled lookup id carries no type and is not kept)
            kind = _plain(_requester_type(value))
            if kind is not None and row.get("requester_type") is None:
                row["requester_type"] = str(kind)
        elif name == "exemptions":
            if isinstance(value, str):
                value = [v for v in value.replace(",", ";").split(";")]
            row["exemptions"] = ";".join(str(v).strip() for v in value or [] if str(v).strip()) or None
        elif name in DATE_COLUMNS:
            if value is not None or row.get(name) is None:
                row[name] = _to_date(value)
        elif name == "modifiedon":
            row["modifiedon"] = None if value is None else str(value)
        elif name in TEXT_COLUMNS and (value is not None or row.get(name) is None):
            row[name] = None if value is None else str(value)
    if row["extended_due_date"] is None and fields.get("extended_until"):
        row["extended_due_date"] = _to_date(_plain(fields["extended_until"]))  # the date the requester was told
    if row["reference"] is None and fields.get("reference_key"):
        row["reference"] = str(fields["reference_key"])  # the key-safe form, when the CRM has only that
    if crm_id is not None:
        row["crm_id"] = str(crm_id)
    elif fields.get("crm_id"):
        row["crm_id"] = str(fields["crm_id"])
    return row


class ReportingStore:
    """SQLite mirror of CRM cases plus the change-tracking delta link per table."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                self.path.touch(mode=0o600)
                os.chmod(self.path, 0o600)
        self._db = sqlite3.connect(str(path))
        self._db.executescript(_SCHEMA)
        self._add_new_columns()

    def _add_new_columns(self) -> None:
        """A store made by an earlier release lacks the columns added since (e.g. assigned_officer): add them."""
        for table, columns in (("cases", CASE_COLUMNS), ("activities", ACTIVITY_COLUMNS)):
            have = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
            for col in columns:
                if col not in have:
                    with self._db:
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {col} TEXT")

    # -- cases ---------------------------------------------------------------------------------
    def upsert(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert or replace rows (store rows as made by :func:`normalise_case`); return how many."""
        cols = CASE_COLUMNS
        sql = (
            f"INSERT INTO cases ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT(crm_id) DO UPDATE SET {', '.join(f'{c}=excluded.{c}' for c in cols[1:])}"
        )
        data = []
        for row in rows:
            if not row.get("crm_id"):
                raise ValueError("a reporting-store row needs crm_id (the CRM record id)")
            data.append(tuple(row.get(c) for c in cols))
        with self._db:
            self._db.executemany(sql, data)
        return len(data)

    def delete(self, crm_ids: Iterable[str]) -> int:
        ids = [(str(i),) for i in crm_ids]
        with self._db:
            cur = self._db.executemany("DELETE FROM cases WHERE crm_id = ?", ids)
        return cur.rowcount if cur.rowcount >= 0 else len(ids)

    def clear(self) -> None:
        """Forget every mirrored case and letter, and the letters' change token (``foi-sync pull --full``)."""
        with self._db:
            self._db.execute("DELETE FROM cases")
            self._db.execute("DELETE FROM activities")
            self._db.execute("DELETE FROM sync_state WHERE entity_set = ?", (ACTIVITY_SET,))

    def clear_cases(self) -> None:
        """Forget every mirrored case (the case table's change token expired)."""
        with self._db:
            self._db.execute("DELETE FROM cases")

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM cases").fetchone()[0])

    def get(self, crm_id: str) -> dict[str, Any] | None:
        cur = self._db.execute(f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE crm_id = ?", (crm_id,))
        found = cur.fetchone()
        return dict(zip(CASE_COLUMNS, found, strict=True)) if found else None

    def rows(self, crm_ids: list[str]) -> dict[str, dict[str, Any]]:
        """crm id -> store row, for those of ``crm_ids`` the mirror holds (the CRM's view of those cases)."""
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(crm_ids), 500):
            chunk = crm_ids[i : i + 500]
            sql = f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE crm_id IN ({', '.join('?' * len(chunk))})"
            for found in self._db.execute(sql, chunk):
                row = dict(zip(CASE_COLUMNS, found, strict=True))
                out[str(row["crm_id"]).lower()] = row
        return out

    def frame(self) -> pd.DataFrame:
        """All mirrored cases as a DataFrame: date columns as datetime64, text columns as strings/None."""
        rows = self._db.execute(f"SELECT {', '.join(CASE_COLUMNS)} FROM cases").fetchall()
        return cases_frame(pd.DataFrame.from_records(rows, columns=CASE_COLUMNS))

    # -- activities (letters regarding cases) -------------------------------------------------
    def upsert_activities(self, rows: Iterable[Mapping[str, Any]]) -> int:
        cols = ACTIVITY_COLUMNS
        sql = (
            f"INSERT INTO activities ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT(activity_id) DO UPDATE SET {', '.join(f'{c}=excluded.{c}' for c in cols[1:])}"
        )
        data = [tuple(r.get(c) for c in cols) for r in rows if r.get("activity_id")]
        with self._db:
            self._db.executemany(sql, data)
        return len(data)

    def delete_activities(self, ids: Iterable[str]) -> int:
        keys = [(str(i).lower(),) for i in ids]
        with self._db:
            self._db.executemany("DELETE FROM activities WHERE activity_id = ?", keys)
        return len(keys)

    def clear_activities(self) -> None:
        with self._db:
            self._db.execute("DELETE FROM activities")

    def activity_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM activities").fetchone()[0])

    def activities_frame(self) -> pd.DataFrame:
        """Mirrored letters: completed_date as datetime64, the rest as text."""
        rows = self._db.execute(f"SELECT {', '.join(ACTIVITY_COLUMNS)} FROM activities").fetchall()
        return activities_frame(pd.DataFrame.from_records(rows, columns=ACTIVITY_COLUMNS))

    # -- change tracking ----------------------------------------------------------------------
    def delta_link(self, entity_set: str) -> str | None:
        found = self._db.execute("SELECT delta_link FROM sync_state WHERE entity_set = ?", (entity_set,)).fetchone()
        return found[0] if found else None

    def save_delta_link(self, entity_set: str, link: str | None) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO sync_state (entity_set, delta_link, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(entity_set) DO UPDATE SET delta_link=excluded.delta_link, updated_at=excluded.updated_at",
                (entity_set, link, datetime.now(UTC).isoformat()),
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ReportingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cases_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Give a frame of store rows (e.g. read from a CSV fixture) the reporting dtypes; add missing columns."""
    df = df.copy()
    for col in CASE_COLUMNS:
        if col not in df.columns:
            df[col] = None
    for col in DATE_COLUMNS:
        df[col] = pd.to_datetime(df[col], errors="coerce").astype("datetime64[ns]")
    for col in [*TEXT_COLUMNS, "crm_id", "modifiedon"]:
        values = df[col].astype(object)
        present = values.notna()
        if present.any() and not all(isinstance(v, str) for v in values[present].head(50)):
            values = values.where(~present, values.astype(str))
        values = values.where(present, None)
        stripped = values.str.strip() if present.any() else values
        df[col] = stripped.where(present & (stripped != ""), None).astype(object)
    out = df[CASE_COLUMNS + [c for c in df.columns if c not in CASE_COLUMNS]]
    out.attrs["reporting_frame"] = True
    return out


def activities_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Give a frame of activity rows (store or CSV fixture) the reporting dtypes; add missing columns."""
    df = df.copy()
    for col in ACTIVITY_COLUMNS:
        if col not in df.columns:
            df[col] = None
    df["completed_date"] = pd.to_datetime(df["completed_date"], errors="coerce").astype("datetime64[ns]")
    for col in ("activity_id", "regarding_id"):
        df[col] = df[col].astype(object).where(df[col].notna(), None).map(lambda v: v if v is None else str(v).lower())
    df["outgoing"] = (
        df["outgoing"]
        .astype(object)
        .where(df["outgoing"].notna(), None)
        .map(lambda v: v if v is None else str(v).strip().split(".")[0])
    )
    return df[ACTIVITY_COLUMNS].reset_index(drop=True)
