"""Helpers for the sandbox conformance tests: a plain `requests` session with the documented request headers."""

from __future__ import annotations

import time
from typing import Any

import requests
from azure.core.credentials import AccessToken

from connector.sandbox.server import SandboxServer

ODATA_HEADERS = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "If-None-Match": "null",
}


class Api:
    """A thin `requests` wrapper: relative paths under /api/data/v9.2/, the documented request headers, a token."""

    def __init__(self, base: str, token: str, verify: Any = True) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.verify = verify
        self.session.headers.update(ODATA_HEADERS)
        self.session.headers["Authorization"] = f"Bearer {token}"

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path.lstrip("/")

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = kw.pop("headers", None) or {}  # per-call headers override the session's documented defaults
        return self.session.request(method, self.url(path), headers=headers, timeout=30, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PATCH", path, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def create(self, entity_set: str, body: dict[str, Any]) -> str:
        """POST and return the new id parsed from OData-EntityId (the documented way)."""
        r = self.post(entity_set, json=body)
        assert r.status_code == 204, r.text
        return r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


def error_of(r: requests.Response) -> tuple[str, str]:
    body = r.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) >= {"code", "message"}, body
    return body["error"]["code"], body["error"]["message"]


class SandboxCredential:
    """An azure-core credential for Microsoft's SDK: tokens the sandbox issues (its token endpoint is MSAL's; the
    SDK takes any credential with ``get_token``)."""

    def __init__(self, sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self.scopes: list[str] = []  # what the SDK asked for (a test checks the scope it derives)

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes += scopes
        return AccessToken(self.sandbox.issue_token(), int(time.time()) + 3600)


class AsyncSandboxCredential(SandboxCredential):
    """The same for the SDK's async client."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:  # type: ignore[override]
        self.scopes += scopes
        return AccessToken(self.sandbox.issue_token(), int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> AsyncSandboxCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None
