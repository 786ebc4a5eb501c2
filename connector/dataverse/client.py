"""DataverseClient: the connector's only way to talk to Dynamics 365 (Dataverse Web API v9.x).

Keys are a GUID string or a dict of alternate-key columns (``{"ticketnumber": "FOI-2024-0123"}``); every URL
literal is built by :mod:`connector.odata`. Errors are the typed exceptions of :mod:`connector.dataverse.errors`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from connector import odata
from connector.config import DataverseSettings, Settings
from connector.dataverse.auth import TokenProvider
from connector.dataverse.batch import BatchRequest, BatchResponse, ChangeSet, build_batch, parse_batch_response
from connector.dataverse.bulk import (
    AdaptiveGate,
    BulkFailure,
    BulkResult,
    BulkWriter,
    ChunkSizer,
    Waits,
    _Item,
    new_id,
)
from connector.dataverse.errors import DuplicateRecord, NotFound, OutcomeUnknown, ValidationFailed
from connector.dataverse.metadata import MetadataReader
from connector.dataverse.query import Change, build_query, iter_changes, iter_pages, iter_rows
from connector.dataverse.transport import Stats, TokenSource, Transport, VerifyingSession

log = logging.getLogger(__name__)

_ENTITY_ID = re.compile(r"\(([0-9a-fA-F-]{36})\)\s*$")
Key = str | Mapping[str, Any]


class DataverseClient:
    """Thread-safe; share one per environment. Close it (or use ``with``) to release pooled connections."""

    def __init__(self, settings: DataverseSettings, tokens: TokenSource | None = None) -> None:
        # One pooled session for the API and for MSAL's calls to the token endpoint.
        session = VerifyingSession(str(settings.ca_bundle) if settings.ca_bundle else None)
        if tokens is None:
            tokens = TokenProvider(settings, http=session)
        self.settings = settings
        self.tokens = tokens
        self._workers_setting = settings.max_workers
        self.transport = Transport(settings, tokens, pool_size=max(32, settings.max_workers * 2), session=session)
        self.metadata = MetadataReader(self.transport)
        self.gate = AdaptiveGate(self._max_workers())
        self.transport.throttle_listeners.append(self.gate.throttled)
        self._sizers: dict[tuple[str, str], ChunkSizer] = {}
        self._learned: dict[str, int] = {}
        #: Spend the fewest requests rather than the fewest seconds on bulk calls: a call on a message and table
        #: never timed sends one chunk alone first, and every chunk is full, the last too. For the scheduled job,
        #: which shares the tenant's request budget with other integrations all day and whose calls are small; a
        #: migration (the default) keeps every slot busy instead.
        self.fewest_requests = False

    @classmethod
    def from_settings(
        cls, settings: Settings | DataverseSettings, tokens: TokenSource | None = None
    ) -> DataverseClient:
        """From ``settings.dataverse`` (or the whole :class:`~connector.config.Settings`)."""
        dv = settings.dataverse if isinstance(settings, Settings) else settings
        return cls(dv, tokens)

    def __enter__(self) -> DataverseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    @property
    def stats(self) -> Stats:
        return self.transport.stats

    def _max_workers(self) -> int:
        """Parallel requests: ``dataverse.max_workers`` if set, else the server's ``x-ms-dop-hint`` (4 if unknown)."""
        if self._workers_setting:
            return self._workers_setting
        return min(52, self.transport.dop_hint or 4)

    def _sync_gate(self) -> None:
        """Follow a changed x-ms-dop-hint; keep a limit lowered by recent 429s."""
        maximum = self._max_workers()
        if maximum != self.gate.maximum:
            self.gate.resize(maximum)

    # ------------------------------------------------------------------ functions
    def whoami(self) -> dict[str, Any]:
        """``{"UserId", "BusinessUnitId", "OrganizationId"}``; also learns the server's ``x-ms-dop-hint``."""
        body = self.transport.json("GET", "WhoAmI")
        self._sync_gate()
        return {k: v for k, v in body.items() if not k.startswith("@")}

    def function(self, name: str, **params: Any) -> dict[str, Any]:
        """Call an unbound function, e.g. ``function("WhoAmI")``; parameters become aliases (``@p1``)."""
        path = odata.name(name)
        if params:
            aliases = [f"{odata.name(k)}=@p{i}" for i, k in enumerate(params)]
            values = "&".join(f"@p{i}={odata.literal(v)}" for i, v in enumerate(params.values()))
            return self.transport.json("GET", f"{path}({','.join(aliases)})", query=values) or {}
        return self.transport.json("GET", path) or {}

    def action(
        self, name: str, body: Mapping[str, Any] | None = None, entity_set: str | None = None, key: Key | None = None
    ) -> dict[str, Any]:
        """Call an action (``SendEmail`` bound to ``emails(<id>)``). Actions are not repeated after a 5xx."""
        action = name if name.startswith("Microsoft.Dynamics.CRM.") else f"Microsoft.Dynamics.CRM.{odata.name(name)}"
        if entity_set and key is not None:
            path = f"{odata.record_path(entity_set, key)}/{action}"
        elif entity_set:
            path = f"{odata.name(entity_set)}/{action}"
        else:
            path = odata.name(name)
        return self.transport.json("POST", path, json=dict(body or {})) or {}

    # ------------------------------------------------------------------ single records
    def create(self, entity_set: str, record: Mapping[str, Any], *, bypass_plugins: bool = False) -> str:
        """Create one record; -> its id. Never blindly re-sent: the client sets the primary id itself, and after
        an unknown outcome (5xx, dropped connection) it checks whether that id exists before sending again."""
        body = dict(record)
        pid = self._primary_id(entity_set)
        if pid and not body.get(pid):
            body[pid] = new_id()
        headers = _bypass(bypass_plugins)
        last: OutcomeUnknown | None = None
        for attempt in range(3):
            try:
                resp = self.transport.request("POST", odata.name(entity_set), json=body, headers=headers)
                return _id_from(resp.headers) or (str(body.get(pid) or "") if pid else "")
            except OutcomeUnknown as exc:
                if not pid:
                    raise
                rid = str(body[pid])
                if self._exists(entity_set, rid):
                    log.warning(
                        "create on %s: outcome unknown (%s) but the record exists; not re-sent", entity_set, exc.status
                    )
                    return rid
                log.warning(
                    "create on %s: outcome unknown (%s) and the record is absent; re-sending with the same id (%d)",
                    entity_set,
                    exc.status,
                    attempt + 1,
                )
                last = exc
            except DuplicateRecord:
                # A re-send found the record that the earlier, lost answer had created.
                if attempt > 0 and pid and self._exists(entity_set, str(body[pid])):
                    return str(body[pid])
                raise
        assert last is not None
        raise last

    def retrieve(
        self, entity_set: str, key: Key, select: Sequence[str] | None = None, expand: str | None = None
    ) -> dict[str, Any]:
        query = build_query(select=list(select) if select else None, expand=expand)
        record: dict[str, Any] = self.transport.json("GET", odata.record_path(entity_set, key), query=query or None)
        return record

    def update(self, entity_set: str, key: Key, record: Mapping[str, Any], etag: str | None = None) -> None:
        """Update only (``If-Match: *`` or the given etag): a missing record is :class:`NotFound`, a changed
        one (stale etag) :class:`ConcurrencyConflict`."""
        self.transport.request(
            "PATCH", odata.record_path(entity_set, key), json=dict(record), headers={"If-Match": etag or "*"}
        )

    def upsert(
        self,
        entity_set: str,
        key: Key,
        record: Mapping[str, Any],
        *,
        create_only: bool = False,
        bypass_plugins: bool = False,
    ) -> str | None:
        """Create or update by id or alternate key (safe to repeat); -> the record id. ``create_only`` sends
        ``If-None-Match: *`` (an existing record is :class:`DuplicateRecord`)."""
        headers = _bypass(bypass_plugins)
        if create_only:
            headers["If-None-Match"] = "*"
        body = _strip_keys(record, key)
        resp = self.transport.request("PATCH", odata.record_path(entity_set, key), json=body, headers=headers)
        found = _id_from(resp.headers)
        if found is None and not isinstance(key, str):
            # Dataverse answers an upsert by alternate key with the key form of OData-EntityId (Learn "Use Upsert to
            # Create or Update a record"), so the id takes one read by that key.
            pid = self._primary_id(entity_set)
            row = self.retrieve(entity_set, key, select=[pid] if pid else None)
            found = str(row.get(pid) or "") if pid else None
        return found or (key.lower() if isinstance(key, str) else None)

    def delete(self, entity_set: str, key: Key, etag: str | None = None) -> None:
        headers = {"If-Match": etag} if etag else None
        self.transport.request("DELETE", odata.record_path(entity_set, key), headers=headers)

    # ------------------------------------------------------------------ reads
    def query(
        self,
        entity_set: str,
        select: Sequence[str] | None = None,
        filter: str | None = None,
        orderby: str | Sequence[str] | None = None,
        top: int | None = None,
        page_size: int = 5000,
        expand: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every matching row, page by page (``filter`` built with :mod:`connector.odata`)."""
        q = build_query(select=list(select) if select else None, filter=filter, orderby=_list(orderby), expand=expand)
        return iter_rows(self.transport, entity_set, q, page_size, top)

    def query_page(
        self, entity_set: str, select: Sequence[str] | None = None, filter: str | None = None, page_size: int = 5000
    ) -> list[dict[str, Any]] | None:
        """Every matching row when they fit in one page of ``page_size``; None when there are more (one request
        either way: for reading a small table whole, or learning that it is not small)."""
        q = build_query(select=list(select) if select else None, filter=filter)
        body = next(iter_pages(self.transport, entity_set, q, page_size))
        return None if body.get("@odata.nextLink") else list(body.get("value", []))

    def count(self, entity_set: str, filter: str | None = None) -> int:
        """Number of matching rows (Dataverse caps ``@odata.count`` at 5,000; beyond that rows are counted)."""
        pid = self._primary_id(entity_set)
        q = build_query(select=[pid] if pid else None, filter=filter, count=True)
        body = self.transport.json("GET", odata.name(entity_set), query=q, headers={"Prefer": "odata.maxpagesize=1"})
        n = int(body.get("@odata.count", 0))
        if n < 5000:
            return n
        return sum(1 for _ in self.query(entity_set, select=[pid] if pid else None, filter=filter))

    def changes(
        self,
        entity_set: str,
        select: Sequence[str],
        delta_link: str | None = None,
        save: Callable[[str], None] | None = None,
        page_size: int = 5000,
    ) -> Iterator[Change]:
        """Change tracking; ``save(link)`` after every page. Raises :class:`DeltaTokenExpired` (resync)."""
        pid = self._primary_id(entity_set)
        return iter_changes(self.transport, entity_set, list(select), delta_link, save, page_size, pid)

    # ------------------------------------------------------------------ bulk
    def _writer(
        self,
        message: str,
        entity_set: str,
        logical_name: str,
        bypass_plugins: bool,
        progress: Callable[[int], None] | None,
        pid: str | None,
        on_settled: Callable[[Sequence[int], Sequence[BulkFailure]], None] | None = None,
        on_drained: Callable[[], None] | None = None,
    ) -> BulkWriter:
        if self.transport.dop_hint is None and not self._workers_setting:
            self.whoami()
        self._sync_gate()
        return BulkWriter(
            self.transport,
            message=message,
            entity_set=entity_set,
            logical_name=logical_name,
            primary_id=pid,
            workers=self._max_workers(),
            chunk_size=self.settings.bulk_chunk_size,
            gate=self.gate,
            sizer=self._sizer(message, entity_set),
            bypass_plugins=bypass_plugins,
            progress=progress,
            on_settled=on_settled,
            on_drained=on_drained,
            fewest_requests=self.fewest_requests,
        )

    def _sizer(self, message: str, entity_set: str) -> ChunkSizer:
        """One sizer per message and table, kept across calls, so what was learned about chunk cost carries over.

        A message never sent to a table starts from the smallest size the table has learned under another bulk
        message (a table's cost per record is mostly its own columns and plug-ins, the same for UpdateMultiple
        as for UpsertMultiple), else from ``bulk_chunk_size``: a daily job's first UpdateMultiple after a
        migration then goes in the few chunks the migration found safe, not in a slow start of small ones."""
        key = (message, entity_set)
        if key not in self._sizers:
            target = min(20.0, self.settings.timeout_seconds / 4)
            start = self._learned.get(f"{message} {entity_set}")
            if start is None:
                table = [z.size for (_, es), z in self._sizers.items() if es == entity_set and z.measured]
                table += [v for k, v in self._learned.items() if k.partition(" ")[2] == entity_set]
                start = min(table) if table else None
            measured = start is not None
            self._sizers[key] = ChunkSizer(
                start if start is not None else self.settings.bulk_chunk_size, target_seconds=target, measured=measured
            )
        return self._sizers[key]

    def chunk_sizes(self) -> dict[str, int]:
        """The chunk size learned for each bulk message and table ("UpsertMultiple incidents": 1000), to keep in
        the run state: the next run starts where this one got to instead of slow-starting again."""
        return {**self._learned, **{f"{m} {es}": z.size for (m, es), z in self._sizers.items()}}

    def start_chunk_sizes(self, sizes: Mapping[str, int]) -> None:
        """Chunk sizes a previous run learned (``chunk_sizes``); bounded to 1..1,000, and a sizer still halves a
        chunk that is slow, times out or is too large."""
        self._learned.update({k: max(1, min(int(v), 1000)) for k, v in sizes.items() if isinstance(v, int)})

    def upsert_multiple(
        self,
        entity_set: str,
        logical_name: str,
        items: Sequence[tuple[Key, Mapping[str, Any]]],
        *,
        bypass_plugins: bool = False,
        progress: Callable[[int], None] | None = None,
        on_settled: Callable[[Sequence[int], Sequence[BulkFailure]], None] | None = None,
        after: Mapping[int, Sequence[int]] | None = None,
        waits: Waits | None = None,
        on_drained: Callable[[], None] | None = None,
    ) -> BulkResult:
        """UpsertMultiple for ``(key, record)`` pairs. Bad records are isolated and reported in ``.failed``;
        keys Dataverse cannot address are reported without being sent. ``on_settled`` hears of each chunk as it
        settles (see :class:`BulkWriter`). ``after`` maps a position to the positions that must settle before it
        is sent (its lookup is bound by their keys); ``waits`` does the same for positions of another call running
        at the same time (a :class:`Settlement` that call fills from its ``on_settled``). ``on_drained`` is called
        once every record has been handed to a worker, so such a dependent call can start as this one ends."""
        writer = self._writer(
            "UpsertMultiple", entity_set, logical_name, bypass_plugins, progress, None, on_settled, on_drained
        )
        prepared: list[_Item] = []
        early: list[tuple[int, Any, Exception]] = []
        for index, (key, record) in enumerate(items):
            try:
                odata.key(key)
            except ValueError as exc:
                early.append((index, key, exc))
                continue
            prepared.append(_Item(index, key, _strip_keys(record, key)))
        for index, key, refused in early:
            writer._fail([_Item(index, key, {})], ValidationFailed(str(refused), status=None, code="key-unsafe"))
        return writer.run(prepared, len(items), after, waits)

    def create_multiple(
        self,
        entity_set: str,
        logical_name: str,
        records: Sequence[Mapping[str, Any]],
        *,
        bypass_plugins: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> BulkResult:
        """CreateMultiple with client-generated primary ids (so an unknown outcome is reconciled, never
        duplicated); ``.ids`` holds each record's id."""
        pid = self.metadata.table(logical_name).primary_id
        writer = self._writer("CreateMultiple", entity_set, logical_name, bypass_plugins, progress, pid)
        prepared = []
        for index, record in enumerate(records):
            body = dict(record)
            if not body.get(pid):
                body[pid] = new_id()
            prepared.append(_Item(index, str(body[pid]).lower(), body))
        return writer.run(prepared, len(records))

    def update_multiple(
        self,
        entity_set: str,
        logical_name: str,
        records: Sequence[Mapping[str, Any]],
        *,
        bypass_plugins: bool = False,
        progress: Callable[[int], None] | None = None,
        on_settled: Callable[[Sequence[int], Sequence[BulkFailure]], None] | None = None,
    ) -> BulkResult:
        """UpdateMultiple; every record carries its primary id (Dataverse does not take alternate keys here)."""
        pid = self.metadata.table(logical_name).primary_id
        writer = self._writer("UpdateMultiple", entity_set, logical_name, bypass_plugins, progress, pid, on_settled)
        prepared = []
        for index, record in enumerate(records):
            rid = record.get(pid)
            if not isinstance(rid, str) or not odata.is_guid(rid):
                writer._fail(
                    [_Item(index, None, {})],
                    ValidationFailed(f"record has no primary id '{pid}'; UpdateMultiple needs it", code="no-id"),
                )
                continue
            prepared.append(_Item(index, rid.lower(), dict(record)))
        return writer.run(prepared, len(records))

    # ------------------------------------------------------------------ $batch
    def batch(
        self, requests: Sequence[BatchRequest | ChangeSet], continue_on_error: bool = False
    ) -> list[BatchResponse]:
        """Send a ``$batch`` (≤ 1000 requests). Without ``continue_on_error`` Dataverse stops at the first failure
        and only the responses up to it come back. A batch with a POST is not repeated after a 5xx."""
        items = list(requests)
        ctype, body = build_batch(items, self.transport.api_path)
        headers = {"Content-Type": ctype}
        if continue_on_error:
            headers["Prefer"] = "odata.continue-on-error"
        flat = [r for i in items for r in (i.requests if isinstance(i, ChangeSet) else [i])]
        idempotent = all(r.method.upper() != "POST" for r in flat)
        # Without continue-on-error, Dataverse answers a failed part with that part's status (4xx) on the whole
        # batch and a multipart body holding the part's response: parse it like a success.
        resp = self.transport.request(
            "POST", "$batch", data=body, headers=headers, idempotent=idempotent, accept_errors=True
        )
        if "multipart/mixed" not in resp.headers.get("Content-Type", ""):
            raise self.transport._error(resp)
        return parse_batch_response(resp.headers.get("Content-Type", ""), resp.content)

    # ------------------------------------------------------------------ helpers
    def _primary_id(self, entity_set: str) -> str | None:
        try:
            return self.metadata.table_for_set(entity_set).primary_id
        except (LookupError, NotFound, ValidationFailed):
            return None

    def _exists(self, entity_set: str, rid: str) -> bool:
        pid = self._primary_id(entity_set)
        try:
            self.retrieve(entity_set, rid, select=[pid] if pid else None)
            return True
        except NotFound:
            return False


def _id_from(headers: Mapping[str, str]) -> str | None:
    url = headers.get("OData-EntityId") or headers.get("Location") or ""
    m = _ENTITY_ID.search(url)
    return m.group(1).lower() if m else None


def _strip_keys(record: Mapping[str, Any], key: Key) -> dict[str, Any]:
    """Microsoft: don't repeat alternate-key columns in the body of an upsert (the key in the URL wins)."""
    if isinstance(key, str):
        return dict(record)
    return {k: v for k, v in record.items() if k not in key}


def _bypass(flag: bool) -> dict[str, str]:
    return {"MSCRM.BypassBusinessLogicExecution": "CustomSync,CustomAsync"} if flag else {}


def _list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)
