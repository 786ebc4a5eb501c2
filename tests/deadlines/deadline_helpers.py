"""Helpers shared by the deadline tests (unique module name: test folders have no __init__.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from connector.deadlines import ClockInput, DeadlineEngine, DeadlineResult
from connector.model import Regime

AS_OF = date(2030, 1, 1)


def due(engine: DeadlineEngine, regime: str, received: date, **kw: object) -> DeadlineResult:
    """Compute with plain dates (as_of far in the future so no fee is 'unpaid today' by accident)."""
    as_of = kw.pop("as_of", AS_OF)
    return engine.compute_clock(ClockInput(regime=Regime(regime), received=received, **kw), as_of=as_of)  # type: ignore[arg-type]


def aware(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)
