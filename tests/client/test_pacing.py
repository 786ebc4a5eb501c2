"""The client paces itself to the service protection request limit instead of running into 429s.

LIMITS (learn.microsoft.com/power-apps/developer/data-platform/api-limits): 6,000 requests per user in a 5-minute
sliding window; beyond it the service answers 429. Here the sandbox enforces a scaled-down limit (40 requests per
2 s) and the client is told the same limit: 100 requests must all be answered without a single 429, and, since
the sandbox would refuse any request over the limit, that also proves the client never exceeded it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector.sandbox.limits import LimitOptions
from connector.sandbox.server import SandboxOptions, SandboxServer


def test_client_stays_inside_a_scaled_down_request_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from connector.config import load_settings
    from connector.dataverse import DataverseClient

    with SandboxServer(SandboxOptions(port=0, limits=LimitOptions(requests=40, window_seconds=2.0))) as sb:
        monkeypatch.setenv("FOI_SYNC_DATAVERSE__CLIENT_SECRET", sb.client_secret)
        settings = load_settings(
            None,
            base_dir=tmp_path,
            dataverse={
                "url": sb.url,
                "client_id": sb.client_id,
                "tenant_id": "sandbox",
                "authority_host": sb.https_url,
                "ca_bundle": str(sb.ca_bundle),
                "requests_per_window": 40,
                "request_window_seconds": 2.0,
            },
        )
        client = DataverseClient.from_settings(settings.dataverse)
        try:
            for _ in range(100):
                client.whoami()
        finally:
            client.close()
        info: dict[str, Any] = sb.app.info()
        assert info["throttled"] == 0
        assert info["stats"].get("GET WhoAmI", 0) >= 100
