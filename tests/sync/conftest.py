"""Sync fixtures: settings with a private state file, the FOI schema provisioned on the sandbox, case factories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sync_helpers import INCIDENT_MAPPING

from connector.sync.mapping import TargetMapping, load_target_mapping
from connector.sync.provision import provision_schema


@pytest.fixture
def sync_settings(sandbox_settings: Any, tmp_path: Path) -> Any:
    s = sandbox_settings
    s.sync.target_mapping = INCIDENT_MAPPING
    s.sync.state_path = tmp_path / "state" / "foi-sync-state.sqlite"
    s.intake.sources = []
    s.intake.rejects_dir = tmp_path / "rejects"
    s.report.store_path = tmp_path / "reporting.sqlite"
    s.report.out_dir = tmp_path / "reports"
    return s


@pytest.fixture
def mapping() -> TargetMapping:
    return load_target_mapping(INCIDENT_MAPPING)


@pytest.fixture
def provisioned(dv_client: Any, mapping: TargetMapping) -> Any:
    provision_schema(dv_client, mapping)
    return dv_client
