"""Metadata reader with cache, WhoAmI, typed errors (no requester data), and transport rules (HTTPS, TLS, headers)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from connector.config import DataverseSettings
from connector.dataverse import DataverseClient
from connector.dataverse.errors import (
    ConcurrencyConflict,
    DuplicateRecord,
    NotFound,
    PermissionDenied,
    TransportError,
    ValidationFailed,
    from_response,
)
from connector.dataverse.transport import Transport
from connector.errors import ConfigError


def test_metadata_table_is_read_once_and_cached(dv_client: Any) -> None:
    incident = dv_client.metadata.table("incident")
    assert (incident.entity_set, incident.primary_id, incident.primary_name) == ("incidents", "incidentid", "title")
    assert [(k.attributes, k.status, k.active) for k in incident.keys] == [(["ticketnumber"], "Active", True)]
    assert incident.attributes["title"].max_length == 200
    assert incident.attributes["title"].required == "ApplicationRequired"
    assert incident.attributes["casetypecode"].options == {1: "Question", 2: "Problem", 3: "Request"}
    assert incident.attributes["casetypecode"].option_value("request") == 3
    assert incident.attributes["statuscode"].options and incident.attributes["statuscode"].options[1] == "In Progress"
    assert set(incident.attributes["customerid"].targets) == {"account", "contact"}
    assert set(incident.lookup_navs("customerid")) == {"customerid_account", "customerid_contact"}
    assert incident.key_for(["ticketnumber"]) is not None
    before = dv_client.stats.snapshot()["requests_total"]
    assert dv_client.metadata.table("incident") is incident
    assert dv_client.metadata.table_for_set("incidents") is incident
    assert dv_client.stats.snapshot()["requests_total"] == before  # served from the cache
    assert dv_client.metadata.table("incident", refresh=True) is not incident


def test_typed_errors_carry_code_status_and_request_id(sandbox: Any, dv_client: Any) -> None:
    with pytest.raises(NotFound) as nf:
        dv_client.retrieve("accounts", "00000000-0000-0000-0000-0000000000aa")
    assert (nf.value.status, nf.value.code) == (404, "0x80040217") and nf.value.request_id
    with pytest.raises(NotFound):
        dv_client.update("accounts", {"accountnumber": "NOPE"}, {"name": "x"})
    rid = dv_client.upsert("accounts", {"accountnumber": "E-1"}, {"name": "exists"})
    with pytest.raises(DuplicateRecord) as dup:
        dv_client.upsert("accounts", {"accountnumber": "E-1"}, {"name": "again"}, create_only=True)
    assert dup.value.status == 412
    etag = dv_client.retrieve("accounts", rid, select=["name"])["@odata.etag"]
    dv_client.update("accounts", rid, {"name": "moved on"}, etag=etag)
    with pytest.raises(ConcurrencyConflict):
        dv_client.update("accounts", rid, {"name": "stale"}, etag=etag)
    with pytest.raises(ValidationFailed) as bad:
        dv_client.create("contacts", {"lastname": "Smith", "emailaddress1": "jane.smith@example.org" * 10})
    assert "jane.smith@example.org" not in str(bad.value)
    with pytest.raises(ValidationFailed):
        dv_client.retrieve("accounts", rid, select=["nosuchcolumn"])


def test_error_mapping_and_scrubbing() -> None:
    def err(status: int, code: str, message: str) -> Any:
        return from_response(status, {"error": {"code": code, "message": message}}, {"REQ_ID": "r-1"})

    assert isinstance(err(403, "0x80040220", "Principal user is missing prvReadIncident privilege"), PermissionDenied)
    assert isinstance(err(400, "0x80040237", "Cannot insert duplicate key"), DuplicateRecord)
    assert isinstance(err(412, "0x80060882", "The version of the existing record doesn't match"), ConcurrencyConflict)
    scrubbed = err(
        400,
        "0x80060892",
        "A record that has the attribute values Jane Doe, jane@example.org already exists. The entity key requires...",
    )
    assert isinstance(scrubbed, DuplicateRecord) and "Jane" not in str(scrubbed) and scrubbed.request_id == "r-1"
    invalid = err(400, "0x8004431a", "A validation error occurred. The value 99 of 'prioritycode' on record ...")
    assert "99" not in invalid.message and invalid.code == "0x8004431a"


def test_https_is_required_except_on_loopback() -> None:
    remote = DataverseSettings.model_construct(**{**DataverseSettings().model_dump(), "url": "http://crm.example.org"})
    with pytest.raises(ConfigError, match="https"):
        Transport(remote, tokens=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="plain http"):
        DataverseSettings(url="http://crm.example.org")


def test_tls_is_verified_and_a_missing_ca_fails_fast(
    make_sandbox: Any, settings_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = make_sandbox(tls=True)
    # REQUESTS_CA_BUNDLE (set system-wide on many servers) must not displace the configured CA bundle.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    with DataverseClient.from_settings(settings_for(sb)) as client:
        assert client.whoami()["UserId"]
        token_source = client.tokens
    settings = settings_for(sb).model_copy(update={"ca_bundle": None})
    with DataverseClient(settings, tokens=token_source) as client:
        started = time.monotonic()
        with pytest.raises(TransportError, match="ca_bundle"):
            client.whoami()
        assert time.monotonic() - started < 2  # not retried: a certificate does not get better by waiting


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        _Recorder.seen.append(dict(self.headers.items()))
        body = json.dumps({"UserId": "u", "BusinessUnitId": "b", "OrganizationId": "o"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-ms-dop-hint", "6")
        self.send_header("Set-Cookie", "ARRAffinity=abc; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


class _FixedToken:
    def token(self) -> str:
        return "t0ken"

    def invalidate(self, used: str | None = None) -> None:
        return


def test_documented_odata_headers_are_sent_and_affinity_cookies_dropped() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings = DataverseSettings(url=f"http://127.0.0.1:{server.server_address[1]}")
        with DataverseClient(settings, tokens=_FixedToken()) as client:
            client.whoami()
            client.whoami()
            assert client.gate.maximum == 6  # from x-ms-dop-hint
    finally:
        server.shutdown()
        server.server_close()
    first, second = _Recorder.seen[-2:]
    for h in (first, second):
        assert h["Accept"] == "application/json"
        assert h["OData-MaxVersion"] == "4.0" and h["OData-Version"] == "4.0"
        assert h["If-None-Match"] == "null"
        assert h["Authorization"] == "Bearer t0ken"
    assert "Cookie" not in second
