"""Reporting fixtures: the hand-worked Q1 2025 case set and its computed tables."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
#: The date the hand-worked answers assume ("as at" for open caseload, due-soon and overdue).
TODAY = date(2025, 4, 10)


@pytest.fixture(scope="session")
def engine() -> Any:
    from connector.deadlines import DeadlineEngine

    return DeadlineEngine()


@pytest.fixture(scope="session")
def fixture_frame() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "cases_q1_2025.csv", dtype=str)


@pytest.fixture(scope="session")
def q1_tables(fixture_frame: pd.DataFrame, engine: Any) -> dict[str, pd.DataFrame]:
    from connector.reporting import compute_measures

    return compute_measures(fixture_frame, "2025-Q1", today=TODAY, engine=engine)
