"""Fixtures for the sandbox conformance tests: a plain `requests` session on a real sandbox over HTTP.

Every test builds its request from a Microsoft Learn example and checks the documented response; nothing is mocked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PowerPlatform.Dataverse.client import DataverseClient
from sandbox_support import Api, SandboxCredential

from connector.sandbox.server import SandboxOptions, SandboxServer


@pytest.fixture
def api(sandbox: Any) -> Iterator[Api]:
    client = Api(sandbox.api_url, sandbox.issue_token())
    yield client
    client.session.close()


@pytest.fixture
def sdk_tls(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DataverseClient, SandboxServer]]:
    """Microsoft's SDK (sync client) on a sandbox whose environment URL is https (``--tls``), trusting its CA."""
    with SandboxServer(SandboxOptions(port=0, tls=True)) as sb:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sb.ca_bundle))
        c = DataverseClient(sb.url, SandboxCredential(sb))
        try:
            yield c, sb
        finally:
            c.close()
