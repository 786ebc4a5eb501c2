"""``$batch``: a multipart/mixed builder and parser (change sets, Content-ID references), as Microsoft documents.

Lines end in CRLF (Dataverse rejects LF-only bodies with "Stream was not readable"); at most 1000 requests per
batch. A change set is all-or-nothing and may not contain GETs; with ``Prefer: odata.continue-on-error`` every
request gets its own answer, otherwise Dataverse stops at the first failure.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from connector.dataverse.errors import DataverseError, from_response

MAX_BATCH_REQUESTS = 1000
CRLF = "\r\n"


@dataclass
class BatchRequest:
    """One request inside a batch. ``path`` is relative to the API root (``incidents(<id>)``) or ``$1`` style."""

    method: str
    path: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_id: str | None = None


@dataclass
class ChangeSet:
    """Requests applied atomically: all succeed or all roll back."""

    requests: list[BatchRequest]


@dataclass
class BatchResponse:
    status: int
    headers: dict[str, str]
    body: Any
    content_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def entity_id(self) -> str | None:
        """The GUID from ``OData-EntityId``/``Location`` of a create or upsert."""
        url = self.headers.get("odata-entityid") or self.headers.get("location")
        if not url:
            return None
        m = re.search(r"\(([0-9a-fA-F-]{36})\)\s*$", url)
        return m.group(1).lower() if m else None

    def error(self) -> DataverseError | None:
        if self.ok:
            return None
        headers = {**self.headers, "REQ_ID": self.headers.get("req_id", "")}
        return from_response(self.status, self.body, headers)


def count_requests(items: list[BatchRequest | ChangeSet]) -> int:
    return sum(len(i.requests) if isinstance(i, ChangeSet) else 1 for i in items)


def _render_request(req: BatchRequest, api_path: str, content_id: str | None) -> str:
    target = req.path if req.path.startswith("$") else api_path + req.path.lstrip("/")
    out = f"Content-Type: application/http{CRLF}Content-Transfer-Encoding: binary{CRLF}"
    if content_id:
        out += f"Content-ID: {content_id}{CRLF}"
    out += f"{CRLF}{req.method.upper()} {target} HTTP/1.1{CRLF}"
    headers = {"Accept": "application/json", **req.headers}
    body = ""
    if req.body is not None:
        headers.setdefault("Content-Type", "application/json; type=entry")
        body = json.dumps(req.body, separators=(",", ":"), ensure_ascii=False, default=str)
    for k, v in headers.items():
        out += f"{k}: {v}{CRLF}"
    out += CRLF + body + CRLF
    return out


def build_batch(items: list[BatchRequest | ChangeSet], api_path: str) -> tuple[str, bytes]:
    """-> (Content-Type header, body). ``api_path`` is the URL path of the API root, e.g. ``/api/data/v9.2/``."""
    n = count_requests(items)
    if n == 0:
        raise ValueError("a batch needs at least one request")
    if n > MAX_BATCH_REQUESTS:
        raise ValueError(f"a batch holds at most {MAX_BATCH_REQUESTS} requests, got {n}; split it")
    boundary = f"batch_{uuid.uuid4().hex}"
    out = ""
    for item in items:
        if isinstance(item, ChangeSet):
            if any(r.method.upper() == "GET" for r in item.requests):
                raise ValueError("GET requests are not allowed in a change set")
            cs = f"changeset_{uuid.uuid4().hex}"
            out += f"--{boundary}{CRLF}Content-Type: multipart/mixed; boundary={cs}{CRLF}{CRLF}"
            for i, req in enumerate(item.requests, 1):
                out += f"--{cs}{CRLF}" + _render_request(req, api_path, req.content_id or str(i))
            out += f"--{cs}--{CRLF}"
        else:
            out += f"--{boundary}{CRLF}" + _render_request(item, api_path, item.content_id)
    out += f"--{boundary}--{CRLF}"
    return f"multipart/mixed; boundary={boundary}", out.encode("utf-8")


def _boundary(content_type: str) -> str:
    m = re.search(r'boundary="?([^";\s]+)"?', content_type)
    if not m:
        raise ValueError(f"batch response without a multipart boundary ({content_type[:60]})")
    return m.group(1)


def _split(body: bytes, boundary: str) -> list[bytes]:
    delim = b"--" + boundary.encode()
    parts = []
    for chunk in body.split(delim)[1:]:
        if chunk.startswith(b"--"):
            break
        parts.append(chunk.strip(b"\r\n"))
    return parts


def _head(blob: bytes) -> tuple[dict[str, str], bytes]:
    sep = b"\r\n\r\n" if b"\r\n\r\n" in blob else b"\n\n"
    head, _, rest = blob.partition(sep)
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return headers, rest


def _parse_http(blob: bytes) -> BatchResponse:
    outer, inner = _head(blob)
    first, _, rest = inner.partition(b"\n")
    m = re.match(r"HTTP/1\.[01]\s+(\d{3})", first.decode("utf-8", "replace").strip())
    if not m:
        raise ValueError("batch response part without an HTTP status line")
    headers, body_bytes = _head(rest) if rest.strip() else ({}, b"")
    if rest.startswith(b"\r\n") or rest.startswith(b"\n"):
        headers, body_bytes = {}, rest.strip(b"\r\n")
    body_bytes = body_bytes.strip(b"\r\n")
    body: Any = None
    if body_bytes:
        try:
            body = json.loads(body_bytes)
        except ValueError:
            body = body_bytes.decode("utf-8", "replace")
    return BatchResponse(int(m.group(1)), headers, body, outer.get("content-id"))


def parse_batch_response(content_type: str, body: bytes) -> list[BatchResponse]:
    """Flat list of part responses in the order Dataverse sent them (request order; a failed change set with
    continue-on-error answers with a single error part)."""
    out: list[BatchResponse] = []
    for blob in _split(body, _boundary(content_type)):
        headers, inner = _head(blob)
        ctype = headers.get("content-type", "")
        if ctype.startswith("multipart/mixed"):
            out.extend(_parse_http(sub) for sub in _split(inner, _boundary(ctype)))
        else:
            out.append(_parse_http(blob))
    return out
