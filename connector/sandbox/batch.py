"""$batch: multipart/mixed with CRLF, atomic change sets, Content-ID references, continue-on-error, 1000 max."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from http import HTTPStatus

from connector.sandbox.errors import DvError

MAX_BATCH = 1000


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


@dataclass
class Part:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    content_id: str | None = None


Execute = Callable[[str, str, dict[str, str], bytes], Response]


def boundary_of(content_type: str) -> str:
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        raise DvError(400, "0x80048d19", "The batch request must carry a multipart boundary.")
    return m.group(1)


def _split(body: bytes, boundary: str) -> list[bytes]:
    if b"\r\n" not in body and b"\n" in body:
        raise DvError(
            400,
            "0x80048d19",
            "Error identified in Payload provided by the user for Entity :'', ----> InnerException : "
            "System.ArgumentException: Stream was not readable.",
        )
    delim = b"--" + boundary.encode()
    chunks = body.split(delim)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        parts.append(chunk.strip(b"\r\n"))
    return parts


def _headers_and_body(blob: bytes) -> tuple[dict[str, str], bytes]:
    head, _, rest = blob.partition(b"\r\n\r\n")
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return headers, rest


def parse_request_part(blob: bytes) -> Part:
    outer, inner = _headers_and_body(blob)
    lines = inner.split(b"\r\n", 1)
    request_line = lines[0].decode()
    m = re.match(r"(GET|POST|PATCH|PUT|DELETE)\s+(\S+)(?:\s+HTTP/1\.1)?", request_line)
    if not m:
        raise DvError(400, "0x80048d19", f"The batch part request line '{request_line[:80]}' is not valid.")
    rest = lines[1] if len(lines) > 1 else b""
    headers: dict[str, str]
    if rest.startswith(b"\r\n"):
        headers, body = {}, rest[2:]
    else:
        headers, body = _headers_and_body(rest)
    return Part(m.group(1), m.group(2), headers, body.rstrip(b"\r\n"), outer.get("content-id"))


def parse_batch(body: bytes, content_type: str) -> list[Part | list[Part]]:
    items: list[Part | list[Part]] = []
    for blob in _split(body, boundary_of(content_type)):
        headers, inner = _headers_and_body(blob)
        ctype = headers.get("content-type", "")
        if ctype.startswith("multipart/mixed"):
            cs_parts = []
            for sub in _split(inner, boundary_of(ctype)):
                part = parse_request_part(sub)
                if part.method == "GET":
                    raise DvError(400, "0x80048d19", "GET requests are not allowed in a change set.")
                cs_parts.append(part)
            items.append(cs_parts)
        else:
            items.append(parse_request_part(blob))
    count = sum(len(i) if isinstance(i, list) else 1 for i in items)
    if count > MAX_BATCH:
        raise DvError(
            400, "0x8005f103", f"The number of requests in the batch ({count}) exceeds the limit of {MAX_BATCH}."
        )
    return items


def _render(resp: Response, content_id: str | None) -> bytes:
    reason = HTTPStatus(resp.status).phrase if resp.status in HTTPStatus._value2member_map_ else ""
    out = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if content_id:
        out += f"Content-ID: {content_id}\r\n"
    out += f"\r\nHTTP/1.1 {resp.status} {reason}\r\n"
    headers = list(resp.headers)
    if resp.header("OData-Version") is None:
        headers.append(("OData-Version", "4.0"))  # BATCH: each part answers like a top-level response
    entity_id = resp.header("OData-EntityId")
    if entity_id and resp.header("Location") is None:
        headers.insert(0, ("Location", entity_id))  # BATCH: create parts answer with Location and OData-EntityId
    if resp.status >= 400 and resp.header("REQ_ID") is None:
        headers.append(("REQ_ID", str(uuid.uuid4())))  # BATCH: error parts carry a REQ_ID header
    for k, v in headers:
        out += f"{k}: {v}\r\n"
    out += "\r\n"
    return out.encode() + resp.body + b"\r\n"


def _substitute(part: Part, ids: dict[str, str]) -> Part:
    url = part.url
    m = re.match(r"^\$(\w+)(.*)$", url)
    if m:
        if m.group(1) not in ids:
            raise DvError(
                400, "0x80048d19", f"Content-ID Reference: '${m.group(1)}' does not exist in the batch context."
            )
        url = ids[m.group(1)] + m.group(2)
    body = part.body
    if body and b'"$' in body:
        # Only reference positions are substituted ("x@odata.bind": "$1", {"@odata.id": "$2"}), so an ordinary
        # string value such as "$100 budget" is left alone.
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if payload is not None:
            body = json.dumps(_resolve_refs(payload, ids)).encode()
    return Part(part.method, url, part.headers, body, part.content_id)


def _ref(value: object, ids: dict[str, str]) -> object:
    if not isinstance(value, str) or not value.startswith("$"):
        return value
    m = re.match(r"^\$(\w+)(.*)$", value)
    if not m:
        return value
    if m.group(1) not in ids:
        raise DvError(400, "0x80048d19", f"Content-ID Reference: '${m.group(1)}' does not exist in the batch context.")
    return ids[m.group(1)] + m.group(2)


def _resolve_refs(node: object, ids: dict[str, str]) -> object:
    if isinstance(node, list):
        return [_resolve_refs(x, ids) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, object] = {}
    for k, v in node.items():
        if k.endswith("@odata.bind") or k == "@odata.id":
            out[k] = [_ref(x, ids) for x in v] if isinstance(v, list) else _ref(v, ids)
        else:
            out[k] = _resolve_refs(v, ids)
    return out


def error_response(err: DvError) -> Response:
    return Response(
        err.status,
        [
            ("Content-Type", "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"),
            *err.headers.items(),
        ],
        json.dumps({"error": {"code": err.code, "message": err.message}}).encode(),
    )


def run_batch(
    items: list[Part | list[Part]],
    execute: Execute,
    transaction: Callable[[], AbstractContextManager[None]],
    continue_on_error: bool,
) -> tuple[int, bytes, str]:
    """-> (status, body, content type). Stops at the first failure unless continue-on-error."""
    boundary = f"batchresponse_{uuid.uuid4()}"
    out = b""
    first_error: bytes | None = None
    for item in items:
        if isinstance(item, list):
            cs_boundary = f"changesetresponse_{uuid.uuid4()}"
            ids: dict[str, str] = {}
            rendered: list[bytes] = []
            failed: Response | None = None
            failed_id: str | None = None

            class _Rollback(Exception):
                pass

            try:
                with transaction():
                    for part in item:
                        try:
                            p = _substitute(part, ids)
                            resp = execute(p.method, p.url, p.headers, p.body)
                        except DvError as err:
                            resp = error_response(err)
                        if resp.status >= 400:
                            failed, failed_id = resp, part.content_id
                            raise _Rollback
                        loc = resp.header("OData-EntityId") or resp.header("Location")
                        if part.content_id and loc:
                            ids[part.content_id] = loc
                        rendered.append(_render(resp, part.content_id))
            except _Rollback:
                pass
            if failed is not None:
                blob = _render(failed, failed_id)
                if not continue_on_error:
                    return failed.status, _wrap(boundary, blob), f"multipart/mixed; boundary={boundary}"
                out += f"--{boundary}\r\n".encode() + blob
                continue
            cs_body = (
                b"".join(f"--{cs_boundary}\r\n".encode() + r for r in rendered) + f"--{cs_boundary}--\r\n".encode()
            )
            out += f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={cs_boundary}\r\n\r\n".encode() + cs_body
        else:
            try:
                resp = execute(item.method, item.url, item.headers, item.body)
            except DvError as err:
                resp = error_response(err)
            blob = _render(resp, item.content_id)
            if resp.status >= 400 and not continue_on_error:
                first_error = blob
                return resp.status, _wrap(boundary, first_error), f"multipart/mixed; boundary={boundary}"
            out += f"--{boundary}\r\n".encode() + blob
    out += f"--{boundary}--\r\n".encode()
    return 200, out, f"multipart/mixed; boundary={boundary}"


def _wrap(boundary: str, blob: bytes) -> bytes:
    return f"--{boundary}\r\n".encode() + blob + f"--{boundary}--\r\n".encode()
