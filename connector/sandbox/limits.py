"""Service protection limits and the realistic profile's cost model: what one request costs the service.

Limits are per user, as Dataverse enforces them (Microsoft Learn, "Service protection API limits": per user and web
server, in a 5-minute sliding window, 6,000 requests, 20 minutes (1,200,000 ms) of combined execution time and 52
concurrent requests), with the documented error codes, Retry-After, and the debugging headers.

The cost model charges every record the service executes: each record a request creates, updates, deletes or
associates, nested deep-insert records included; each `$batch` part as the single request it is; and each row a read
scans or returns. A :class:`Meter` collects those counts while the request runs (the store reports to it), and
:meth:`Profile.cost_ms` turns them into service time. Service time holds one of the profile's server slots, and the
slots are the sustained execution-time budget (1,200,000 ms per 300 s is 4 s of execution per second): that is why
:meth:`Profile.ceiling` is an upper bound no client can exceed, however many requests it keeps in flight.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from connector.sandbox.errors import DvError


@dataclass
class LimitOptions:
    requests: int = 6000
    window_seconds: float = 300.0
    execution_ms: float = 1_200_000.0
    concurrent: int = 52
    dop_hint: int = 4


class Meter:
    """What the request being served made the service execute; one request at a time (under the store lock)."""

    def __init__(self) -> None:
        self.written: set[tuple[str, str]] = set()
        self.rows_read = 0
        self.parts = 0

    def reset(self) -> None:
        self.written = set()
        self.rows_read = 0
        self.parts = 0

    def wrote(self, table: str, rid: str) -> None:
        """A record created, updated, deleted or associated; writing it twice in one request is one record."""
        self.written.add((table, rid))

    def read(self, rows: int = 1) -> None:
        """Rows a read scanned (loaded and tested) or returned."""
        self.rows_read += rows

    def part(self) -> None:
        """One more request executed inside this one (a `$batch` part)."""
        self.parts += 1

    def charge(self) -> Charge:
        return Charge(requests=1 + self.parts, writes=len(self.written), reads=self.rows_read)


@dataclass(frozen=True)
class Charge:
    """The work one HTTP request put on the service: requests executed (a `$batch` is its envelope plus each part),
    records written, rows read."""

    requests: int = 1
    writes: int = 0
    reads: int = 0


@dataclass
class Profile:
    """Server cost model. ``realistic`` makes throughput work meet a real, stated ceiling."""

    name: str = "fast"
    latency_ms: float = 0.0
    write_ms_per_record: float = 0.0
    read_ms_per_record: float = 0.0
    slots: int = 0  # requests the "server" executes at once (the sustained execution budget); 0 = unlimited

    @classmethod
    def named(cls, name: str) -> Profile:
        if name == "fast":
            return cls()
        if name == "realistic":
            return cls("realistic", latency_ms=15.0, write_ms_per_record=1.5, read_ms_per_record=0.02, slots=4)
        raise ValueError(f"unknown profile '{name}'; use fast or realistic")

    def cost_ms(self, charge: Charge) -> float:
        return (
            self.latency_ms * charge.requests
            + self.write_ms_per_record * charge.writes
            + self.read_ms_per_record * charge.reads
        )

    def ceiling_for(self, records_per_request: float) -> float:
        """Records/s the server can absorb at most when every request writes ``records_per_request`` records."""
        if self.name == "fast" or records_per_request <= 0:
            return math.inf
        k = records_per_request
        return self.slots * 1000.0 * k / (self.latency_ms + self.write_ms_per_record * k)

    def ceiling(self, max_chunk: int = 1000, limits: LimitOptions | None = None) -> dict[str, float]:
        """Records per second the server can absorb for each write method at most (all slots busy).

        ``single`` covers one record per request however it is sent (POST, PATCH, or a `$batch` part, which also
        pays for its envelope); bulk messages at ``max_chunk`` records per request; ``any`` is the bound for any
        request shape (every record costs at least ``write_ms_per_record`` of one slot). ``requests_per_second``
        is the sustained request rate the 5-minute request limit allows: over a long run single requests cannot
        go faster than that, whatever the slots allow.
        """
        if self.name == "fast":
            return {}
        single = self.ceiling_for(1)
        bulk = self.ceiling_for(max_chunk)
        o = limits or LimitOptions()
        return {
            "single": round(single, 1),
            "CreateMultiple": round(bulk, 1),
            "UpsertMultiple": round(bulk, 1),
            "UpdateMultiple": round(bulk, 1),
            "any": round(self.slots * 1000.0 / self.write_ms_per_record, 1),
            "requests_per_second": round(o.requests / o.window_seconds, 2),
            "max_chunk": max_chunk,
            "slots": self.slots,
        }


@dataclass
class _UserState:
    starts: deque[float] = field(default_factory=deque)
    costs: deque[tuple[float, float]] = field(default_factory=deque)  # (end time, ms)
    cost_total: float = 0.0
    active: int = 0
    burst_until: float = 0.0


class Limiter:
    def __init__(self, options: LimitOptions) -> None:
        self.options = options
        self._users: dict[str, _UserState] = {}
        self._lock = threading.Lock()
        self.throttled = 0

    def _trim(self, st: _UserState, now: float) -> None:
        horizon = now - self.options.window_seconds
        while st.starts and st.starts[0] <= horizon:
            st.starts.popleft()
        while st.costs and st.costs[0][0] <= horizon:
            st.cost_total -= st.costs.popleft()[1]

    def burst(self, user: str, seconds: float) -> None:
        with self._lock:
            st = self._users.setdefault(user, _UserState())
            st.burst_until = max(st.burst_until, time.time() + seconds)

    def enter(self, user: str) -> dict[str, str]:
        """Admit a request or raise the documented 429; returns the rate-limit debug headers."""
        o = self.options
        with self._lock:
            now = time.time()
            st = self._users.setdefault(user, _UserState())
            self._trim(st, now)
            if st.burst_until > now:
                self.throttled += 1
                raise self._error(
                    "0x80072322",
                    f"Number of requests exceeded the limit of {o.requests} over time window of "
                    f"{int(o.window_seconds)} seconds.",
                    st.burst_until - now,
                )
            if st.active >= o.concurrent:
                self.throttled += 1
                raise self._error(
                    "0x80072326", f"Number of concurrent requests exceeded the limit of {o.concurrent}.", 1
                )
            if len(st.starts) >= o.requests:
                self.throttled += 1
                raise self._error(
                    "0x80072322",
                    f"Number of requests exceeded the limit of {o.requests} over time window of "
                    f"{int(o.window_seconds)} seconds.",
                    st.starts[0] + o.window_seconds - now,
                )
            if st.cost_total >= o.execution_ms:
                self.throttled += 1
                raise self._error(
                    "0x80072321",
                    f"Combined execution time of incoming requests exceeded limit of {int(o.execution_ms):,} "
                    f"milliseconds over time window of {int(o.window_seconds)} seconds. Decrease number of concurrent "
                    "requests or reduce the duration of requests and try again later.",
                    st.costs[0][0] + o.window_seconds - now if st.costs else 1,
                )
            st.starts.append(now)
            st.active += 1
            return {
                "x-ms-ratelimit-burst-remaining-xrm-requests": str(o.requests - len(st.starts)),
                "x-ms-ratelimit-time-remaining-xrm-requests": f"{max(0.0, o.execution_ms - st.cost_total):.2f}",
            }

    def leave(self, user: str, cost_ms: float) -> None:
        with self._lock:
            st = self._users.setdefault(user, _UserState())
            st.active = max(0, st.active - 1)
            st.costs.append((time.time(), cost_ms))
            st.cost_total += cost_ms

    def _error(self, code: str, message: str, retry_after: float) -> DvError:
        seconds = max(1, math.ceil(retry_after))
        return DvError(429, code, message, {"Retry-After": str(seconds)})
