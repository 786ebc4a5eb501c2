"""Shared fixtures. Every test that needs a CRM gets a real sandbox over HTTP on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def sandbox() -> Iterator[Any]:
    """A fresh in-memory Dataverse sandbox for one test."""
    from connector.sandbox.server import SandboxOptions, SandboxServer

    with SandboxServer(SandboxOptions(port=0)) as server:
        yield server


@pytest.fixture
def sandbox_settings(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Settings pointing at the sandbox; the client secret arrives through the environment, as in production."""
    from connector.config import load_settings

    monkeypatch.setenv("FOI_SYNC_DATAVERSE__CLIENT_SECRET", sandbox.client_secret)
    return load_settings(
        None,
        base_dir=tmp_path,
        dataverse={
            "url": sandbox.url,
            "client_id": sandbox.client_id,
            "tenant_id": "sandbox",
            "authority_host": sandbox.https_url,
            "ca_bundle": str(sandbox.ca_bundle),
        },
    )


@pytest.fixture
def dv_client(sandbox_settings: Any) -> Iterator[Any]:
    """The connector's own Dataverse client, authenticated through MSAL against the sandbox."""
    from connector.dataverse import DataverseClient

    client = DataverseClient.from_settings(sandbox_settings.dataverse)
    try:
        yield client
    finally:
        client.close()
