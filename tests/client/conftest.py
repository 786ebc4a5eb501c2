"""Client fixtures: sandboxes with chosen limits, faults and token lifetimes, and clients pointed at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Any]]:
    """``make_sandbox(profile=..., faults=..., token_lifetime_seconds=..., limits=LimitOptions(...))``."""
    from connector.sandbox.server import SandboxOptions, SandboxServer

    started: list[Any] = []

    def start(**options: Any) -> Any:
        server = SandboxServer(SandboxOptions(port=0, **options)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def settings_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """DataverseSettings for a sandbox (secret through the environment), with overrides."""
    from connector.config import load_settings

    def build(sandbox: Any, **overrides: Any) -> Any:
        monkeypatch.setenv("FOI_SYNC_DATAVERSE__CLIENT_SECRET", sandbox.client_secret)
        dv = {
            "url": sandbox.url,
            "client_id": sandbox.client_id,
            "tenant_id": "sandbox",
            "authority_host": sandbox.https_url,
            "ca_bundle": str(sandbox.ca_bundle),
            **overrides,
        }
        return load_settings(None, base_dir=tmp_path, dataverse=dv).dataverse

    return build


@pytest.fixture
def client_for(settings_for: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    from connector.dataverse import DataverseClient

    clients: list[Any] = []

    def build(sandbox: Any, **overrides: Any) -> Any:
        client = DataverseClient.from_settings(settings_for(sandbox, **overrides))
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()
