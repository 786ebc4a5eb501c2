"""The sandbox's HTTP(S) listeners and the in-process handle tests and the demo use.

Two listeners share one application: plain http (the default environment URL on loopback) and https with a
throwaway CA, which MSAL needs for its authority and Microsoft's SDK needs for its base URL.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import tempfile
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from connector.sandbox.app import AppOptions, DropConnection, SandboxApp
from connector.sandbox.limits import LimitOptions
from connector.sandbox.tls import ensure_certificates

TENANT = "sandbox"


@dataclass
class SandboxOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    tls_port: int = 0  # the https listener when the environment URL is plain http
    http_port: int = 0  # the plain http listener when the environment URL is https (--tls)
    db_path: Path | None = None
    tls: bool = False
    profile: str = "fast"
    faults: str | None = None
    token_lifetime_seconds: float = 3600.0
    change_token_expiry_seconds: float | None = 7 * 24 * 3600.0
    limits: LimitOptions = field(default_factory=LimitOptions)
    client_id: str = "foi-sync-sandbox"
    client_secret: str = "sandbox-secret"
    cert_dir: Path | None = None
    allow_remote: bool = False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


def _handler(app: SandboxApp, scheme: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "foi-sync-sandbox"
        sys_version = ""
        # Set by BaseHTTPRequestHandler.send_header (not in typeshed): the pending header bytes we append the body to.
        _headers_buffer: list[bytes]

        def version_string(self) -> str:
            return self.server_version

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the connector's own logs are what operators read

        def _serve(self) -> None:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                body = self._read_chunked()
            else:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
            headers: dict[str, str] = {}
            for k, v in self.headers.items():
                lk = k.lower()
                headers[lk] = headers[lk] + "," + v if lk in headers and lk == "prefer" else v
            address = self.server.server_address
            assert isinstance(address, tuple)  # an AF_INET/AF_INET6 server, never a Unix socket
            host = self.headers.get("Host") or f"{address[0]}:{address[1]}"
            origin = f"{scheme}://{host}"
            try:
                resp = app.handle(self.command, self.path, headers, body, origin)
            except DropConnection:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_response(resp.status)
            for k, v in resp.headers:
                self.send_header(k, _header_value(v))
            if resp.status != 304:
                self.send_header("Content-Length", str(len(resp.body)))
            # Headers and body leave in one write: two small writes on a keep-alive connection meet the client's
            # delayed ACK (Nagle), which costs ~40 ms per response.
            self._headers_buffer.append(b"\r\n")
            if resp.body and self.command != "HEAD" and resp.status != 304:
                self._headers_buffer.append(resp.body)
            self.flush_headers()

        def _read_chunked(self) -> bytes:
            """Transfer-Encoding: chunked request bodies (streaming clients send them)."""
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    return Handler


class SandboxServer:
    """Start with ``with SandboxServer(SandboxOptions(port=0)) as sb:``; stops on exit."""

    def __init__(self, options: SandboxOptions | None = None) -> None:
        self.options = options or SandboxOptions()
        o = self.options
        if not _is_loopback(o.host) and not o.allow_remote:
            raise ValueError(
                f"the sandbox listens on loopback only; '{o.host}' is not a loopback address "
                "(it has no real security and must not be reachable from the network)"
            )
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if o.cert_dir is not None:
            cert_dir = o.cert_dir
        elif o.db_path is not None:
            cert_dir = Path(o.db_path).parent / "sandbox-tls"
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="foi-sync-sandbox-")
            cert_dir = Path(self._tmp.name)
        self.ca_bundle, cert, key = ensure_certificates(cert_dir)
        self.app = SandboxApp(
            AppOptions(
                db_path=o.db_path,
                client_id=o.client_id,
                client_secret=o.client_secret,
                token_lifetime_seconds=o.token_lifetime_seconds,
                change_token_expiry_seconds=o.change_token_expiry_seconds,
                limits=o.limits,
                profile=o.profile,
                faults=o.faults,
            )
        )
        self._http = _Server((o.host, o.http_port if o.tls else o.port), _handler(self.app, "http"))
        self._https = _Server((o.host, o.port if o.tls else o.tls_port), _handler(self.app, "https"))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self._https.socket = ctx.wrap_socket(self._https.socket, server_side=True)
        host = "127.0.0.1" if o.host in ("127.0.0.1", "0.0.0.0") else o.host  # noqa: S104
        self.http_url = f"http://{host}:{self._http.server_address[1]}"
        self.https_url = f"https://{host}:{self._https.server_address[1]}"
        self.url = self.https_url if o.tls else self.http_url
        self.app.set_base(self.url)
        self.app.authority_root = self.https_url
        self.app.add_origin(self.http_url)
        self.app.add_origin(self.https_url)
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> SandboxServer:
        for srv in (self._http, self._https):
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        # Both listeners stop in parallel, so a test's teardown costs one poll interval, not two.
        running = (self._http, self._https) if self._threads else ()
        stoppers = [threading.Thread(target=srv.shutdown, daemon=True) for srv in running]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()
        for srv in (self._http, self._https):
            srv.server_close()
        self.app.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        self.start()
        try:
            while True:
                threading.Event().wait(3600)
        finally:
            self.stop()

    # ------------------------------------------------------------------ what clients need
    @property
    def api_url(self) -> str:
        return self.url + "/api/data/v9.2/"

    @property
    def authority(self) -> str:
        return f"{self.https_url}/{TENANT}"

    @property
    def client_id(self) -> str:
        return self.options.client_id

    @property
    def client_secret(self) -> str:
        return self.options.client_secret

    def issue_token(self, audience: str | None = None, lifetime: float | None = None) -> str:
        return self.app.tokens.issue(audience or self.url, lifetime)

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (simulates expiry mid-run)."""
        self.app.tokens.expire_all()

    def expire_change_tokens(self) -> None:
        """Every change-tracking delta token issued so far becomes expired."""
        with self.app.store.lock:
            self.app.ct_min_version[0] = self.app.store.next_version()

    @property
    def faults(self) -> Any:
        return self.app.faults

    def ceiling(self) -> dict[str, float]:
        return self.app.profile.ceiling(limits=self.app.options.limits)

    def stats(self) -> dict[str, int]:
        return dict(self.app.stats)

    def reset_stats(self) -> None:
        self.app.stats.clear()

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Direct read of stored rows, for tests that check what landed (bypasses the API on purpose)."""
        with self.app.store.lock:
            return [r for _, r in self.app.store.scan(table)]


def _header_value(value: str) -> str:
    """HTTP header values are Latin-1 on the wire: a URL holding other characters (a key-form OData-EntityId of an
    alternate key in Greek, say) is sent as a URI, its IRI characters percent-encoded as UTF-8 (RFC 3987 s.3.1)."""
    if value.isascii():
        return value
    return urllib.parse.quote(value, safe="".join(chr(c) for c in range(0x21, 0x7F)))
