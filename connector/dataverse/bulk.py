"""CreateMultiple / UpsertMultiple / UpdateMultiple at the service-protection ceiling, without losing a record.

* Chunks are sized adaptively (grown from the measured time per record up to 1,000, halved when a chunk is slow,
  times out or is too large). With ``fewest_requests`` a call on a message never timed sends one chunk alone
  first, and every chunk is full; otherwise the last records are shared out so all workers finish together.
* Parallel workers follow ``x-ms-dop-hint`` (or ``dataverse.max_workers``); an adaptive gate halves the number of
  requests in flight when a 429 arrives and adds one back after a run of successes (AIMD).
* On standard tables one bad record rolls back the whole chunk. The chunk is then replayed as a ``$batch`` with
  ``Prefer: odata.continue-on-error`` (one request per record, same outcome per record), so every good record
  lands and each bad one is reported with its error; if the batch itself is refused, the chunk is bisected.
  A 4xx is never re-sent as is.
* Creates never duplicate: every record gets a client-generated primary id before the first send. When a
  CreateMultiple (or a $batch of creates) ends with an unknown outcome (5xx, dropped connection, timeout) the
  client asks Dataverse which of those ids exist and sends only the missing ones again, with the same ids, so
  a late commit can only ever produce a "duplicate key" answer, never a second record.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connector import odata
from connector.dataverse.batch import BatchRequest, build_batch, parse_batch_response
from connector.dataverse.errors import (
    AuthenticationFailed,
    DataverseError,
    DuplicateRecord,
    OutcomeUnknown,
    PermissionDenied,
    RequestTooLarge,
    TransportError,
)
from connector.dataverse.transport import JSON_CONTENT_TYPE, json_body

if TYPE_CHECKING:
    from connector.dataverse.transport import Transport

log = logging.getLogger(__name__)

MAX_CHUNK = 1000
#: The code of a record not sent because a record of another call it waits on (``waits``) failed.
DEPENDENCY_FAILED = "dependency_failed"
#: How a record is addressed: its GUID, or its alternate key's columns and values (None: it has neither).
RecordKey = str | Mapping[str, Any] | None

RECONCILE_ATTEMPTS = 3
RECONCILE_GROUP = 50
TAIL_FLOOR = 50


@dataclass
class BulkFailure:
    """One record that did not land: its position in the input, its key (id or alternate key), and the error."""

    index: int
    key: RecordKey
    code: str
    message: str
    status: int | None = None


@dataclass
class BulkResult:
    succeeded: int = 0
    failed: list[BulkFailure] = field(default_factory=list)
    ids: list[str | None] = field(default_factory=list)
    requests: int = 0
    isolated_chunks: int = 0
    seconds: float = 0.0
    #: CreateMultiple: input positions whose client-generated id was already in the table when this call sent it
    #: (created by another run, or by an attempt of this one whose answer was lost); counted in ``succeeded`` too.
    preexisting: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return f"{self.succeeded} written, {len(self.failed)} failed in {self.seconds:.1f} s ({self.requests} requests)"


class AdaptiveGate:
    """Bounds requests in flight; halves the bound on a 429 and grows it by one after ``limit`` clean answers."""

    def __init__(self, maximum: int, start: int | None = None) -> None:
        self.maximum = max(1, maximum)
        self.limit = max(1, min(self.maximum, start or self.maximum))
        self.active = 0
        self.lowest = self.limit
        self._clean = 0
        self._cond = threading.Condition()
        self._last_cut = 0.0

    def __enter__(self) -> AdaptiveGate:
        with self._cond:
            while self.active >= self.limit:
                self._cond.wait()
            self.active += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self.active -= 1
            self._cond.notify_all()

    def resize(self, maximum: int) -> None:
        with self._cond:
            grow = self.limit == self.maximum
            self.maximum = max(1, maximum)
            self.limit = self.maximum if grow else min(self.limit, self.maximum)
            self._cond.notify_all()

    def throttled(self, retry_after: float = 0.0) -> None:
        with self._cond:
            now = time.monotonic()
            if now - self._last_cut > 0.5:  # one cut per burst of 429s, not one per worker
                self.limit = max(1, self.limit // 2)
                self.lowest = min(self.lowest, self.limit)
                self._last_cut = now
                log.info("429 received: parallel requests reduced to %d", self.limit)
            self._clean = 0

    def success(self) -> None:
        with self._cond:
            self._clean += 1
            if self.limit < self.maximum and self._clean >= self.limit:
                self.limit += 1
                self._clean = 0
                self._cond.notify_all()


class ChunkSizer:
    """Chunk size per message and table. Grows after a fast full chunk: at least x2, and up to the size the chunk's
    own time per record predicts would take half the target (at most x5 a step, never above ``maximum``); halves on
    a slow chunk, a timeout or a 413, down to 10 (or the configured start, if smaller). ``measured`` is False
    until a chunk has been timed (a size learned by an earlier run counts as measured)."""

    def __init__(
        self, start: int, maximum: int = MAX_CHUNK, target_seconds: float = 20.0, *, measured: bool = False
    ) -> None:
        self.maximum = max(1, min(maximum, MAX_CHUNK))
        self.size = max(1, min(start, self.maximum))
        self.minimum = min(10, self.size)
        self.target = target_seconds
        self.measured = measured
        self._lock = threading.Lock()

    def grow_or_shrink(self, sent: int, seconds: float) -> None:
        with self._lock:
            self.measured = True
            if seconds > self.target:
                self.size = max(self.minimum, self.size // 2)
            elif seconds < self.target / 2 and sent >= self.size:
                fits = int(self.target / 2 * sent / seconds) if seconds > 0 else self.maximum
                self.size = min(self.maximum, max(self.size * 2, min(fits, self.size * 5)))

    def shrink(self) -> None:
        with self._lock:
            self.size = max(self.minimum, self.size // 2)


class Settlement:
    """The input positions of one bulk call that have settled (landed or failed), for a concurrent call whose
    records wait on them: cases bound by the key of a requester that a parallel contacts call is still writing.
    ``close()`` (the call ended, however) releases every waiter, so a waiting record is never stuck."""

    def __init__(self) -> None:
        self._done: set[int] = set()
        self._failed: set[int] = set()
        self._closed = False
        self._cond = threading.Condition()

    def add(self, landed: Iterable[int], failed: Iterable[int] = ()) -> None:
        with self._cond:
            self._done.update(landed)
            failed = set(failed)
            self._done.update(failed)
            self._failed.update(failed)
            self._cond.notify_all()

    def failed(self, positions: Sequence[int]) -> bool:
        """One of these positions failed: a record bound to it would only fail too, so it is not sent."""
        return any(p in self._failed for p in positions)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def settled(self, positions: Sequence[int]) -> bool:
        return self._closed or all(p in self._done for p in positions)

    def wait(self, timeout: float) -> None:
        with self._cond:
            if not self._closed:
                self._cond.wait(timeout)


#: Records of this call that wait on another call's positions: (that call's settlement, position -> its positions).
Waits = tuple[Settlement, Mapping[int, Sequence[int]]]


@dataclass
class _Item:
    index: int
    key: RecordKey  # for reporting and addressing
    body: dict[str, Any]

    @property
    def address(self) -> str | Mapping[str, Any]:
        """The key a request addresses: only items that have one are ever sent (the others fail before)."""
        if self.key is None:
            raise ValueError(f"record {self.index} has no key to address it by")
        return self.key


class BulkWriter:
    """Runs one bulk operation: chunking, workers, isolation of bad records and reconciliation of creates."""

    def __init__(
        self,
        transport: Transport,
        *,
        message: str,
        entity_set: str,
        logical_name: str,
        primary_id: str | None,
        workers: int,
        chunk_size: int,
        gate: AdaptiveGate,
        sizer: ChunkSizer | None = None,
        bypass_plugins: bool = False,
        progress: Callable[[int], None] | None = None,
        on_settled: Callable[[Sequence[int], Sequence[BulkFailure]], None] | None = None,
        on_drained: Callable[[], None] | None = None,
        fewest_requests: bool = False,
    ) -> None:
        self.t = transport
        #: See ``DataverseClient.fewest_requests``.
        self.fewest_requests = fewest_requests
        #: Called once when the last record has been handed to a worker (only the chunks in flight are left), so a
        #: dependent call can start filling the slots this call is about to free.
        self.on_drained = on_drained
        #: Called from the worker as soon as a chunk's records are settled (landed: their input positions; failed:
        #: their failures), so a caller can checkpoint while the other workers keep the server busy.
        self.on_settled = on_settled
        self.message = message
        self.entity_set = odata.name(entity_set)
        self.logical_name = odata.name(logical_name)
        self.primary_id = primary_id
        self.workers = max(1, workers)
        self.sizer = sizer or ChunkSizer(chunk_size, target_seconds=min(20.0, transport.timeout / 4))
        self.gate = gate
        self.headers = {"MSCRM.BypassBusinessLogicExecution": "CustomSync,CustomAsync"} if bypass_plugins else {}
        self.progress = progress
        self.result = BulkResult()
        self._lock = threading.Lock()
        #: Signalled when a chunk settles or a worker finishes one: a record waiting for another may now go.
        self._cond = threading.Condition(self._lock)
        self._abort: DataverseError | None = None
        self._queue: list[_Item] = []
        self._pos = 0
        #: Dependencies: input position -> positions that must have settled (landed or failed) before it is sent.
        self._after: Mapping[int, Sequence[int]] = {}
        #: Dependencies on another, concurrent call's positions (see :class:`Settlement`).
        self._waits: Waits | None = None
        self._in_run: set[int] = set()
        self._settled: set[int] = set()
        self._waiting: list[_Item] = []
        self._in_flight = 0
        self._last_round = True
        self._probing = False

    # ------------------------------------------------------------------ run
    def run(
        self,
        items: list[_Item],
        total: int,
        after: Mapping[int, Sequence[int]] | None = None,
        waits: Waits | None = None,
    ) -> BulkResult:
        """Send ``items``. ``after`` holds, for an input position, the positions that must settle before it is
        sent (a case whose lookup is bound by another new case's key). Such a record waits only for those: the
        workers keep sending whatever is ready meanwhile, so no slot idles at a wave boundary. ``waits`` does the
        same for positions of another call running alongside (cases waiting on their own requesters)."""
        started = time.monotonic()
        self.result.ids = [None] * total
        self._after = after or {}
        self._waits = waits if waits and waits[1] else None
        self._in_run = {i.index for i in items} if self._after else set()
        rounds = _rounds(items)
        if not rounds and self.on_drained:
            self.on_drained()
        # Fewest requests (the scheduled job): a call on a message and table never timed sends one chunk alone
        # first, then the rest at the size it measured. Otherwise (a migration) all workers start at once: there
        # the slots matter, not the count.
        self._probing = self.fewest_requests and not self.sizer.measured
        for number, round_items in enumerate(rounds):
            self._last_round = number == len(rounds) - 1
            self._queue, self._pos, self._waiting = round_items, 0, []
            n = min(self.workers, max(1, len(round_items)))
            if n == 1:
                self._worker()
            else:
                # (A spare thread encoding the next chunk while waiting at the gate was measured: slower, 17.8 s
                # against 16.8 s for 20,000 cases' contacts and cases, so each worker encodes its own.)
                with ThreadPoolExecutor(max_workers=n, thread_name_prefix="dv-bulk") as pool:
                    for f in [pool.submit(self._worker) for _ in range(n)]:
                        f.result()
        self.result.failed.sort(key=lambda f: f.index)
        self.result.seconds = time.monotonic() - started
        self.t.stats.records(self.result.succeeded, len(self.result.failed))
        return self.result

    def _ready(self, item: _Item) -> bool:
        if self._waits is not None:
            settlement, needs = self._waits
            other = needs.get(item.index)
            if other and not settlement.settled(other):
                return False
        deps = self._after.get(item.index)
        return not deps or all(d in self._settled or d not in self._in_run for d in deps)

    def _waits_elsewhere(self) -> bool:
        """A waiting record needs a position of the other call that has not settled yet."""
        if self._waits is None:
            return False
        settlement, needs = self._waits
        return any(not settlement.settled(needs.get(i.index, ())) for i in self._waiting)

    def _take(self) -> list[_Item]:
        with self._cond:
            while True:
                # Near the end, share what is left so the workers finish together instead of one straggler
                # holding the last big chunk (chunks shrink towards remaining/workers, but not below TAIL_FLOOR).
                remaining = len(self._queue) - self._pos + len(self._waiting)
                if remaining == 0:
                    return []
                if self._probing and self.sizer.measured:
                    self._probing = False
                if self._probing and self._in_flight:
                    self._cond.wait()  # the first chunk is being timed
                    continue
                size = self.sizer.size
                # Fewest requests: full chunks to the last. Otherwise the tail is shared between the workers, so
                # they all finish together (more, smaller requests at the end, every slot busy).
                if not self.fewest_requests and remaining < size * self.workers:
                    size = min(size, max(TAIL_FLOOR, -(-remaining // self.workers)))
                if not self._after and self._waits is None:
                    chunk = self._queue[self._pos : self._pos + size]
                    self._pos += len(chunk)
                else:
                    chunk = self._take_ready(size)
                    elsewhere = len(chunk) < min(size, remaining) and self._waits_elsewhere()
                    if chunk and elsewhere:
                        # More of this chunk's records will be ready once the other call settles: wait for them
                        # rather than send a part now and the rest in a request of its own.
                        self._waiting = chunk + self._waiting
                        chunk = []
                    if elsewhere and self._waits is not None:
                        # The other call settles chunks on its own threads: look again shortly.
                        self._cond.release()
                        try:
                            self._waits[0].wait(0.05)
                        finally:
                            self._cond.acquire()
                        continue
                    if not chunk and self._in_flight:
                        self._cond.wait()  # what the waiting records need is in flight
                        continue
                    if not chunk:  # nothing in flight can release them (a cycle): send them as they are
                        chunk, self._waiting = self._waiting[:size], self._waiting[size:]
                self._in_flight += 1
                if self.on_drained and self._last_round and self._pos >= len(self._queue) and not self._waiting:
                    drained, self.on_drained = self.on_drained, None
                    drained()
                return chunk

    def _take_ready(self, size: int) -> list[_Item]:
        """Up to ``size`` records whose dependencies have settled, earlier waiters first; the others wait."""
        chunk = [i for i in self._waiting if self._ready(i)][:size]
        if chunk:
            taken = {id(i) for i in chunk}
            self._waiting = [i for i in self._waiting if id(i) not in taken]
        while len(chunk) < size and self._pos < len(self._queue):
            item = self._queue[self._pos]
            self._pos += 1
            (chunk if self._ready(item) else self._waiting).append(item)
        return chunk

    def _worker(self) -> None:
        while True:
            chunk = self._take()
            if not chunk:
                return
            try:
                if self._abort is not None:
                    self._fail(chunk, self._abort, prefix="not sent: ")
                    continue
                if self._waits is not None:
                    settlement, needs = self._waits
                    doomed: list[_Item] = []
                    sendable: list[_Item] = []
                    for item in chunk:
                        (doomed if settlement.failed(needs.get(item.index, ())) else sendable).append(item)
                    if doomed:
                        unsent = DataverseError(
                            "a record it is bound to failed, so it was not sent", code=DEPENDENCY_FAILED
                        )
                        self._fail(doomed, unsent)
                        chunk = sendable
                        if not chunk:
                            continue
                self._send_chunk(chunk)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    # ------------------------------------------------------------------ outcomes
    def _ok(self, items: Sequence[_Item], ids: Sequence[str | None] | None = None) -> None:
        with self._lock:
            self._settled.update(i.index for i in items)
            self.result.succeeded += len(items)
            for i, item in enumerate(items):
                rid = ids[i] if ids is not None and i < len(ids) else None
                if rid is None and isinstance(item.key, str):
                    rid = item.key
                self.result.ids[item.index] = rid
        if self.on_settled:
            self.on_settled([i.index for i in items], [])
        if self.progress:
            self.progress(len(items))

    def _fail(self, items: Sequence[_Item], err: DataverseError | Exception, prefix: str = "") -> None:
        if isinstance(err, DataverseError):
            code, status, message = err.code or type(err).__name__, err.status, prefix + (err.message or str(err))
        else:
            code, status, message = type(err).__name__, None, prefix + str(err)
        failures = [BulkFailure(item.index, item.key, code, message, status) for item in items]
        with self._lock:
            self._settled.update(i.index for i in items)
            self.result.failed.extend(failures)
        if self.on_settled:
            self.on_settled([], failures)
        if self.progress:
            self.progress(len(items))

    def _count_request(self) -> None:
        with self._lock:
            self.result.requests += 1

    # ------------------------------------------------------------------ one chunk
    def _targets(self, chunk: Sequence[_Item]) -> list[dict[str, Any]]:
        out = []
        for item in chunk:
            target = {**item.body, "@odata.type": f"Microsoft.Dynamics.CRM.{self.logical_name}"}
            if self.message == "UpsertMultiple":
                target["@odata.id"] = odata.record_path(self.entity_set, item.address)
            out.append(target)
        return out

    def _send_chunk(self, chunk: list[_Item], attempt: int = 0) -> None:
        create = self.message == "CreateMultiple"
        body = json_body({"Targets": self._targets(chunk)})  # encoded before the wait for a slot
        try:
            with self.gate:
                started = time.monotonic()  # the chunk's own time, not its wait for a slot
                self._count_request()
                resp = self.t.request(
                    "POST",
                    f"{self.entity_set}/Microsoft.Dynamics.CRM.{self.message}",
                    data=body,
                    headers={"Content-Type": JSON_CONTENT_TYPE, **self.headers},
                    idempotent=not create,
                )
            self.gate.success()
        except OutcomeUnknown as exc:
            self.sizer.shrink()
            self._reconcile(chunk, exc, attempt)
            return
        except RequestTooLarge as exc:
            self.sizer.shrink()
            if len(chunk) == 1:
                self._fail(chunk, exc)
                return
            mid = len(chunk) // 2
            self._send_chunk(chunk[:mid])
            self._send_chunk(chunk[mid:])
            return
        except (AuthenticationFailed, PermissionDenied) as exc:
            # Every further request would fail the same way: report the rest unsent rather than hammer on.
            self._abort = exc
            self._fail(chunk, exc)
            return
        except TransportError as exc:
            self.sizer.shrink()
            self._fail(chunk, exc)
            return
        except DataverseError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                self._isolate(chunk, exc)
            else:
                self._fail(chunk, exc)
            return
        self.sizer.grow_or_shrink(len(chunk), time.monotonic() - started)
        ids: list[str | None] | None = None
        if create:
            try:
                ids = [str(i).lower() for i in resp.json().get("Ids", [])]
            except ValueError:
                ids = None
            if not ids:
                ids = [item.key if isinstance(item.key, str) else None for item in chunk]
        self._ok(chunk, ids)

    # ------------------------------------------------------------------ bad-record isolation
    def _part(self, item: _Item) -> BatchRequest:
        if self.message == "UpsertMultiple":
            return BatchRequest("PATCH", odata.record_path(self.entity_set, item.address), item.body)
        if self.message == "UpdateMultiple":
            body = {k: v for k, v in item.body.items() if k != self.primary_id}
            return BatchRequest("PATCH", odata.record_path(self.entity_set, item.address), body, {"If-Match": "*"})
        return BatchRequest("POST", self.entity_set, item.body)

    def _isolate(self, chunk: list[_Item], chunk_error: DataverseError) -> None:
        """The chunk was rolled back because of (at least) one bad record: replay it one request per record."""
        with self._lock:
            self.result.isolated_chunks += 1
        log.info(
            "%s chunk of %d refused (%s %s): isolating bad records with $batch continue-on-error",
            self.message,
            len(chunk),
            chunk_error.status,
            chunk_error.code or "",
        )
        if len(chunk) == 1:
            if isinstance(chunk_error, DuplicateRecord) and self._already_there(chunk):
                return
            self._fail(chunk, chunk_error)
            return
        ctype, body = build_batch([self._part(i) for i in chunk], self.t.api_path)
        headers = {"Content-Type": ctype, "Prefer": "odata.continue-on-error", **self.headers}
        try:
            with self.gate:
                self._count_request()
                resp = self.t.request(
                    "POST",
                    "$batch",
                    data=body,
                    headers=headers,
                    idempotent=self.message != "CreateMultiple",
                    accept_errors=True,
                )
                if "multipart/mixed" not in resp.headers.get("Content-Type", ""):
                    raise self.t._error(resp)
            self.gate.success()
            parts = parse_batch_response(resp.headers.get("Content-Type", ""), resp.content)
        except OutcomeUnknown as exc:
            self._reconcile(chunk, exc, 0)
            return
        except DataverseError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                self._bisect(chunk, exc)
            else:
                self._fail(chunk, exc)
            return
        if len(parts) != len(chunk):
            self._bisect(chunk, chunk_error)
            return
        for item, part in zip(chunk, parts, strict=True):
            err = part.error()
            if err is None:
                self._ok([item], [part.entity_id or (item.key if isinstance(item.key, str) else None)])
            elif isinstance(err, DuplicateRecord) and self._already_there([item]):
                continue
            else:
                self._fail([item], err)

    def _bisect(self, chunk: list[_Item], err: DataverseError) -> None:
        if len(chunk) == 1:
            self._fail(chunk, err)
            return
        mid = len(chunk) // 2
        for half in (chunk[:mid], chunk[mid:]):
            self._send_chunk(half)

    # ------------------------------------------------------------------ reconciliation of creates
    def _already_there(self, items: Sequence[_Item]) -> bool:
        """CreateMultiple refused these ids as duplicates: when they all exist, they count as landed (another run,
        or a lost answer of ours, created them) and are listed in ``preexisting``. Any other table: False."""
        if self.message != "CreateMultiple":
            return False
        try:
            existing = self._exists(items)
        except DataverseError:
            return False
        if not all(str(i.key).lower() in existing for i in items):
            return False
        with self._lock:
            self.result.preexisting.extend(i.index for i in items)
        self._ok(items)
        return True

    def _exists(self, items: Sequence[_Item]) -> set[str]:
        """Which of these client-generated ids exist now (safe, repeatable reads)."""
        found: set[str] = set()
        pid = self.primary_id
        if not pid:
            return found
        for start in range(0, len(items), RECONCILE_GROUP):
            group = [str(i.key) for i in items[start : start + RECONCILE_GROUP]]
            query = f"$select={pid}&$filter={odata.any_of(pid, [odata.Guid(g) for g in group])}"
            body = self.t.json("GET", self.entity_set, query=query, headers={"Prefer": "odata.maxpagesize=5000"})
            found.update(str(r.get(pid, "")).lower() for r in body.get("value", []))
        return found

    def _reconcile(self, chunk: list[_Item], exc: DataverseError, attempt: int) -> None:
        if self.message != "CreateMultiple" or not self.primary_id:
            self._fail(chunk, exc)
            return
        try:
            existing = self._exists(chunk)
        except DataverseError as read_error:
            self._fail(chunk, read_error, prefix="outcome unknown and could not be checked: ")
            return
        landed = [i for i in chunk if str(i.key).lower() in existing]
        missing = [i for i in chunk if str(i.key).lower() not in existing]
        log.warning(
            "CreateMultiple outcome unknown (%s): %d of %d records had landed; re-sending %d with the same ids",
            exc.status or type(exc).__name__,
            len(landed),
            len(chunk),
            len(missing),
        )
        if landed:
            self._ok(landed)
        if missing:
            if attempt + 1 >= RECONCILE_ATTEMPTS:
                self._fail(missing, exc, prefix="not created after repeated unknown outcomes: ")
            else:
                time.sleep(min(5.0, 0.5 * 2**attempt))
                self._send_chunk(missing, attempt + 1)


def _rounds(items: list[_Item]) -> list[list[_Item]]:
    """Split so no key repeats within a round (UpsertMultiple refuses duplicate keys); rounds run in order."""
    rounds: list[list[_Item]] = []
    seen: dict[str, int] = {}
    for item in items:
        sig = _key_sig(item.key)
        n = seen.get(sig, 0)
        seen[sig] = n + 1
        while len(rounds) <= n:
            rounds.append([])
        rounds[n].append(item)
    return rounds


def _key_sig(key: RecordKey) -> str:
    if isinstance(key, Mapping):
        return "|".join(f"{k}={str(v).casefold()}" for k, v in sorted(key.items()))
    return str(key).lower()


def new_id() -> str:
    return str(uuid.uuid4())
