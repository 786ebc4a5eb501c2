"""Intake fixtures: settings on the shipped config (real routing rules, team calendars, deadline engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    from connector.config import load_settings

    return load_settings(None, base_dir=REPO, intake={"rejects_dir": str(tmp_path / "rejects")})


@pytest.fixture
def register_mapping() -> Path:
    return FIXTURES / "mapping-register.toml"
