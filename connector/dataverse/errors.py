"""Typed Dataverse errors. Each carries the HTTP status, Dataverse's error code, its message and the request id.

Messages are scrubbed of data values (Dataverse sometimes echoes a rejected literal), so an exception can be
logged or stored in the dead-letter table without leaking requester data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connector.errors import ExitCode, FoiSyncError


class DataverseError(FoiSyncError):
    """Any answer (or silence) from the CRM we could not use. Most end the run with exit 1 (the step failed, the
    record is a dead letter); the ones that mean "cannot reach or may not use the CRM" carry exit 4."""

    status: int | None = None

    def __init__(
        self, message: str, *, status: int | None = None, code: str = "", request_id: str | None = None
    ) -> None:
        self.message = scrub(message)
        self.code = code or ""
        self.request_id = request_id
        if status is not None:
            self.status = status
        super().__init__(self.describe())

    def describe(self) -> str:
        bits = [f"HTTP {self.status}" if self.status else "", self.code]
        head = " ".join(b for b in bits if b)
        tail = f" (request id {self.request_id})" if self.request_id else ""
        return f"{head}: {self.message}{tail}" if head else self.message + tail


class NotFound(DataverseError):
    status = 404


class DuplicateRecord(DataverseError):
    """A record with the same primary id or alternate-key values already exists."""

    status = 412


Duplicate = DuplicateRecord


class ConcurrencyConflict(DataverseError):
    status = 412


class ValidationFailed(DataverseError):
    status = 400


class Throttled(DataverseError):
    status = 429
    exit_code = ExitCode.CRM_UNAVAILABLE
    fix = "the CRM kept throttling after the whole retry budget; the next run resumes (lower dataverse.max_workers or dataverse.requests_per_window if it persists)"

    def __init__(self, message: str, *, retry_after: float, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class AuthenticationFailed(DataverseError):
    status: int | None = 401
    exit_code = ExitCode.CRM_UNAVAILABLE
    fix = "check dataverse.tenant_id, dataverse.client_id and the client secret (FOI_SYNC_DATAVERSE__CLIENT_SECRET or dataverse.client_secret_file) or certificate; `foi-sync doctor` checks each"


class SignInRefused(AuthenticationFailed):
    """The sign-in authority answered but gave no token (wrong secret, tenant or client id): not a CRM status."""

    status = None


class PermissionDenied(DataverseError):
    status = 403
    exit_code = ExitCode.CRM_UNAVAILABLE
    fix = "give the application user a security role that can read and write the FOI tables (docs/mapping.md); `foi-sync doctor` shows what it can read"


class RequestTooLarge(DataverseError):
    """413: the payload is too big; send smaller chunks."""

    status = 413


class ServerError(DataverseError):
    """5xx after retries were exhausted (or on a request that is not safe to repeat)."""

    exit_code = ExitCode.CRM_UNAVAILABLE
    fix = "the CRM kept answering with a server error after every retry; nothing is lost and the next run resumes. If it persists, check the environment's health in the Power Platform admin centre"


class OutcomeUnknown(DataverseError):
    """A non-idempotent write (plain create) failed in a way that leaves its outcome unknown; it was not re-sent."""


class DeltaTokenExpired(DataverseError):
    """The change-tracking token is too old: the caller must resynchronise from scratch."""


class TransportError(DataverseError):
    """Network failure (connection refused, dropped, timed out) after retries. No HTTP status: nothing answered."""

    exit_code = ExitCode.CRM_UNAVAILABLE
    fix = "check dataverse.url, DNS, the firewall and proxy (HTTPS_PROXY); `foi-sync doctor` checks the connection"


class SignInUnreachable(TransportError):
    """The sign-in authority (Entra ID, or the sandbox's token endpoint) could not be reached: no answer, no status."""


_LITERAL = re.compile(r"(literal |value |values )'[^']*'", re.IGNORECASE)
_VALUE_OF = re.compile(r"The value (.{1,200}?) of '")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_ATTR_VALUES = re.compile(r"(attribute values? )(.{1,400}?)( already exists)", re.IGNORECASE)


def scrub(message: str) -> str:
    message = _LITERAL.sub(r"\1'<value>'", message)
    message = _VALUE_OF.sub("The value <value> of '", message)
    message = _ATTR_VALUES.sub(r"\1<values>\3", message)
    return _EMAIL.sub("<email>", message)


#: 0x80060882 ConcurrencyVersionMismatch.
_CONCURRENCY_CODES = {"0x80060882"}
#: 0x80040237 duplicate primary key, 0x80060892 duplicate alternate key, 0x80040333 duplicate-detection rule.
_DUPLICATE_CODES = {"0x80040237", "0x80060892", "0x80040333"}


def from_response(status: int, body: Any, headers: Mapping[str, str], default_message: str = "") -> DataverseError:
    err = body.get("error", {}) if isinstance(body, dict) else {}
    code = str(err.get("code") or "")
    message = str(err.get("message") or default_message or f"HTTP {status}")
    request_id = headers.get("REQ_ID") or headers.get("x-ms-service-request-id")
    kw: dict[str, Any] = {"status": status, "code": code, "request_id": request_id}
    if status == 429:
        try:
            retry_after = float(headers.get("Retry-After") or 1)
        except ValueError:
            retry_after = 5.0
        return Throttled(message, retry_after=retry_after, **kw)
    if status == 401:
        return AuthenticationFailed(message or "the access token was rejected", **kw)
    if status == 403:
        return PermissionDenied(message, **kw)
    if status == 404:
        return NotFound(message, **kw)
    if "Version stamp associated with the client has expired" in message:
        return DeltaTokenExpired(message, **kw)
    if status == 412:
        if code in _CONCURRENCY_CODES or "RowVersion" in message or "version of the existing record" in message:
            return ConcurrencyConflict(message, **kw)
        return DuplicateRecord(message, **kw)
    if code.lower() in _DUPLICATE_CODES and "not active" not in message:
        return DuplicateRecord(message, **kw)
    if status == 413:
        return RequestTooLarge(message, **kw)
    if status >= 500:
        return ServerError(message, **kw)
    return ValidationFailed(message, **kw)
