"""Drill fixtures: the drill scripts in scripts/ are importable, so the suite runs small versions of the same code
that produces the figures in BENCHMARKS.md."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))


@pytest.fixture
def quiet_logs() -> Iterator[None]:
    """Injected faults make the client log every retry; the drill's result is what the test reads."""
    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logging.getLogger().setLevel(previous)
