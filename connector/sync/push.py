"""Push: requesters and cases (one pipeline), then stage notes, business process flow moves and reminder tasks.

Idempotence, so a run killed at any moment (kill -9) can simply run again:

* New records get deterministic ids (UUID v5 of table and key) and are written with UpsertMultiple by alternate
  key, so a replay updates what an earlier, killed run already created instead of duplicating it.
* Before creating, the push asks the CRM which keys already exist; those are updated with connector-owned columns
  only, so a record the killed run created (or a CRM user made) never has its CRM-owned fields overwritten.
* State is saved only after the CRM confirmed each slice.
* Notes and reminder tasks have deterministic ids too; the CRM refuses a second record with the same id.

Field ownership: updates carry only columns that are ``owner = "connector"`` *and* whose value changed since the last
push, so a CRM user's edit of any other column survives. The stage is the column both sides touch: it is written
read-modify-write with the record's etag (``If-Match``); if a CRM user moved the stage since our last push, their
stage wins and the conflict is counted and logged.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector import odata
from connector.dataverse import errors as dv_errors
from connector.dataverse.bulk import DEPENDENCY_FAILED, BulkFailure, BulkResult, Settlement, Waits
from connector.dataverse.client import DataverseClient
from connector.dataverse.errors import ConcurrencyConflict, DataverseError, NotFound
from connector.sync.check import metadata_shaped
from connector.sync.mapping import FieldMap, TargetMapping
from connector.sync.plan import Plan, PlannedRecord, field_hash
from connector.sync.state import RecordState, StateStore

if TYPE_CHECKING:
    from connector.deadlines import DeadlineEngine

log = logging.getLogger(__name__)

DuplicateRecord = dv_errors.DuplicateRecord
#: Errors that mean the CRM cannot be reached or refuses us altogether: stop the run (exit 4), don't dead-letter.
FATAL = (dv_errors.AuthenticationFailed, dv_errors.PermissionDenied, dv_errors.TransportError)

NAMESPACE = uuid.UUID("6f6a1c2e-4b0e-4f7a-9d55-0f01f0150c17")
SLICE = 500  # kept for callers that still pass a slice size; the push streams and checkpoints per chunk
LOOKUP_WORKERS = 4
#: New cases bound to other new cases are created unlinked and linked by the updates' UpdateMultiple when the client
#: spends the fewest requests (the scheduled job) and the run creates no more cases than this; a migration sends them
#: in dependency order instead (time counts, and a second write per linked case would cost it).
DEFER_LINKS_UP_TO = 4000
#: The payload hash a case is saved with while its deferred link is not yet in the CRM: never a real hash.
DEFERRED = "link-deferred"
REQUESTER_FAILED = "requester_failed"
REQUESTER_FAILED_MESSAGE = "the requester's contact could not be written; see its dead letter"


def deterministic_id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "|".join(parts)))


class NameResolver:
    """Lookups by name (team, queue): one query per distinct name per run, or none while the state remembers the
    answer (``sync.metadata_check_hours``, same lifetime as the cached mapping check). Names of teams and queues
    are organisation data, not requester data, so they may sit in the state file."""

    def __init__(
        self,
        client: DataverseClient,
        state: StateStore | None = None,
        environment: str = "",
        max_age_hours: float = 0,
        *,
        remember: bool = True,
    ) -> None:
        self.client = client
        self.state = state
        self.environment = environment
        self.max_age_hours = max_age_hours
        self.remember = remember
        self.cache: dict[tuple[str, str, str], str | None] = {}
        self._tables: dict[tuple[str, str], dict[str, str] | None] = {}
        self.unresolved = 0
        self.live = 0
        #: (field, target table, match column, on_missing) -> the names that matched nothing, for one warning each.
        self.missing: dict[tuple[str, str, str, str], set[str]] = {}

    def __call__(self, name: str, spec: FieldMap, value: Any) -> str | None:
        if not spec.match_column or not spec.target:
            return None
        k = (spec.target_entity_set or spec.target, spec.match_column, str(value).casefold())
        if k in self.cache:
            return self.cache[k]
        if self.state is not None and self.max_age_hours > 0:
            hit, bind = self.state.cached_lookup(self.environment, k[0], k[1], k[2], self.max_age_hours)
            if hit:
                self.cache[k] = bind
                if bind is None:
                    self.unresolved += 1
                    self._miss(name, spec, value)
                return bind
        md = self.client.metadata.table(spec.target)
        es = spec.target_entity_set or md.entity_set
        table = self._whole_table(es, md.primary_id, spec.match_column)
        if table is not None:
            found = table.get(k[2])
            bind = odata.bind(es, found) if found else None
        else:
            rows = list(
                self.client.query(es, select=[md.primary_id], filter=odata.eq(spec.match_column, str(value)), top=1)
            )
            self.live += 1
            bind = odata.bind(es, rows[0][md.primary_id]) if rows else None
        self.cache[k] = bind
        if bind is None:
            self.unresolved += 1
            self._miss(name, spec, value)
        if self.state is not None and self.max_age_hours > 0 and self.remember:
            self.state.save_lookup(self.environment, k[0], k[1], k[2], bind)
        return bind

    def _whole_table(self, entity_set: str, primary_id: str, column: str) -> dict[str, str] | None:
        """{casefolded name: id} of a small lookup table (teams, queues: a council has tens to hundreds), read in
        one request the first time a name is looked up, so a migration naming 15 teams sends 1 query, not 15.
        None for a table of more than one page (5,000 rows): those names are queried one by one."""
        key = (entity_set, column)
        if key not in self._tables:
            self.live += 1
            rows = self.client.query_page(entity_set, select=[primary_id, column], page_size=5000)
            if rows is None:
                self._tables[key] = None
            else:
                table: dict[str, str] = {}
                for row in rows:
                    name = row.get(column)
                    if name is not None:
                        table.setdefault(str(name).casefold(), str(row[primary_id]))
                self._tables[key] = table
        return self._tables[key]

    def _miss(self, name: str, spec: FieldMap, value: Any) -> None:
        key = (name, spec.target or "", spec.match_column or "", spec.on_missing)
        self.missing.setdefault(key, set()).add(str(value))

    def summary(self, mapping_path: Path | str) -> list[str]:
        """One warning per lookup field, naming every value that matched nothing and the fix (instead of one
        identical line per value). Team and queue names are organisation data, not requester data."""
        lines = []
        for (name, target, column, on_missing), values in sorted(self.missing.items()):
            shown = sorted(values)
            names = ", ".join(f"'{v}'" for v in shown[:20]) + (
                f" and {len(shown) - 20} more" if len(shown) > 20 else ""
            )
            then = (
                "until then those cases keep the CRM's default owner"
                if on_missing == "skip"
                else "until then those cases go to the dead letters"
            )
            lines.append(
                f"lookup {name}: no {target} has the {column} {names} ({len(shown)} name(s)). Fix: create the "
                f"{target} record(s) with exactly these names in the CRM, or correct the names the cases carry "
                f"(routing rules, source mapping); {then} (fields.{name}.on_missing = '{on_missing}' in {mapping_path})"
            )
        return lines


@dataclass
class RequesterStream:
    """New requesters being written in the background (:meth:`Pusher.start_requesters`): the cases' stream reads
    which have settled, and waits for the last chunk to be handed out before it starts."""

    contacts: list[PlannedRecord]
    creates: list[PlannedRecord]
    settlement: Settlement
    drained: threading.Event
    pool: ThreadPoolExecutor
    future: Future[list[PlannedRecord]]

    def finish(self) -> list[PlannedRecord]:
        """Wait for the stream; -> the requesters it created. Safe to call again."""
        try:
            return self.future.result()
        finally:
            self.pool.shutdown(wait=True)

    def __enter__(self) -> RequesterStream:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.finish()
            return
        with contextlib.suppress(Exception):  # the error in between is the one to report
            self.finish()


class Pusher:
    def __init__(
        self,
        client: DataverseClient,
        mapping: TargetMapping,
        state: StateStore,
        run_id: str,
        *,
        bypass_plugins: bool = False,
        progress: Callable[[int], None] | None = None,
        slice_size: int = SLICE,
    ) -> None:
        self.slice = slice_size
        self.client = client
        self.m = mapping
        self.state = state
        self.run_id = run_id
        self.bypass = bypass_plugins
        self.progress = progress
        self.counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self.contact_ids: dict[str, str] = {}
        self._empty: dict[tuple[str, str], bool] = {}
        #: The stage the CRM holds for each case adopted this run (read with its key), by source key: an adopted
        #: case's stage is then settled without a read of its own.
        self.adopted_stage: dict[str, Any] = {}
        #: A write failed the way a stale mapping check would explain: the engine drops the cached check.
        self.metadata_suspect = False

    # ------------------------------------------------------------------ helpers
    def dead(self, rec: PlannedRecord, code: str, message: str) -> None:
        self.state.add_dead_letter(rec.table_name, rec.source_key, rec.origin, code or "error", message, self.run_id)
        self.suspect(code, message)
        rec.action = "reject"
        rec.error_code, rec.error = code, message
        with self._count_lock:  # two streams' checkpoint threads may both be here
            self.counts["dead_letters"] += 1
        log.warning(
            "dead letter",
            extra={"run_id": self.run_id, "table": rec.table_name, "reference": rec.reference, "code": code},
        )

    def suspect(self, code: str | None, message: str | None, exc: BaseException | None = None) -> None:
        if metadata_shaped(code, message, exc):
            self.metadata_suspect = True

    def save(self, recs: Sequence[PlannedRecord]) -> None:
        if recs:
            self.state.save_records(
                recs[0].table_name,
                [
                    RecordState(
                        r.table_name, r.source_key, r.dataverse_id or "", r.payload_hash, r.field_hashes, r.stage, ""
                    )
                    for r in recs
                ],
                self.run_id,
            )

    def existing(
        self, entity_set: str, primary_id: str, column: str, values: list[str], select: Sequence[str] = ()
    ) -> dict[str, dict[str, Any]]:
        """Which of these key values already exist in the CRM: {casefolded value: row}.

        An empty table answers for every key in one request; otherwise the key batches are read in parallel.
        """
        if not values or self.empty(entity_set, primary_id):
            return {}
        cols = list(dict.fromkeys([primary_id, column, *select]))
        found: dict[str, dict[str, Any]] = {}
        for rows in self.parallel_reads(entity_set, cols, list(odata.any_of_batches(column, values))):
            for row in rows:
                if row.get(column) is not None:
                    found[str(row[column]).casefold()] = row
        return found

    def empty(self, entity_set: str, primary_id: str) -> bool:
        """True when the CRM table has no rows at all (a first migration): no key can exist yet."""
        key = ("empty", entity_set)
        if key not in self._empty:
            self._empty[key] = not list(self.client.query(entity_set, select=[primary_id], top=1))
        return self._empty[key]

    def parallel_reads(self, entity_set: str, select: list[str], filters: list[str]) -> list[list[dict[str, Any]]]:
        """One query per filter, up to LOOKUP_WORKERS at a time (they are independent reads)."""
        if len(filters) <= 1:
            return [list(self.client.query(entity_set, select=select, filter=f)) for f in filters]
        with ThreadPoolExecutor(max_workers=LOOKUP_WORKERS, thread_name_prefix="dv-lookup") as pool:
            return list(pool.map(lambda f: list(self.client.query(entity_set, select=select, filter=f)), filters))

    def owned_body(self, rec: PlannedRecord, keys: Iterable[str], owned: set[str]) -> dict[str, Any]:
        return {k: rec.payload.get(k) for k in keys if k in owned and k in rec.payload}

    def bulk_upsert(
        self,
        entity_set: str,
        logical: str,
        recs: list[PlannedRecord],
        bodies: list[dict[str, Any]],
        keys: list[dict[str, Any]],
        after: dict[int, list[int]] | None = None,
        *,
        waits: Waits | None = None,
        settlement: Settlement | None = None,
        on_drained: Callable[[], None] | None = None,
    ) -> list[PlannedRecord]:
        """UpsertMultiple as one stream; dead-letters failures; -> the records that landed (checkpointed per chunk).
        ``after``: a record's position -> the positions it must wait for; ``waits``: the same for positions of a
        call running alongside, whose ``settlement`` this fills; ``on_drained``: every record has been handed out
        (see ``DataverseClient.upsert_multiple``)."""
        items = list(zip(keys, bodies, strict=True))
        return self._streamed(
            recs,
            lambda settled: self.client.upsert_multiple(
                entity_set,
                logical,
                items,
                bypass_plugins=self.bypass,
                progress=self.progress,
                on_settled=settled,
                after=after,
                waits=waits,
                on_drained=on_drained,
            ),
            settlement,
        )

    def bulk_update(
        self, entity_set: str, logical: str, primary_id: str, recs: list[PlannedRecord], bodies: list[dict[str, Any]]
    ) -> list[PlannedRecord]:
        """UpdateMultiple by primary id, settled like :meth:`bulk_upsert`."""
        records = [{**b, primary_id: r.dataverse_id} for r, b in zip(recs, bodies, strict=True)]
        return self._streamed(
            recs,
            lambda settled: self.client.update_multiple(
                entity_set, logical, records, bypass_plugins=self.bypass, progress=self.progress, on_settled=settled
            ),
        )

    def _streamed(
        self,
        recs: list[PlannedRecord],
        write: Callable[[Callable[[Sequence[int], Sequence[BulkFailure]], None]], BulkResult],
        settlement: Settlement | None = None,
    ) -> list[PlannedRecord]:
        """Write ``recs`` as one stream of bulk chunks, every worker busy from the first chunk to the last.

        Each chunk is checkpointed as soon as the CRM confirmed it: its records are saved to the state (a local
        SQLite commit, no request) and its failures become dead letters. One checkpoint thread does that, taking
        every chunk settled since its last commit in one transaction, so a worker goes straight on to its next
        chunk instead of holding a server slot idle while it commits. A run killed at any moment therefore
        repeats at most the chunks in flight or waiting for their commit (the resume adopts those by key).
        """
        if not recs:
            return []
        landed_at: set[int] = set()
        inbox: queue.SimpleQueue[tuple[list[int], list[BulkFailure]] | None] = queue.SimpleQueue()
        crashed: list[BaseException] = []

        def checkpoint() -> None:
            done = False
            while not done:
                batch = [inbox.get()]
                while True:
                    try:
                        batch.append(inbox.get_nowait())
                    except queue.Empty:
                        break
                ok_all: list[int] = []
                try:
                    for event in batch:
                        if event is None:
                            done = True
                            continue
                        ok, failed = event
                        for f in failed:
                            if f.code == DEPENDENCY_FAILED:  # its requester failed (see its dead letter)
                                self.dead(recs[f.index], REQUESTER_FAILED, REQUESTER_FAILED_MESSAGE)
                            else:
                                self.dead(recs[f.index], f.code or f"HTTP {f.status}", f.message)
                        ok_all.extend(ok)
                    self.save([recs[i] for i in ok_all])
                except BaseException as exc:  # re-raised in the pushing thread below
                    crashed.append(exc)
                    return
                landed_at.update(ok_all)

        saver = threading.Thread(target=checkpoint, name="foi-checkpoint", daemon=True)
        saver.start()

        def settled(ok: Sequence[int], failed: Sequence[BulkFailure]) -> None:
            if settlement is not None:  # records of a concurrent stream may be waiting on these
                settlement.add(ok, [f.index for f in failed])
            inbox.put((list(ok), list(failed)))

        try:
            write(settled)
        finally:
            inbox.put(None)
            saver.join()
        if crashed:
            raise crashed[0]
        self._empty.clear()  # the table has rows now
        return [r for i, r in enumerate(recs) if i in landed_at]

    # ------------------------------------------------------------------ requesters and cases
    def push_requesters_and_cases(self, plan: Plan) -> list[PlannedRecord]:
        """Requesters and cases as one pipeline; -> the case records whose stage changed (for notes).

        Requesters that exist already (adopted) or changed are updated first: a case may be bound by the key an
        adopted requester is only now given. Then new requesters and new cases go as two streams: the cases start
        as soon as the last requester chunk has been handed out, and each case waits only for its own requester
        to settle, so the server slots the requesters' last chunks free are filled at once instead of idling
        until the slowest of them is back. A case whose requester failed is not sent: it becomes a dead letter.
        """
        with self.start_requesters(plan.contacts) as requesters:
            return self.push_cases(plan, requesters)

    def start_requesters(self, contacts: list[PlannedRecord]) -> RequesterStream:
        """Adopt and update requesters, then start writing the new ones in the background: the caller may plan
        its cases meanwhile and hand them to :meth:`push_cases` (a migration does; the scheduled job plans first).
        Use it as a context manager, so the stream is waited for whatever happens in between."""
        m = self.m
        creates, bodies = self._contacts(contacts)
        settlement = Settlement()
        drained = threading.Event()

        def requesters() -> list[PlannedRecord]:
            try:
                return self.bulk_upsert(
                    m.contact.entity_set,
                    m.contact.table,
                    creates,
                    bodies,
                    [c.key for c in creates],
                    settlement=settlement,
                    on_drained=drained.set,
                )
            finally:
                settlement.close()
                drained.set()

        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="foi-requesters")
        return RequesterStream(contacts, creates, settlement, drained, pool, pool.submit(requesters))

    def push_cases(self, plan: Plan, requesters: RequesterStream) -> list[PlannedRecord]:
        """The cases' stream beside the requesters' (see :meth:`push_requesters_and_cases`), then the updates;
        -> the case records whose stage changed (for notes)."""
        m = self.m
        try:
            # The cases are made ready (their existence check and ids) while the requesters are written.
            failed_contacts = {c.source_key for c in requesters.contacts if c.action == "reject"}
            for rec in plan.cases:
                if rec.action in ("create", "update") and rec.contact_ref in failed_contacts:
                    self.dead(rec, REQUESTER_FAILED, REQUESTER_FAILED_MESSAGE)
            cases, adopted, after = self._new_cases(plan)
            links: list[_Link] = []
            if after and self.client.fewest_requests and len(cases) <= DEFER_LINKS_UP_TO:
                links, after = self._defer_links(cases, after), {}
            position = {c.source_key: i for i, c in enumerate(requesters.creates)}
            needs = {i: [position[r.contact_ref]] for i, r in enumerate(cases) if r.contact_ref in position}
            requesters.drained.wait()
            landed = self.bulk_upsert(
                m.entity_set,
                m.table,
                cases,
                [r.payload for r in cases],
                [{c: r.payload[c] for c in m.alternate_key} for r in cases],
                after,
                waits=(requesters.settlement, needs),
            )
        finally:
            contacts_landed = requesters.finish()
        self.counts["contacts_created"] += len(contacts_landed)
        for c in requesters.contacts:
            if c.action != "reject" and c.dataverse_id:
                self.contact_ids[c.source_key] = c.dataverse_id
        self.counts["created"] += len(landed)
        self.counts["adopted"] += len(adopted)
        if self.progress and adopted:
            self.progress(0)
        created = {id(r) for r in landed}
        return self.push_updates(plan.by_action("update"), adopted, [k for k in links if id(k.rec) in created])

    def _defer_links(self, cases: list[PlannedRecord], after: dict[int, list[int]]) -> list[_Link]:
        """A few new cases bound to other new cases: create them all in the fewest requests, then set those links
        with the other updates (one UpdateMultiple), instead of one request per level of a chain of repeats. Every
        position in ``after`` is there because its payload binds ``related_case`` (see ``_dependency_order``).

        Until its link has landed a case is saved as not yet in step (its related-case hash is the empty value's),
        so a run killed in between, or a link the CRM refuses, is sent again by the next run or the retry."""
        key = self.m.fields["related_case"].payload_key
        links: list[_Link] = []
        for pos in after:
            rec = cases[pos]
            links.append(_Link(rec, key, rec.payload.pop(key), rec.payload_hash, rec.field_hashes[key]))
            rec.field_hashes = {**rec.field_hashes, key: field_hash(None)}
            rec.payload_hash = DEFERRED
        return links

    def _contacts(self, contacts: list[PlannedRecord]) -> tuple[list[PlannedRecord], list[dict[str, Any]]]:
        """Adopts requesters the CRM has (by key, then by email) and updates those and the changed ones;
        -> the new requesters to create, with their bodies (each gets its deterministic id)."""
        cm = self.m.contact
        key_col = cm.alternate_key[0]
        owned = {f.column for f in cm.fields.values() if f.push and f.owner == "connector"}
        for c in contacts:
            if c.dataverse_id:
                self.contact_ids[c.source_key] = c.dataverse_id
        creates = [c for c in contacts if c.action == "create"]
        updates = [c for c in contacts if c.action == "update"]
        adopted: list[PlannedRecord] = []
        if creates:
            found = self.existing(cm.entity_set, cm.primary_id, key_col, [str(c.key[key_col]) for c in creates])
            still = []
            for c in creates:
                row = found.get(str(c.key[key_col]).casefold())
                if row:
                    c.dataverse_id = row[cm.primary_id]
                    adopted.append(c)
                else:
                    still.append(c)
            creates = still
        if creates and cm.adopt_existing_by_email and cm.key_source != "email":
            with_email = [c for c in creates if c.email]
            by_email: dict[str, dict[str, Any]] = {}
            batches = (
                []
                if self.empty(cm.entity_set, cm.primary_id)
                else list(odata.any_of_batches(cm.email_column, [c.email or "" for c in with_email]))
            )
            for rows in self.parallel_reads(cm.entity_set, [cm.primary_id, cm.email_column, key_col], batches):
                for row in rows:
                    email = str(row.get(cm.email_column) or "").casefold()
                    if email and not row.get(key_col) and email not in by_email:
                        by_email[email] = row
            still = []
            for c in creates:
                row = by_email.pop((c.email or "").casefold(), None) if c.email else None
                if row:
                    c.dataverse_id = row[cm.primary_id]
                    adopted.append(c)
                    self.counts["contacts_adopted"] += 1
                else:
                    still.append(c)
            creates = still
        # adopted and changed: connector-owned columns only, by id
        upd = adopted + updates
        adopted_ids = {id(c) for c in adopted}
        ubodies = []
        for c in upd:
            keys = c.payload.keys() if id(c) in adopted_ids else c.changed
            body = self.owned_body(c, keys, owned)
            if id(c) in adopted_ids:
                body[key_col] = c.key[key_col]
            ubodies.append(body)
        send = [(c, b) for c, b in zip(upd, ubodies, strict=True) if b]
        self.save([c for c, b in zip(upd, ubodies, strict=True) if not b])
        landed_u = self.bulk_update(cm.entity_set, cm.table, cm.primary_id, [c for c, _ in send], [b for _, b in send])
        self.counts["contacts_updated"] += len(landed_u)
        # create: deterministic id, upsert by alternate key
        bodies = []
        for c in creates:
            c.dataverse_id = deterministic_id(cm.table, str(c.key[key_col]))
            c.payload[cm.primary_id] = c.dataverse_id  # in place: the body is the payload (no second copy)
            bodies.append(c.payload)
        return creates, bodies

    def _new_cases(self, plan: Plan) -> tuple[list[PlannedRecord], list[PlannedRecord], dict[int, list[int]]]:
        """-> the cases to create in dependency order (each with its deterministic id), the ones an earlier run
        created already (adopted: now updates), and which create waits for which (``related_case``)."""
        m = self.m
        creates = plan.by_action("create")
        key_col = m.alternate_key[0]
        adopted: list[PlannedRecord] = []
        if creates and len(m.alternate_key) == 1:
            stage_col = m.stage_field.column if m.stage_field else key_col
            found = self.existing(
                m.entity_set, m.primary_id, key_col, [str(r.payload[key_col]) for r in creates], select=[stage_col]
            )
            still = []
            for r in creates:
                row = found.get(str(r.payload[key_col]).casefold())
                if row:
                    r.dataverse_id = row[m.primary_id]
                    r.action = "update"
                    adopted.append(r)
                    if m.stage_field:
                        self.adopted_stage[r.source_key] = row.get(stage_col)
                else:
                    still.append(r)
            creates = still
        for r in creates:
            r.dataverse_id = deterministic_id(m.table, r.source_key)
        # A case linked (related_case) to another case created in this same run waits until that one has settled:
        # the lookup is bound by the earlier case's alternate key, which must exist first. It waits for that case
        # alone, not for a whole wave, so the other records keep every slot busy meanwhile.
        ordered, after = _dependency_order(m, creates)
        for r in ordered:
            r.payload[m.primary_id] = r.dataverse_id  # in place: the body is the payload (no second copy per case)
        return ordered, adopted, after

    def push_updates(
        self, updates: list[PlannedRecord], adopted: list[PlannedRecord], links: Sequence[_Link] = ()
    ) -> list[PlannedRecord]:
        """Changed and adopted cases, and the links deferred for cases created this run, as one UpdateMultiple
        (stage moves go one by one, with the etag); -> the records whose stage moved."""
        m = self.m
        owned = m.connector_owned_keys()
        stage_col = m.stage_field.column if m.stage_field else None
        bulk: list[tuple[PlannedRecord, dict[str, Any]]] = []
        moved: list[PlannedRecord] = []
        adopted_keys = {r.source_key for r in adopted}
        moved_in_bulk: set[str] = set()
        for rec in updates:
            was_adopted = rec.source_key in adopted_keys
            keys = rec.payload.keys() if was_adopted else rec.changed
            body = self.owned_body(rec, keys, owned)
            for col in m.alternate_key:
                body.pop(col, None)
            if stage_col and stage_col in body and was_adopted and rec.source_key in self.adopted_stage:
                # A case an earlier (killed) run created: the CRM's stage came with its key, and nobody has moved it
                # since (the connector created it), so it goes with the other updates; its note may still be missing.
                current = self.adopted_stage[rec.source_key]
                assert m.stage_field is not None
                rec.origin["stage_from"] = _label(m.stage_field, current if current != body[stage_col] else None)
                if current == body[stage_col]:
                    body.pop(stage_col)
                moved_in_bulk.add(rec.source_key)
            elif stage_col and stage_col in body:
                if self.stage_update(rec, body, adopted=was_adopted):
                    moved.append(rec)
                continue
            if body:
                bulk.append((rec, body))
            else:
                self.save([rec])  # only CRM-owned fields changed: nothing to send, remember the new hash
                self.counts["unchanged_crm_owned"] += 1
                if rec.source_key in moved_in_bulk:
                    moved.append(rec)
        for link in links:  # the case is in step once this lands: its planned hashes are what the CRM holds
            link.rec.payload[link.key] = link.value
            link.rec.payload_hash = link.payload_hash
            link.rec.field_hashes = {**link.rec.field_hashes, link.key: link.field_hash}
            bulk.append((link.rec, {link.key: link.value}))
        landed = self.bulk_update(m.entity_set, m.table, m.primary_id, [r for r, _ in bulk], [b for _, b in bulk])
        linked = {id(k.rec) for k in links}
        self.counts["links_set"] += sum(1 for r in landed if id(r) in linked)
        self.counts["updated"] += sum(1 for r in landed if id(r) not in linked)
        moved += [r for r in landed if r.source_key in moved_in_bulk]
        return moved

    def stage_update(self, rec: PlannedRecord, body: dict[str, Any], *, adopted: bool) -> bool:
        """Read-modify-write with the etag; -> True when the stage moved (a note is due)."""
        m = self.m
        spec = m.stage_field
        assert spec is not None
        col = spec.column
        case_id = rec.dataverse_id
        assert case_id is not None, "an update knows its CRM id (from the state or the CRM's key lookup)"
        new_value = body[col]
        prev_value = spec.choices.get(rec.previous.stage) if rec.previous and rec.previous.stage else None
        for _attempt in range(3):
            try:
                row = self.client.retrieve(m.entity_set, case_id, select=[col])
            except NotFound:
                self.dead(
                    rec, "not_found", f"the case was deleted in the CRM (key {rec.reference}); discard or re-create"
                )
                return False
            except FATAL:
                raise
            except DataverseError as exc:
                self.dead(rec, exc.code or f"HTTP {exc.status}", exc.message)
                return False
            current = row.get(col)
            send = dict(body)
            moved = True
            prev_stage = rec.previous.stage if rec.previous and not adopted else None
            rec.origin["stage_from"] = prev_stage or _label(spec, current if current != new_value else None)
            if current == new_value:
                send.pop(col)  # already there (an earlier, killed run wrote it): the note may still be missing
            elif not adopted and prev_value is not None and current != prev_value:
                send.pop(col)  # a CRM user moved the stage since our last push: theirs wins
                moved = False
                rec.stage = _label(spec, current)  # remembered: the register's next move applies again
                self.counts["stage_conflicts"] += 1
                log.warning(
                    "stage changed in the CRM since the last push; kept the CRM's stage",
                    extra={"run_id": self.run_id, "reference": rec.reference},
                )
            try:
                if send:
                    self.client.update(m.entity_set, case_id, send, etag=row.get("@odata.etag"))
                self.counts["updated"] += 1
                self.save([rec])
                return moved
            except ConcurrencyConflict:
                self.counts["etag_retries"] += 1
                continue
            except FATAL:
                raise
            except DataverseError as exc:
                self.dead(rec, exc.code or f"HTTP {exc.status}", exc.message)
                return False
        self.dead(rec, "concurrency", "the case kept changing in the CRM while being updated; it will be retried")
        return False

    # ------------------------------------------------------------------ timeline notes and BPF
    def stage_notes(self, moved: list[PlannedRecord], today: date) -> None:
        m = self.m
        tl = m.timeline
        spec = m.stage_field
        for rec in moved:
            if not tl.stage_notes or not tl.note_regarding_nav or spec is None or rec.case is None:
                break
            new = rec.case.stage.value
            old = rec.origin.get("stage_from") or (rec.previous.stage if rec.previous else None) or "(none)"
            since = rec.previous.pushed_at if rec.previous else ""
            note_id = deterministic_id("stage-note", m.table, rec.source_key, str(old), new, since)
            changed = ", ".join(c.split("@")[0] for c in rec.changed if c in rec.payload) or spec.column
            body = {
                "annotationid": note_id,
                "subject": f"FOI stage: {old} -> {new}",
                "notetext": (
                    f"{rec.reference}: stage changed from {old} to {new}, recorded on {today.isoformat()} by foi-sync "
                    f"(run {self.run_id}, source {rec.origin.get('source', 'sync')}). Columns updated: {changed}."
                ),
                f"{tl.note_regarding_nav}@odata.bind": odata.bind(m.entity_set, rec.dataverse_id or ""),
            }
            try:
                self.client.create(tl.note_entity_set, body)
                self.counts["notes"] += 1
            except DuplicateRecord:
                self.counts["notes_existing"] += 1
            except FATAL:
                raise
            except DataverseError as exc:
                self.counts["notes_failed"] += 1
                self.suspect(exc.code, exc.message, exc)
                log.warning("stage note not written", extra={"reference": rec.reference, "code": exc.code})

    def move_bpfs(self, moved: list[PlannedRecord]) -> None:
        """Move each moved case's business process flow to its new stage (when the mapping names a flow)."""
        if self.m.bpf is None:
            return
        for rec in moved:
            if rec.case is not None and rec.dataverse_id:
                self.move_bpf(rec, rec.case.stage.value)

    def move_bpf(self, rec: PlannedRecord, stage: str) -> None:
        """Dataverse moves a flow only to the next or previous stage (Microsoft: business-process-flows-code), so
        a case that jumps stages is walked through the stages between, one PATCH each, with traversedpath kept to
        the stages up to the active one. A case with no flow instance yet gets one created at its stage."""
        bpf = self.m.bpf
        assert bpf is not None
        target = bpf.stage_ids.get(stage)
        if not target:
            return
        order = bpf.path
        try:
            pid = self.client.metadata.table_for_set(bpf.entity_set).primary_id
            rows = list(
                self.client.query(
                    bpf.entity_set,
                    select=[pid, "_activestageid_value", "traversedpath"],
                    filter=odata.eq(f"_{bpf.case_lookup_column}_value", odata.Guid(rec.dataverse_id or "")),
                    top=1,
                )
            )
            if not rows:
                path = order[: order.index(target) + 1] if target in order else [target]
                self.client.create(
                    bpf.entity_set,
                    {
                        f"{bpf.case_nav}@odata.bind": odata.bind(self.m.entity_set, rec.dataverse_id or ""),
                        "activestageid@odata.bind": odata.bind("processstages", target),
                        "traversedpath": ",".join(path),
                    },
                )
                self.counts["bpf_moves"] += 1
                return
            row = rows[0]
            current = str(row.get("_activestageid_value") or "").lower()
            path = [p for p in str(row.get("traversedpath") or "").lower().split(",") if p]
            if current == target:
                return
            if current in order and target in order:
                i, j = order.index(current), order.index(target)
                steps = order[i + 1 : j + 1] if j > i else list(reversed(order[j:i]))
            else:
                steps = [target]  # a stage outside the listed order: one direct move, Dataverse decides
            for step in steps:
                path = path[: path.index(step) + 1] if step in path else [*path, step]
                self.client.update(
                    bpf.entity_set,
                    row[pid],
                    {"activestageid@odata.bind": odata.bind("processstages", step), "traversedpath": ",".join(path)},
                )
            self.counts["bpf_moves"] += 1
        except FATAL:
            raise
        except (DataverseError, LookupError) as exc:
            self.counts["bpf_failed"] += 1
            if isinstance(exc, DataverseError):
                self.suspect(exc.code, exc.message, exc)
            code = (exc.code if isinstance(exc, DataverseError) else None) or type(exc).__name__
            log.warning("business process flow not moved", extra={"reference": rec.reference, "code": code})

    # ------------------------------------------------------------------ reminders
    def reminders(self, plan: Plan, engine: DeadlineEngine | None, today: date, resolver: NameResolver | None) -> None:
        m = self.m
        rm = m.reminders
        if not rm.enabled or engine is None or not rm.gates:
            return
        known = self.state.records(m.table)
        team_spec = next((s for s in m.fields.values() if s.type == "lookup" and s.target == "team"), None)
        due_tasks: list[tuple[PlannedRecord, str, str, dict[str, Any]]] = []  # (record, gate, due, task body)
        for rec in plan.cases:
            case = rec.case
            st = known.get(rec.source_key)
            if case is None or st is None or case.is_closed:
                continue
            status = engine.status(case, today)
            if status.clock == "closed":
                continue
            due = status.effective_due
            cal = engine.calendar(case.regime)
            reached = []
            for gate in rm.gates:
                gate_day = cal.add_working_days(due, -gate.working_days_before)
                if today >= gate_day:
                    reached.append((gate_day, gate))
            if not reached:
                continue
            _, gate = max(reached, key=lambda g: g[0])
            if self.state.reminder_sent(rec.source_key, gate.name, due.isoformat()):
                continue
            task_id = deterministic_id("reminder", m.table, rec.source_key, gate.name, due.isoformat())
            subject = gate.subject.format(reference=case.reference, due=due.isoformat(), gate_text=gate.name)[:200]
            body: dict[str, Any] = {
                "activityid": task_id,
                "subject": subject,
                "description": (
                    f"FOI case {case.reference} ({case.regime.value.upper()}): effective due date {due.isoformat()}, "
                    f"{status.remaining} working day(s) remaining, RAG {status.rag}. Reminder '{gate.name}' from foi-sync."
                ),
                "scheduledend": f"{due.isoformat()}T17:00:00Z",
            }
            if rm.regarding_nav:
                body[f"{rm.regarding_nav}@odata.bind"] = odata.bind(m.entity_set, st.dataverse_id)
            if rm.assign_to_team and team_spec is not None and case.assigned_team and resolver is not None:
                team = resolver("assigned_team", team_spec, case.assigned_team)
                if team:
                    body["ownerid@odata.bind"] = team
            due_tasks.append((rec, gate.name, due.isoformat(), body))
        if not due_tasks:
            return
        # One CreateMultiple for the run's reminders (deterministic ids: one already there is counted, not doubled).
        try:
            logical = self.client.metadata.logical_name_for_set(rm.entity_set)
            bulk = self.client.create_multiple(rm.entity_set, logical, [body for *_, body in due_tasks])
        except FATAL:
            raise
        except DataverseError as exc:
            self.counts["reminders_failed"] += len(due_tasks)
            self.suspect(exc.code, exc.message, exc)
            log.warning("reminder tasks not created", extra={"count": len(due_tasks), "code": exc.code})
            return
        failed = {f.index: f for f in bulk.failed}
        existing = set(bulk.preexisting)
        for n, (rec, gate_name, due_iso, body) in enumerate(due_tasks):
            failure = failed.get(n)
            if failure is not None:
                self.counts["reminders_failed"] += 1
                log.warning("reminder task not created", extra={"reference": rec.reference, "code": failure.code})
                continue
            self.counts["reminders_existing" if n in existing else "reminders"] += 1
            self.state.mark_reminder(rec.source_key, gate_name, due_iso, str(body["activityid"]))


@dataclass
class _Link:
    """A new case's related-case binding, held back until the case exists (see ``Pusher._defer_links``)."""

    rec: PlannedRecord
    key: str  # the payload key of the binding ("foi_relatedcaseid@odata.bind")
    value: Any
    payload_hash: str
    field_hash: str


def _dependency_order(
    m: TargetMapping, creates: list[PlannedRecord]
) -> tuple[list[PlannedRecord], dict[int, list[int]]]:
    """The creates in dependency order, and for each position the position of the create of this run its
    ``related_case`` is bound to (it must land first). The order is by waves: cases pointing at no other create of
    this run first, then the cases pointing at those, and so on (the plan only points back in time, so there is no
    cycle; if one appeared it would go last)."""
    if "related_case" not in m.fields or len(m.alternate_key) != 1 or not creates:
        return list(creates), {}
    key_col = m.alternate_key[0]
    spec = m.fields["related_case"]
    # the bind path each create would be pointed at by: /incidents(foi_reference='FOI-2026-0001')
    index = {
        odata.bind(spec.target_entity_set or m.entity_set, {key_col: r.payload[key_col]}): i
        for i, r in enumerate(creates)
    }
    target = [index.get(str(r.payload.get(spec.payload_key))) for r in creates]
    order: list[int] = []
    pending = list(range(len(creates)))
    while pending:
        waiting = set(pending)
        ready = [i for i in pending if target[i] is None or target[i] == i or target[i] not in waiting] or pending
        order += ready
        taken = set(ready)
        pending = [i for i in pending if i not in taken]
    position = {old: new for new, old in enumerate(order)}
    after = {position[i]: [position[t]] for i in order if (t := target[i]) is not None and t != i}
    return [creates[i] for i in order], after


def _label(spec: FieldMap, value: Any) -> str | None:
    if value is None:
        return None
    reverse = {v: k for k, v in spec.choices.items()}
    return reverse.get(value, str(value))


def already_in_crm(client: DataverseClient, mapping: TargetMapping, creates: list[PlannedRecord]) -> list[str] | None:
    """Dry run: the references of planned creates the CRM already holds (made by an interrupted run or by hand);
    the push links and updates those instead of duplicating them. None: nothing to ask (no creates, or a
    compound key)."""
    if not creates or len(mapping.alternate_key) != 1:
        return None
    col = mapping.alternate_key[0]
    values = [str(r.payload[col]) for r in creates]
    found: set[str] = set()
    for batch in odata.any_of_batches(col, values):
        for row in client.query(mapping.entity_set, select=[col], filter=batch):
            found.add(str(row.get(col)).casefold())
    return [r.reference for r in creates if str(r.payload[col]).casefold() in found]
