"""Pull: bring case status back from the CRM into the reporting store with Dataverse change tracking.

The delta link is saved after every page, only once that page's changes are in the store, so an interrupted pull
resumes where it stopped. An expired change token (Dataverse: "Version stamp associated with the client has
expired") clears this table's mirror and resynchronises it fully; the event is logged. The CRM wins: every changed
row replaces the local copy, and ``$deletedEntity`` entries delete it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from connector.dataverse.errors import DataverseError, DeltaTokenExpired
from connector.dataverse.query import Change
from connector.reporting.store import ACTIVITY_SET, ReportingStore, normalise_activity, normalise_case

if TYPE_CHECKING:
    from connector.config import Settings
    from connector.dataverse.client import DataverseClient

log = logging.getLogger(__name__)

FLUSH_EVERY = 1000


class LookupField(Protocol):
    """What the pull reads of one mapped field (connector.sync.mapping.FieldMap) to name its lookup's records."""

    @property
    def type(self) -> str: ...
    @property
    def pull(self) -> bool: ...
    @property
    def target(self) -> str | None: ...
    @property
    def target_entity_set(self) -> str | None: ...
    @property
    def match_column(self) -> str | None: ...


class CaseTableMapping(Protocol):
    """What the pull needs of the target mapping (connector.sync.mapping.TargetMapping): the reporting layer may not
    import the sync layer (scripts/check_layers.py), so the seam is this Protocol, checked by mypy at every caller."""

    @property
    def entity_set(self) -> str: ...
    @property
    def regarding_nav_email(self) -> str | None: ...
    @property
    def pull_columns(self) -> list[str]: ...
    @property
    def fields(self) -> Mapping[str, LookupField]: ...
    def from_crm(self, row: Mapping[str, Any]) -> Mapping[str, Any]: ...


@runtime_checkable
class CodedValueError(Protocol):
    """A mapping's refusal of one CRM value (connector.sync.mapping.MappingValueError): a code and the field, never the
    value. tests/reporting/test_pull.py holds the sync error to this shape, so a rename fails a test."""

    code: str
    field: str


def reject_reason(exc: Exception) -> str:
    """Why a CRM record was not mirrored: the mapping's code and field, else the error's type (never its message,
    which may quote a value)."""
    if isinstance(exc, CodedValueError):
        return f"{exc.code} in {exc.field}" if exc.field else exc.code
    return type(exc).__name__


class ChangeSink(Protocol):
    """Another local copy fed by the same change-tracking read (the cross-reference history, connector/sync): it sees
    each changed row as the CRM sent it, and is flushed before each page's delta link is saved."""

    def add(self, crm_id: str, record: Mapping[str, Any]) -> None: ...

    def delete(self, crm_id: str) -> None: ...

    def flush(self) -> None: ...

    def clear(self) -> None: ...


@dataclass
class PullResult:
    """What one pull did (counts and CRM ids only: no case content)."""

    entity_set: str
    upserted: int = 0
    deleted: int = 0
    pages: int = 0
    full_resync: bool = False
    token_expired: bool = False
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (crm id, reason without values)
    seconds: float = 0.0
    #: Letters (email activities regarding cases) mirrored into the ``activities`` table.
    activities: int = 0
    activities_deleted: int = 0
    activities_full_resync: bool = False
    #: Why the letters were not pulled (an error code), or None.
    activities_skipped: str | None = None

    @property
    def ok(self) -> bool:
        return not self.rejected

    def summary(self) -> str:
        kind = "full resynchronisation" if self.full_resync else "changes"
        extra = " (change token had expired)" if self.token_expired else ""
        return (
            f"pulled {kind} from {self.entity_set}{extra}: {self.upserted} upserted, {self.deleted} deleted, "
            f"{len(self.rejected)} rejected, {self.pages} pages in {self.seconds:.1f} s; letters: "
            + (
                f"{self.activities} upserted, {self.activities_deleted} deleted"
                if self.activities_skipped is None
                else f"not pulled ({self.activities_skipped})"
            )
        )


