"""The CRM's history for intake: the pull's change-tracking read feeds the cross-reference index as it goes.

The scheduled job pulls before intake (docs/sync.md). Every case row the pull sees is handed to :class:`HistoryFeed`,
which keeps what cross-referencing needs in the persisted index beside the state file
(``connector/intake/history.py``): reference, requester hash, dates, regime, answered, hashed term vector. The
requester of a case is its CRM contact; contacts the index has not met yet are read once, by id, and kept as their
requester hash (the same hash intake gives today's requests), never as names or emails.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from connector import odata
from connector.config import Settings
from connector.dataverse import DataverseClient
from connector.intake.crossref import ANSWERED_OUTCOMES, ANSWERED_STAGES, requester_key
from connector.intake.history import CrmHistory, HistoryRow
from connector.sync.mapping import TargetMapping
from connector.sync.triage_overrides import override_of

if TYPE_CHECKING:
    from connector.reporting.pull import PullResult

log = logging.getLogger(__name__)

_LOOKUP_BATCH = 200


def history_path(settings: Settings) -> Path:
    """Beside the state file: ``var/foi-sync-state.sqlite`` -> ``var/foi-sync-crossref.sqlite``."""
    state = Path(settings.sync.state_path)
    return state.with_name("foi-sync-crossref.sqlite")


def open_history(settings: Settings) -> CrmHistory:
    return CrmHistory(history_path(settings))


def extra_columns(mapping: TargetMapping) -> list[str]:
    """Columns the history needs beyond the pull's own (the request text is never kept by the reporting store)."""
    out = []
    for name in ("request_text", "title", "subject", "requester", "triage_override"):
        spec = mapping.fields.get(name)
        if spec is not None:
            out.append(spec.read_column)
    return out


