"""$batch builder and parser against the sandbox: change sets with Content-ID references, stop vs continue."""

from __future__ import annotations

from typing import Any

import pytest

from connector import odata
from connector.dataverse import BatchRequest, ChangeSet
from connector.dataverse.batch import build_batch, parse_batch_response
from connector.dataverse.errors import NotFound


def test_builder_uses_crlf_and_refuses_gets_in_change_sets() -> None:
    ctype, body = build_batch(
        [BatchRequest("GET", "accounts?$select=name"), ChangeSet([BatchRequest("POST", "accounts", {"name": "a"})])],
        "/api/data/v9.2/",
    )
    assert ctype.startswith("multipart/mixed; boundary=batch_")
    text = body.decode()
    assert "\n" not in text.replace("\r\n", "")
    assert "GET /api/data/v9.2/accounts?$select=name HTTP/1.1\r\n" in text
    assert "Content-ID: 1\r\n" in text
    with pytest.raises(ValueError, match="GET"):
        build_batch([ChangeSet([BatchRequest("GET", "accounts")])], "/api/data/v9.2/")
    with pytest.raises(ValueError, match="1000"):
        build_batch([BatchRequest("GET", "accounts")] * 1001, "/api/data/v9.2/")


def test_parser_reads_nested_change_set_responses() -> None:
    body = (
        b"--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n"
        b"--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        b"Content-ID: 1\r\n\r\nHTTP/1.1 204 No Content\r\n"
        b"OData-EntityId: https://org.crm11.dynamics.com/api/data/v9.2/tasks(a2b3c4d5-0000-0000-0000-000000000001)\r\n"
        b"\r\n\r\n--changesetresponse_2--\r\n"
        b"--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json; odata.metadata=minimal\r\n\r\n"
        b'{"value":[{"name":"x"}]}\r\n--batchresponse_1--\r\n'
    )
    parts = parse_batch_response("multipart/mixed; boundary=batchresponse_1", body)
    assert [p.status for p in parts] == [204, 200]
    assert parts[0].content_id == "1" and parts[0].entity_id == "a2b3c4d5-0000-0000-0000-000000000001"
    assert parts[1].body == {"value": [{"name": "x"}]}


def test_change_set_with_content_id_reference(sandbox: Any, dv_client: Any) -> None:
    responses = dv_client.batch(
        [
            ChangeSet(
                [
                    BatchRequest("POST", "accounts", {"name": "Batch council"}, content_id="1"),
                    BatchRequest(
                        "POST",
                        "incidents",
                        {"title": "Batch case", "customerid_account@odata.bind": "$1"},
                        content_id="2",
                    ),
                ]
            ),
            BatchRequest("GET", "accounts?$select=name&$filter=" + odata.eq("name", "Batch council")),
        ]
    )
    assert [r.status for r in responses] == [204, 204, 200]
    account_id = responses[0].entity_id
    assert responses[2].body["value"][0]["accountid"] == account_id
    case = next(r for r in sandbox.rows("incident") if r["title"] == "Batch case")
    assert case["_customerid_value"] == account_id


def test_failure_stops_the_batch_unless_continue_on_error(sandbox: Any, dv_client: Any) -> None:
    missing = "00000000-0000-0000-0000-000000000001"
    requests = [
        BatchRequest("PATCH", odata.record_path("accounts", {"accountnumber": "BT-1"}), {"name": "one"}),
        BatchRequest("PATCH", odata.record_path("accounts", missing), {"name": "two"}, {"If-Match": "*"}),
        BatchRequest("PATCH", odata.record_path("accounts", {"accountnumber": "BT-3"}), {"name": "three"}),
    ]
    stopped = dv_client.batch(requests)
    assert [r.status for r in stopped] == [404]  # Dataverse answers with the failing part only
    assert isinstance(stopped[0].error(), NotFound)
    assert not [r for r in sandbox.rows("account") if r.get("accountnumber") == "BT-3"]
    everything = dv_client.batch(requests, continue_on_error=True)
    assert [r.status for r in everything] == [204, 404, 204]
    err = everything[1].error()
    assert isinstance(err, NotFound) and err.code == "0x80040217"
    assert {r.get("accountnumber") for r in sandbox.rows("account")} >= {"BT-1", "BT-3"}