class _Writer:
    """Buffers changes and writes them before each delta link is saved (page boundary)."""

    def __init__(
        self,
        store: ReportingStore,
        entity_set: str,
        mapping: CaseTableMapping,
        result: PullResult,
        names: Callable[[], dict[str, dict[str, str]]],
        sink: ChangeSink | None = None,
    ) -> None:
        self.store, self.entity_set, self.mapping, self.result = store, entity_set, mapping, result
        self.sink = sink
        self._read_names = names  # read on the first changed row: an empty delta costs no names query
        self._names: dict[str, dict[str, str]] | None = None
        self.rows: list[dict[str, Any]] = []
        self.deletes: list[str] = []

    @property
    def names(self) -> dict[str, dict[str, str]]:
        """lookup field -> {record id: name}, e.g. assigned_team ids -> team names."""
        if self._names is None:
            self._names = self._read_names()
        return self._names

    def add(self, change: Change) -> None:
        crm_id = str(change.id)
        if change.deleted:
            self.deletes.append(crm_id)
            self.rows = [r for r in self.rows if r["crm_id"] != crm_id]
            if self.sink is not None:
                self.sink.delete(crm_id)
            return
        record = change.record or {}
        if self.sink is not None:
            self.sink.add(crm_id, record)
        try:
            fields = dict(self.mapping.from_crm(record))
            for name, by_id in self.names.items():
                value = fields.get(name)
                if isinstance(value, str):
                    # an owner that is not a team (a user, the integration account) counts as "Unassigned"
                    fields[name] = by_id.get(value.lower())
            row = normalise_case(fields, crm_id=crm_id)
        except (ValueError, TypeError, KeyError) as exc:
            reason = reject_reason(exc)
            self.result.rejected.append((crm_id, reason))
            log.warning("pull: CRM record %s not mirrored (%s); fix it in the CRM", crm_id, reason.split(" in ")[0])
            return
        if record.get("modifiedon") is not None:
            row["modifiedon"] = str(record["modifiedon"])
        self.deletes = [d for d in self.deletes if d != crm_id]
        self.rows.append(row)
        if len(self.rows) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.sink is not None:
            self.sink.flush()
        if self.rows:
            self.result.upserted += self.store.upsert(self.rows)
            self.rows = []
        if self.deletes:
            self.store.delete(self.deletes)
            self.result.deleted += len(self.deletes)
            self.deletes = []

    def save(self, link: str | None) -> None:
        """The client's per-page callback: write what the page brought, then remember where we are."""
        self.flush()
        self.store.save_delta_link(self.entity_set, link)
        self.result.pages += 1


def _select(mapping: CaseTableMapping) -> list[str]:
    cols = list(mapping.pull_columns)
    if "modifiedon" not in cols:
        cols.append("modifiedon")
    return cols


def lookup_names(client: DataverseClient, mapping: CaseTableMapping) -> dict[str, dict[str, str]]:
    """Names for lookup fields reports group by (the owning team): lookups come back from the CRM as ids."""
    out: dict[str, dict[str, str]] = {}
    for name in ("assigned_team", "service_area", "assigned_officer"):
        spec = mapping.fields.get(name)
        if spec is None or spec.type != "lookup" or not spec.pull or not spec.target or not spec.target_entity_set:
            continue
        # Users are reported by their full name, whatever the lookup matches them by.
        column = "fullname" if spec.target == "systemuser" else (spec.match_column or "name")
        try:
            pid = client.metadata.table(spec.target).primary_id
            out[name] = {
                str(row[pid]).lower(): str(row[column])
                for row in client.query(spec.target_entity_set, select=[pid, column])
                if row.get(pid) and row.get(column)
            }
        except DataverseError as exc:
            log.warning("pull: could not read %s names (%s); reports show their ids", spec.target, exc.code or exc)
    return out


def _run(
    client: DataverseClient,
    writer: _Writer,
    entity_set: str,
    select: list[str],
    link: str | None,
    bar: Callable[[], None],
    page_size: int | None,
) -> None:
    kwargs = {"page_size": page_size} if page_size else {}
    for change in client.changes(entity_set, select, delta_link=link, save=writer.save, **kwargs):
        writer.add(change)
        bar()
    writer.flush()


#: Email activity columns the letters mirror needs: no body (description) and no addresses.
ACTIVITY_SELECT = [
    "activityid",
    "subject",
    "statecode",
    "statuscode",
    "directioncode",
    "actualend",
    "modifiedon",
    "_regardingobjectid_value",
]


