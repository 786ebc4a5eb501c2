"""Fixtures for the letters tests: settings and a case factory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connector.config import Settings, load_settings
from connector.model import ClockEvent, FoiCase, Regime, Requester, Stage


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(None, base_dir=tmp_path)


@pytest.fixture
def make_case() -> Callable[..., FoiCase]:
    def make(
        regime: Regime | str = Regime.FOIA,
        *,
        reference: str = "FOI/2025/0142",
        stage: Stage | str = Stage.RECEIVED,
        events: list[dict[str, Any]] | None = None,
        request_text: str = "Please send the number of pothole repairs on Station Road in 2024.",
        name: str = "Sam Example",
        email: str | None = "sam@example.org",
        **kw: Any,
    ) -> FoiCase:
        requester = Requester(name=name, email=email, postal_address=None if email else "1 Example Street")
        return FoiCase(
            reference=reference,
            regime=regime,
            received_at=datetime(2025, 7, 4, 9, 12, tzinfo=UTC),
            channel="email",
            requester=requester,
            subject="Pothole repairs",
            request_text=request_text,
            stage=stage,
            clock_events=[ClockEvent(**e) for e in (events or [])],
            **kw,
        )

    return make
