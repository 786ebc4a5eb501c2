"""Deadline engines for the tests: the council defaults and the s.45 Code receipt reading."""

from __future__ import annotations

import pytest

from connector.deadlines import DeadlineEngine


@pytest.fixture(scope="session")
def engine() -> DeadlineEngine:
    """ICO reading (arrival date is day 0), English council, no override file."""
    return DeadlineEngine(receipt_rule="arrival", nation="england", overrides=None)


@pytest.fixture(scope="session")
def engine_nwd() -> DeadlineEngine:
    """s.45 Code of Practice reading: receipt on a non-working day rolls to the next working day."""
    return DeadlineEngine(receipt_rule="next-working-day", nation="england", overrides=None)