class _ActivityWriter:
    """Letters regarding a record, written per page before the page's delta link is saved."""

    def __init__(self, store: ReportingStore, result: PullResult) -> None:
        self.store, self.result = store, result
        self.rows: dict[str, dict[str, Any]] = {}
        self.deletes: set[str] = set()

    def add(self, change: Change) -> None:
        aid = str(change.id).lower()
        if change.deleted:
            self.rows.pop(aid, None)
            self.deletes.add(aid)
            return
        record = {**(change.record or {}), "activityid": aid}
        self.deletes.discard(aid)
        if not record.get("_regardingobjectid_value"):
            self.deletes.add(aid)  # no longer regarding anything: not a case letter
            return
        self.rows[aid] = normalise_activity(record)

    def flush(self) -> None:
        if self.rows:
            self.result.activities += self.store.upsert_activities(self.rows.values())
            self.rows = {}
        if self.deletes:
            self.result.activities_deleted += self.store.delete_activities(self.deletes)
            self.deletes = set()

    def save(self, link: str | None) -> None:
        self.flush()
        self.store.save_delta_link(ACTIVITY_SET, link)


def pull_activities(
    client: DataverseClient, store: ReportingStore, result: PullResult, *, page_size: int | None = None
) -> None:
    """Mirror the email activities (the letters foi-sync and officers send) by change tracking into ``activities``.

    A tenant that refuses the read (permissions) or lacks change tracking on email costs the letters measures,
    never the case pull: the reason is kept in ``result.activities_skipped`` and logged (a code, no content).
    """
    writer = _ActivityWriter(store, result)
    kwargs = {"page_size": page_size} if page_size else {}
    link = store.delta_link(ACTIVITY_SET)
    result.activities_full_resync = link is None

    def run(start: str | None) -> None:
        for change in client.changes(ACTIVITY_SET, ACTIVITY_SELECT, delta_link=start, save=writer.save, **kwargs):
            writer.add(change)
        writer.flush()

    try:
        try:
            run(link)
        except DeltaTokenExpired:
            log.warning("pull: change token for %s has expired; resynchronising the letters fully", ACTIVITY_SET)
            writer.rows, writer.deletes = {}, set()
            store.clear_activities()
            store.save_delta_link(ACTIVITY_SET, None)
            result.activities_full_resync = True
            run(None)
    except DataverseError as exc:
        result.activities_skipped = exc.code or f"HTTP {exc.status}"
        log.warning("pull: letters (email activities) not pulled (%s); letter measures are incomplete", exc.code)


def pull_cases(
    client: DataverseClient,
    settings: Settings,
    mapping: CaseTableMapping,
    store: ReportingStore,
    *,
    on_progress: Callable[[str, int], None] | None = None,
    page_size: int | None = None,
    activities: bool = True,
    sink: ChangeSink | None = None,
    extra_select: list[str] | None = None,
) -> PullResult:
    """Mirror the mapped case table into ``store``; resume from the saved delta link when there is one. Then
    (``activities``, when the mapping links emails to cases) the letters regarding them, the same way.

    ``page_size`` (default: the client's, 5,000) is the change-tracking page; the delta link is saved after each.
    ``on_progress(entity_set, changes_so_far)`` hears of every change read (the CLI draws it; the library draws
    nothing).
    ``sink`` sees every changed row too, with ``extra_select`` columns the store itself never keeps (the request
    text for the cross-reference history): one read feeds both.
    """
    started = time.monotonic()
    entity_set = mapping.entity_set
    result = PullResult(entity_set)
    select = _select(mapping)
    select += [c for c in extra_select or [] if c not in select]
    link = store.delta_link(entity_set)
    result.full_resync = link is None
    seen = 0

    def bar() -> None:
        nonlocal seen
        seen += 1
        if on_progress is not None:
            on_progress(entity_set, seen)

    writer = _Writer(store, entity_set, mapping, result, lambda: lookup_names(client, mapping), sink)
    try:
        _run(client, writer, entity_set, select, link, bar, page_size)
    except DeltaTokenExpired:
        log.warning(
            "pull: change token for %s has expired; clearing the local mirror and resynchronising fully",
            entity_set,
        )
        writer.rows, writer.deletes = [], []
        store.clear_cases()
        if sink is not None:
            sink.clear()
        store.save_delta_link(entity_set, None)
        result.token_expired = result.full_resync = True
        _run(client, writer, entity_set, select, None, bar, page_size)
    if mapping.regarding_nav_email and activities:
        pull_activities(client, store, result, page_size=page_size)
    else:
        result.activities_skipped = "not_linked"
    result.seconds = time.monotonic() - started
    log.info(result.summary())
    return result
