"""Triage fixtures: the hand-labelled request register and settings that read it."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]
REQUESTS = FIXTURES / "requests.csv"
REQUESTS_MAPPING = FIXTURES / "mapping-requests.toml"


def expected() -> dict[str, dict[str, str]]:
    """Ref -> the hand-written expectation columns (ExpectTriage, ExpectRegime, ExpectReason, Why)."""
    with REQUESTS.open(encoding="utf-8") as f:
        return {row["Ref"]: row for row in csv.DictReader(f)}


@pytest.fixture
def triage_settings(tmp_path: Path) -> Any:
    from connector.config import IntakeSource, load_settings

    s = load_settings(None, base_dir=REPO, intake={"rejects_dir": str(tmp_path / "rejects")})
    s.intake.sources = [IntakeSource(name="fixtures", kind="csv", path=str(REQUESTS), mapping=REQUESTS_MAPPING)]
    return s
