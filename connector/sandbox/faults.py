"""Fault injection for reliability drills: seeded 5xx answers, dropped connections, slow answers, 429 bursts.

``--faults "5xx=0.05,drop=0.02,slow=0.01,burst=0.002,after=0.5,seed=7"``: shares of requests that fail each way;
``after`` is the share of 5xx/drops that strike *after* the write committed (the case that duplicates records in
naive clients). Tests can also schedule exact faults with :meth:`Faults.schedule`.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass
class FaultSpec:
    error_5xx: float = 0.0
    drop: float = 0.0
    slow: float = 0.0
    burst: float = 0.0
    after: float = 0.5
    slow_seconds: float = 2.0
    burst_seconds: float = 2.0
    seed: int = 0

    @classmethod
    def parse(cls, text: str | None) -> FaultSpec:
        spec = cls()
        if not text:
            return spec
        names = {
            "5xx": "error_5xx",
            "drop": "drop",
            "slow": "slow",
            "burst": "burst",
            "after": "after",
            "slow_seconds": "slow_seconds",
            "burst_seconds": "burst_seconds",
            "seed": "seed",
        }
        for item in text.split(","):
            if not item.strip():
                continue
            key, _, value = item.partition("=")
            attr = names.get(key.strip())
            if attr is None:
                raise ValueError(f"unknown fault '{key.strip()}' in --faults; use one of {', '.join(names)}")
            setattr(spec, attr, int(value) if attr == "seed" else float(value))
        return spec


@dataclass
class Decision:
    kind: str | None = None  # "5xx" | "drop" | "slow" | "burst"
    after: bool = False
    status: int = 503


@dataclass
class _Scheduled:
    kind: str
    method: str | None
    path_contains: str | None
    after: bool
    remaining: int
    status: int


@dataclass
class Faults:
    spec: FaultSpec = field(default_factory=FaultSpec)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.spec.seed)
        self._lock = threading.Lock()
        self._scheduled: list[_Scheduled] = []
        self.injected: dict[str, int] = {}

    def schedule(
        self,
        kind: str,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        after: bool = False,
        count: int = 1,
        status: int = 503,
    ) -> None:
        """Make the next ``count`` matching requests fail with ``kind`` (deterministic, for tests)."""
        with self._lock:
            self._scheduled.append(_Scheduled(kind, method, path_contains, after, count, status))

    def decide(self, method: str, path: str) -> Decision:
        with self._lock:
            for s in self._scheduled:
                if (
                    s.remaining > 0
                    and (s.method is None or s.method == method)
                    and (s.path_contains is None or s.path_contains in path)
                ):
                    s.remaining -= 1
                    self.injected[s.kind] = self.injected.get(s.kind, 0) + 1
                    return Decision(s.kind, s.after, s.status)
            sp = self.spec
            r = self._rng.random()
            for kind, share in (("5xx", sp.error_5xx), ("drop", sp.drop), ("slow", sp.slow), ("burst", sp.burst)):
                if r < share:
                    self.injected[kind] = self.injected.get(kind, 0) + 1
                    after = kind in ("5xx", "drop") and method != "GET" and self._rng.random() < sp.after
                    status = self._rng.choice((502, 503, 504)) if kind == "5xx" else 503
                    return Decision(kind, after, status)
                r -= share
            return Decision()
