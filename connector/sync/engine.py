"""Moved: the scheduled job's orchestration is :mod:`connector.sync.job`, the migration stages
:mod:`connector.sync.migration`.

Kept only for callers outside this change's reach: ``tests/drills/test_drill_checker.py`` imports ``run_migrate``
from here, and the reliability drills (``scripts/drill_*.py``) are being edited elsewhere. Delete this file once
they import from ``connector.sync.job`` / ``connector.sync.migration``. New code must not use it.
"""

from __future__ import annotations

from connector.sync.job import RunReport, retry_dead_letters, run_migrate, run_sync
from connector.sync.job import london_today as _london_today
from connector.sync.migration import read_migration_source, reconcile

__all__ = [
    "RunReport",
    "_london_today",
    "read_migration_source",
    "reconcile",
    "retry_dead_letters",
    "run_migrate",
    "run_sync",
]
