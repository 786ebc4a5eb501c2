"""HTTP for the Dataverse Web API: one pooled session, the documented headers, TLS, timeouts, retries, 401 refresh.

Retry policy (tenacity), in one place so every call behaves the same:

* 429: wait exactly ``Retry-After`` plus a little jitter, for any request (Dataverse did not process it), as long
  as the total retry budget (``dataverse.retry_budget_seconds``) allows; then :class:`Throttled`.
* 502/503/504, timeouts and dropped connections: exponential backoff with jitter, but only for requests that are
  safe to repeat (reads, PATCH/PUT/DELETE by id or key, upserts, UpsertMultiple/UpdateMultiple). A plain create
  is never re-sent: the caller gets :class:`OutcomeUnknown` and reconciles (see ``bulk.py``/``client.py``).
  A connection that was refused before anything was sent is retried for every method.
* 401: the token is dropped and fetched again once; a second 401 is :class:`AuthenticationFailed`.

Logs name the method, the entity set (never key values or bodies), status, error code and wait.
"""

from __future__ import annotations

import json as jsonlib
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception

from connector.config import DataverseSettings, is_loopback
from connector.dataverse.errors import (
    DataverseError,
    OutcomeUnknown,
    Throttled,
    TransportError,
    from_response,
)
from connector.errors import ConfigError

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {502, 503, 504}
#: Exponential backoff for 5xx/timeouts: 0.5 s, 1 s, 2 s ... capped, at most this many attempts.
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
MAX_TRANSIENT_ATTEMPTS = 6
JITTER_SECONDS = 0.25
CONNECT_TIMEOUT = 10.0

ODATA_HEADERS = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "If-None-Match": "null",
}


class TokenSource(Protocol):
    def token(self) -> str: ...

    def invalidate(self, used: str | None = None) -> None: ...


