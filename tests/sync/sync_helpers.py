"""Helpers shared by the sync tests (a uniquely named module: tests/ folders have no __init__.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connector.model import FoiCase

REPO = Path(__file__).resolve().parents[2]
#: One fixed "now" per test session, so the same case built twice is the same case.
NOW = datetime.now(UTC).replace(microsecond=0)
INCIDENT_MAPPING = REPO / "mappings" / "target-incident.toml"
CUSTOM_MAPPING = REPO / "mappings" / "target-custom-table.toml"


def make_case(i: int, **kw: Any) -> FoiCase:
    data: dict[str, Any] = {
        "reference": f"FOI/2026/{i:04d}",
        "regime": "foia",
        "received_at": NOW - timedelta(days=3),
        "channel": "email",
        "requester": {"name": f"Alex Example{i % 3}", "email": f"alex{i % 3}@example.org"},
        "subject": f"Street lighting {i}",
        "request_text": "How many street lights were repaired last year?",
        "service_area": "Highways",
        "assigned_team": "Highways",
        "source_system": "test-register",
    }
    data.update(kw)
    return FoiCase(**data)


def write_requests(sandbox: Any) -> int:
    """Writes the sandbox served (its own counters, independent of the client's)."""
    return sum(n for k, n in sandbox.stats().items() if k.split(" ")[0] in ("POST", "PATCH", "PUT", "DELETE"))