class HistoryFeed:
    """A ``connector.reporting.pull.ChangeSink`` writing into the cross-reference history."""

    def __init__(self, client: DataverseClient, mapping: TargetMapping, history: CrmHistory) -> None:
        self.client, self.mapping, self.history = client, mapping, history
        self.rows: dict[str, HistoryRow] = {}
        self.deletes: set[str] = set()
        #: Officers' triage overrides seen in this read (None: the case has none now), so intake needs no read of its
        #: own for them (connector/sync/triage_overrides.py).
        self.overrides: dict[str, tuple[str, str] | None] = {}
        self.added = 0

    def add(self, crm_id: str, record: Mapping[str, Any]) -> None:
        row = self.row(crm_id, record)
        self.deletes.discard(crm_id.lower())
        if row is not None:
            self.rows[crm_id.lower()] = row
        try:
            self.overrides[crm_id.lower()] = override_of(self.mapping, record)
        except (ValueError, TypeError, KeyError):
            self.overrides[crm_id.lower()] = None

    def delete(self, crm_id: str) -> None:
        self.rows.pop(crm_id.lower(), None)
        self.overrides.pop(crm_id.lower(), None)
        self.deletes.add(crm_id.lower())

    def clear(self) -> None:
        self.rows, self.deletes, self.overrides = {}, set(), {}
        self.history.clear()

    def flush(self) -> None:
        if self.rows:
            self.added += self.history.upsert(self.rows.values())
            self.rows = {}
        if self.overrides:
            self.history.set_overrides(self.overrides)
            self.overrides = {}
        if self.deletes:
            self.history.delete(self.deletes)
            self.deletes = set()

    def row(self, crm_id: str, record: Mapping[str, Any]) -> HistoryRow | None:
        m = self.mapping
        try:
            values = m.from_crm(record)
        except (ValueError, TypeError, KeyError):
            return None  # the pull reports the row; it is simply not cross-referenced
        reference = values.get("reference") or values.get("reference_key")
        received = values.get("received_at")
        if not reference or received is None:
            return None
        text = _raw(record, m, "request_text")
        subject = _raw(record, m, "subject") or _title_subject(_raw(record, m, "title"), str(reference))
        stage = values.get("stage")
        outcome = values.get("outcome")
        responded = values.get("responded_at")
        answered = (responded is not None or stage in ANSWERED_STAGES) and (
            outcome is None or outcome in ANSWERED_OUTCOMES
        )
        contact = record.get(m.fields["requester"].read_column) if "requester" in m.fields else None
        return HistoryRow(
            crm_id=crm_id,
            reference=str(reference),
            text=f"{subject}\n{text}",
            received_at=pd.Timestamp(received),
            regime=str(values.get("regime") or "foia"),
            answered=bool(answered),
            answered_at=pd.Timestamp(responded) if responded is not None else None,
            contact_id=str(contact) if contact else None,
        )

    def resolve_contacts(self) -> int:
        """Read the contacts the index has not met (by id, a batch per request) and keep their requester hash."""
        ids = self.history.unresolved_contacts()
        if not ids:
            return 0
        cm = self.mapping.contact
        names = [cm.fields[n].column for n in ("first_name", "last_name", "full_name") if n in cm.fields]
        select = list(dict.fromkeys([cm.primary_id, cm.email_column, *names]))
        keys: dict[str, str] = {}

        def keep(row: Mapping[str, Any]) -> None:
            name = " ".join(str(row[c]) for c in names if row.get(c) and row[c] != "(name not given)")
            keys[str(row[cm.primary_id]).lower()] = requester_key(name or None, row.get(cm.email_column))

        by_id = -(-len(ids) // _LOOKUP_BATCH)
        scan = -(-(len(ids) + self.history.known_contacts()) // 5000)  # at least the contacts the CRM holds
        if by_id > scan:
            # The first pull after a migration meets every contact at once: reading the table, 5,000 rows a page,
            # takes a request per 5,000 contacts instead of one per 200 ids (20,000 contacts: 4 requests, not 100).
            wanted = set(ids)
            for row in self.client.query(cm.entity_set, select=select, page_size=5000):
                if str(row[cm.primary_id]).lower() in wanted:
                    keep(row)
        else:
            for i in range(0, len(ids), _LOOKUP_BATCH):
                chunk = [odata.Guid(x) for x in ids[i : i + _LOOKUP_BATCH]]
                for row in self.client.query(cm.entity_set, select=select, filter=odata.any_of(cm.primary_id, chunk)):
                    keep(row)
        for missing in set(ids) - set(keys):
            keys[missing] = "c:" + missing  # a contact that is gone: its cases still match each other
        self.history.set_contacts(keys)
        return len(keys)


def _raw(record: Mapping[str, Any], mapping: TargetMapping, name: str) -> str:
    spec = mapping.fields.get(name)
    value = record.get(spec.read_column) if spec is not None else None
    return str(value) if value else ""


def _title_subject(title: str, reference: str) -> str:
    """The connector writes ``title`` as "REFERENCE subject": the subject is what follows the reference."""
    return re.sub(r"^\s*" + re.escape(reference) + r"\s*", "", title)


def pull_with_history(
    client: DataverseClient, settings: Settings, mapping: TargetMapping, history: CrmHistory | None
) -> tuple[PullResult, int]:
    """The pull (cases and letters into the reporting store) feeding the cross-reference history in the same read.

    A history file that has never had a full read (new, or cleared) makes this pull a full one: -> (the
    PullResult, how many contacts were read to know their requester hash)."""
    from connector.reporting import ReportingStore, pull_cases

    with ReportingStore(settings.report.store_path) as store:
        primed = history is None or history.primed
        if not primed:
            store.clear_cases()
            store.save_delta_link(mapping.entity_set, None)
        feed = HistoryFeed(client, mapping, history) if history is not None else None
        result = pull_cases(
            client,
            settings,
            mapping,
            store,
            sink=feed,
            extra_select=extra_columns(mapping) if feed is not None else None,
        )
    contacts = 0
    if feed is not None and history is not None:
        contacts = feed.resolve_contacts()
        if not primed or result.full_resync:
            history.mark_primed()
    return result, contacts