class Stats:
    """Thread-safe counters: requests by method, retries by reason, throttled, records written."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.throttled = 0
        self.records_written = 0
        self.records_failed = 0
        self.token_refreshes = 0

    def request(self, method: str) -> None:
        with self._lock:
            self.requests[method] += 1

    def retry(self, reason: str) -> None:
        with self._lock:
            self.retries[reason] += 1

    def status(self, code: int) -> None:
        with self._lock:
            self.statuses[code] += 1

    def throttle(self) -> None:
        with self._lock:
            self.throttled += 1

    def token_refresh(self) -> None:
        with self._lock:
            self.token_refreshes += 1
            self.retries["401 token refresh"] += 1

    def records(self, written: int, failed: int) -> None:
        with self._lock:
            self.records_written += written
            self.records_failed += failed

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "requests_total": sum(self.requests.values()),
                "retries": dict(self.retries),
                "statuses": dict(self.statuses),
                "throttled": self.throttled,
                "records_written": self.records_written,
                "records_failed": self.records_failed,
                "token_refreshes": self.token_refreshes,
            }

    def __repr__(self) -> str:
        return f"Stats({self.snapshot()})"


class _Transient(DataverseError):
    """Internal: a failure the retry policy may repeat; unwrapped to the public error when retries end."""

    def __init__(self, error: DataverseError, reason: str, retryable: bool) -> None:
        self.error = error
        self.reason = reason
        self.retryable = retryable
        super().__init__(error.message, status=error.status, code=error.code, request_id=error.request_id)


def describe_path(path: str) -> str:
    """A path fit for logs: query string dropped and key values hidden (they may be e-mail addresses)."""
    path = path.split("?", 1)[0]
    if "/api/data/" in path:
        path = path.split("/api/data/", 1)[1].split("/", 1)[-1]
    out, depth = [], 0
    for ch in path:
        if ch == "(":
            if depth == 0:
                out.append("(…)")
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def parse_retry_after(value: str | None, default: float = 1.0) -> float:
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return default


class VerifyingSession(requests.Session):
    """A Session whose CA bundle cannot be displaced by ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``.

    requests lets those environment variables override ``Session.verify`` unless ``verify`` is passed per call;
    MSAL calls without it. TLS verification is never switched off here.
    """

    def __init__(self, ca_bundle: str | None = None) -> None:
        super().__init__()
        self.verify = ca_bundle or True

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("verify") in (None, True, False):
            kwargs["verify"] = self.verify
        return super().request(method, url, *args, **kwargs)


JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def json_body(obj: Any) -> bytes:
    """The bytes of a JSON request body (one encoding for every request; a bulk writer encodes its next chunk
    with it before it waits for a free slot)."""
    return jsonlib.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str).encode()


class RequestPacer:
    """Keeps the client inside the service protection request limit (6,000 requests per 5-minute sliding window
    per user, Microsoft Learn "Service protection API limits") instead of running into 429s.

    Sends freely while fewer than ``margin x limit`` requests went out in the last window (the burst the limit
    allows), then holds each request until the oldest one leaves the window, so the long-run rate is the limit's.
    """

    def __init__(self, limit: int, window_seconds: float, margin: float = 0.95) -> None:
        self.allowed = max(1, int(limit * margin))
        self.window = window_seconds
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited = 0.0

    def wait_turn(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                while self._sent and self._sent[0] <= now - self.window:
                    self._sent.popleft()
                if len(self._sent) < self.allowed:
                    self._sent.append(now)
                    return
                wait = self._sent[0] + self.window - now
            self.waited += wait
            time.sleep(wait)


class Transport:
    """All HTTP to one Dataverse environment. Thread-safe; shared by the client's worker threads."""

    def __init__(
        self,
        settings: DataverseSettings,
        tokens: TokenSource,
        *,
        pool_size: int = 32,
        stats: Stats | None = None,
        session: VerifyingSession | None = None,
    ) -> None:
        url = settings.url.rstrip("/")
        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(url)):
            raise ConfigError(f"dataverse.url: '{url}' must use https (plain http only for a loopback sandbox)")
        self.settings = settings
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.base = f"{url}/api/data/{settings.api_version}/"
        #: The API root's URL path (``/api/data/v9.2/``), for $batch request lines.
        self.api_path = urlsplit(self.base).path
        self.tokens = tokens
        self.timeout = settings.timeout_seconds
        self.budget = settings.retry_budget_seconds
        self.stats = stats or Stats()
        self.dop_hint: int | None = None
        self.throttle_listeners: list[Callable[[float], None]] = []
        self._blocked_until = 0.0
        self._throttle_lock = threading.Lock()
        self.pacer = RequestPacer(settings.requests_per_window, settings.request_window_seconds)
        # TLS verification is always on; a custom CA bundle (private PKI, the sandbox) replaces the default store.
        self.session = session or VerifyingSession(str(settings.ca_bundle) if settings.ca_bundle else None)
        # No affinity cookie: Microsoft recommends spreading parallel work over the environment's web servers.
        self.session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------------ URLs
    def url(self, path: str) -> str:
        """Absolute URL for an API path; absolute URLs (nextLink, deltaLink) must point at this environment."""
        if path.startswith(("http://", "https://")):
            if not path.startswith(self.origin + "/"):
                raise ConfigError(
                    f"refusing to send the access token to '{urlsplit(path).netloc}': the link does not belong to "
                    f"{self.origin}"
                )
            return path
        return self.base + path.lstrip("/")

    # ------------------------------------------------------------------ requests
    def request(
        self,
        method: str,
        path: str,
        *,
        query: str | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        timeout: float | None = None,
        accept_errors: bool = False,
    ) -> requests.Response:
        """Send one request with the retry policy; returns a 2xx/304 response or raises a typed error.

        ``query`` is an already-encoded query string built with :mod:`connector.odata` (never ``params=``, which
        would encode the escapes a second time). ``accept_errors`` returns 4xx answers (except 401/413/429)
        instead of raising, for ``$batch`` whose error body is multipart.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method != "POST"
        url = self.url(path)
        if query:
            url += ("&" if "?" in url else "?") + query
        body = data
        hdrs = dict(ODATA_HEADERS)
        if json is not None:
            body = json_body(json)
            hdrs["Content-Type"] = JSON_CONTENT_TYPE
        if headers:
            hdrs.update(headers)
        where = f"{method} {describe_path(path)}"
        started = time.monotonic()

        def attempt() -> requests.Response:
            return self._attempt(method, url, body, hdrs, idempotent, timeout or self.timeout, where, accept_errors)

        def wait(rs: RetryCallState) -> float:
            exc = rs.outcome.exception() if rs.outcome else None
            if isinstance(exc, _Transient) and isinstance(exc.error, Throttled):
                return exc.error.retry_after + random.uniform(0, JITTER_SECONDS)
            n = rs.attempt_number
            # 2.0 ** int is a float; 2 ** int is typed Any (a negative exponent would make it a float).
            return min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** (n - 1)) * random.uniform(0.75, 1.25)

        def stop(rs: RetryCallState) -> bool:
            exc = rs.outcome.exception() if rs.outcome else None
            elapsed = time.monotonic() - started
            if elapsed + (rs.upcoming_sleep or 0) > self.budget:
                return True
            throttled = isinstance(exc, _Transient) and isinstance(exc.error, Throttled)
            return not throttled and rs.attempt_number >= MAX_TRANSIENT_ATTEMPTS

        def before_sleep(rs: RetryCallState) -> None:
            exc = rs.outcome.exception() if rs.outcome else None
            assert isinstance(exc, _Transient)
            self.stats.retry(exc.reason)
            log.warning(
                "retrying %s after %s%s: waiting %.2f s (attempt %d)",
                where,
                exc.reason,
                f" {exc.error.code}" if exc.error.code and exc.error.code not in exc.reason else "",
                rs.upcoming_sleep,
                rs.attempt_number + 1,
                extra={"retry_reason": exc.reason, "status": exc.error.status, "code": exc.error.code},
            )

        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, _Transient) and e.retryable),
            wait=wait,
            stop=stop,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Transient as exc:
            raise exc.error from None

    def _attempt(
        self,
        method: str,
        url: str,
        body: bytes | None,
        hdrs: dict[str, str],
        idempotent: bool,
        timeout: float,
        where: str,
        accept_errors: bool = False,
    ) -> requests.Response:
        refreshed = False
        while True:
            self._wait_if_throttled()
            self.pacer.wait_turn()
            token = self.tokens.token()
            hdrs["Authorization"] = "Bearer " + token
            self.stats.request(method)
            try:
                resp = self.session.request(
                    method, url, data=body, headers=hdrs, timeout=(min(CONNECT_TIMEOUT, timeout), timeout)
                )
            except requests.exceptions.SSLError:
                # Not transient: retrying cannot fix an untrusted certificate.
                raise TransportError(
                    f"{where}: TLS certificate verification failed for {self.origin}; if the server uses a private "
                    "CA, set dataverse.ca_bundle to its PEM file (verification cannot be switched off)"
                ) from None
            except requests.exceptions.ConnectionError as exc:
                not_sent = _never_sent(exc)
                reason = "connection refused" if not_sent else "connection dropped"
                if isinstance(exc, requests.exceptions.ConnectTimeout):
                    reason, not_sent = "connect timeout", True
                err: DataverseError = TransportError(f"{where}: {reason} ({type(exc).__name__})")
                if not (idempotent or not_sent):
                    raise OutcomeUnknown(
                        f"{where}: {reason}; the request may or may not have been applied, so it was not re-sent"
                    ) from None
                raise _Transient(err, reason, True) from None
            except requests.exceptions.Timeout:
                err = TransportError(f"{where}: no answer within {timeout:.0f} s")
                if not idempotent:
                    raise OutcomeUnknown(
                        f"{where}: timed out; the request may or may not have been applied, so it was not re-sent"
                    ) from None
                raise _Transient(err, "timeout", True) from None
            status = resp.status_code
            self.stats.status(status)
            hint = resp.headers.get("x-ms-dop-hint")
            if hint and hint.isdigit():
                self.dop_hint = int(hint)
            if status < 400 or (accept_errors and status < 500 and status not in (401, 413, 429)):
                return resp
            if status == 401 and not refreshed:
                refreshed = True
                self.stats.token_refresh()
                log.info("retrying %s after 401: access token refreshed", where)
                self.tokens.invalidate(token)
                continue
            error = self._error(resp)
            if isinstance(error, Throttled):
                self.stats.throttle()
                with self._throttle_lock:
                    self._blocked_until = max(self._blocked_until, time.monotonic() + error.retry_after)
                for listener in self.throttle_listeners:
                    listener(error.retry_after)
                raise _Transient(error, f"429 {error.code or 'throttled'}".strip(), True)
            if status in RETRYABLE_STATUS:
                if not idempotent:
                    raise OutcomeUnknown(
                        f"{where}: HTTP {status}; the request may or may not have been applied, so it was not re-sent",
                        status=status,
                        code=error.code,
                        request_id=error.request_id,
                    )
                raise _Transient(error, f"HTTP {status}", True)
            raise error

    def _wait_if_throttled(self) -> None:
        """After a 429 the whole user is throttled: hold every request until Retry-After has passed, instead of
        letting the other workers collect 429s of their own."""
        wait = self._blocked_until - time.monotonic()
        if wait > 0:
            time.sleep(wait + random.uniform(0, JITTER_SECONDS))

    @staticmethod
    def _error(resp: requests.Response) -> DataverseError:
        try:
            body = resp.json() if resp.content else None
        except ValueError:
            body = None
        default = ""
        if resp.status_code == 401:
            challenge = resp.headers.get("WWW-Authenticate", "")
            desc = (
                challenge.split('error_description="', 1)[1].split('"', 1)[0]
                if "error_description" in challenge
                else ""
            )
            default = f"the access token was rejected ({desc or 'no reason given'})"
        err = from_response(resp.status_code, body, resp.headers, default)
        if isinstance(err, Throttled):
            err.retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        return err

    # ------------------------------------------------------------------ conveniences
    def json(self, method: str, path: str, **kw: Any) -> Any:
        resp = self.request(method, path, **kw)
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the connection failed before the request left (safe to repeat any method)."""
    cur: BaseException | None = exc
    seen = 0
    while cur is not None and seen < 8:
        if isinstance(cur, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
            return True
        if isinstance(cur, urllib3.exceptions.MaxRetryError) and cur.reason is not None:
            cur = cur.reason
        else:
            cur = (
                cur.__cause__
                or cur.__context__
                or (cur.args[0] if cur.args and isinstance(cur.args[0], BaseException) else None)
            )
        seen += 1
    return False
