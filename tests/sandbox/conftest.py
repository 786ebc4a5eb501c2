"""Fixtures for the sandbox conformance tests: a plain `requests` session on a real sandbox over HTTP.

Every test builds its request from a Microsoft Learn example and checks the documented response; nothing is mocked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sandbox_support import Api


@pytest.fixture
def api(sandbox: Any) -> Iterator[Api]:
    client = Api(sandbox.api_url, sandbox.issue_token())
    yield client
    client.session.close()
