"""Service protection limits: requests per sliding window, combined execution time, concurrent requests.

Per user, as Dataverse enforces them, with the documented error codes, Retry-After, and the debugging headers.
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
