"""$batch, bulk messages and functions/actions, from Microsoft Learn examples.

Sources (learn.microsoft.com/power-apps/developer/data-platform/...): BATCH webapi/execute-batch-operations-using-web-api;
BULK bulk-operations; ERR-WEB troubleshoot/.../web-api-client-errors (CRLF); FUNCS webapi/use-web-api-functions;
SendEmail: webapi/reference/sendemail.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import requests
from sandbox_support import Api, error_of

CRLF = "\r\n"


def _batch(api: Api, body: str, boundary: str, quoted: bool = True, prefer: str | None = None) -> requests.Response:
    ctype = f'multipart/mixed; boundary="{boundary}"' if quoted else f"multipart/mixed; boundary={boundary}"
    headers = {"Content-Type": ctype}
    if prefer:
        headers["Prefer"] = prefer
    return api.post("$batch", data=body.encode(), headers=headers)


def _parts(r: requests.Response) -> list[tuple[int, dict[str, str], str]]:
    """Flatten a batch response into (status, headers, body) per inner response, change sets included."""
    out = []
    text = r.text
    for block in text.split("HTTP/1.1 ")[1:]:
        status_line, _, rest = block.partition(CRLF)
        head, _, body = rest.partition(CRLF + CRLF)
        headers = {}
        for line in head.split(CRLF):
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip()] = v.strip()
        body = body.split(CRLF + "--")[0].strip()
        out.append((int(status_line.split()[0]), headers, body))
    return out


def _part(method: str, url: str, body: dict | None = None, content_id: str | None = None, extra: str = "") -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"{method} {url} HTTP/1.1"]
    if body is not None:
        lines.append("Content-Type: application/json; type=entry")
    if extra:
        lines.append(extra)
    lines.append("")
    lines.append(json.dumps(body) if body is not None else "")
    return CRLF.join(lines)


def test_batch_with_change_set_and_get(api: Api, sandbox: Any) -> None:
    # BATCH "Change sets" example: a change set creating two tasks for an account, then a GET outside the change set.
    aid = api.create("accounts", {"name": "Batch account"})
    b, cs = "batch_AAA123", "changeset_BBB456"
    body = (
        f'--{b}{CRLF}Content-Type: multipart/mixed; boundary="{cs}"{CRLF}{CRLF}'
        f"--{cs}{CRLF}"
        + _part(
            "POST",
            "/api/data/v9.2/tasks",
            {"subject": "Task 1 in batch", "regardingobjectid_account_task@odata.bind": f"accounts({aid})"},
            "1",
        )
        + f"{CRLF}--{cs}{CRLF}"
        + _part(
            "POST",
            "/api/data/v9.2/tasks",
            {
                "subject": "Task 2 in batch",
                "regardingobjectid_account_task@odata.bind": f"{sandbox.api_url}accounts({aid})",
            },
            "2",
        )
        + f"{CRLF}--{cs}--{CRLF}{CRLF}"
        f"--{b}{CRLF}"
        + _part(
            "GET",
            f"/api/data/v9.2/accounts({aid})/Account_Tasks?$select=subject",
            extra='Prefer: odata.include-annotations="*"',
        )
        + f"{CRLF}--{b}--{CRLF}"
    )
    r = _batch(api, body, b)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    assert "batch_AAA123" not in r.text  # a new boundary, not the request's
    assert "changesetresponse_" in r.text
    parts = _parts(r)
    assert [p[0] for p in parts] == [204, 204, 200]
    assert parts[0][1]["OData-EntityId"].startswith(sandbox.api_url + "tasks(")
    assert parts[0][1]["Location"] == parts[0][1]["OData-EntityId"]
    assert "Content-ID: 1" in r.text and "Content-ID: 2" in r.text
    assert parts[2][1]["Content-Type"].startswith("application/json")
    assert sorted(t["subject"] for t in json.loads(parts[2][2])["value"]) == ["Task 1 in batch", "Task 2 in batch"]


def test_batch_unquoted_boundary_and_content_id_references(api: Api) -> None:
    # BATCH "Reference URIs in an operation": $1 in a later URL (PUT $1/...) and in a body ("...@odata.bind":"$1").
    b, cs = "batch_AAA123", "changeset_dependent"
    body = (
        f"--{b}{CRLF}Content-Type: multipart/mixed; boundary={cs}{CRLF}{CRLF}"
        f"--{cs}{CRLF}"
        + _part("POST", "contacts", {"firstname": "Oncall", "lastname": "Contact"}, "1")
        + f"{CRLF}--{cs}{CRLF}"
        + _part(
            "POST",
            "accounts",
            {
                "name": "Account with contact",
                "description": "$1 is not a reference here",
                "primarycontactid@odata.bind": "$1",
            },
            "2",
        )
        + f"{CRLF}--{cs}{CRLF}"
        + _part("PUT", "$1/lastname", {"value": "Changed"}, "3")
        + f"{CRLF}--{cs}--{CRLF}{CRLF}--{b}--{CRLF}"
    )
    r = _batch(api, body, b, quoted=False)
    assert r.status_code == 200, r.text
    statuses = [p[0] for p in _parts(r)]
    assert statuses == [204, 204, 204]
    acc = api.get(
        "accounts?$select=name&$expand=primarycontactid($select=lastname)&$filter=name eq 'Account with contact'"
    )
    assert acc.json()["value"][0]["primarycontactid"]["lastname"] == "Changed"
    assert api.get("accounts?$select=description").json()["value"][0]["description"] == "$1 is not a reference here"


def test_change_set_is_atomic_and_forward_reference_fails(api: Api) -> None:
    # BATCH: all operations in a change set succeed or all roll back.
    b, cs = "batch_X", "changeset_Y"
    body = (
        f"--{b}{CRLF}Content-Type: multipart/mixed; boundary={cs}{CRLF}{CRLF}"
        f"--{cs}{CRLF}"
        + _part("POST", "tasks", {"subject": "Rolled back"}, "1")
        + f"{CRLF}--{cs}{CRLF}"
        + _part("POST", "tasks", {"subject": "x" * 201}, "2")
        + f"{CRLF}--{cs}--{CRLF}{CRLF}--{b}--{CRLF}"
    )
    r = _batch(api, body, b)
    assert r.status_code == 400
    parts = _parts(r)
    assert len(parts) == 1 and parts[0][0] == 400
    assert json.loads(parts[0][2])["error"]["code"] == "0x80044331"
    assert api.get("tasks?$filter=subject eq 'Rolled back'").json()["value"] == []
    # Forward reference -> 400 "Content-ID Reference: '$1' does not exist in the batch context."
    body = (
        f"--{b}{CRLF}Content-Type: multipart/mixed; boundary={cs}{CRLF}{CRLF}"
        f"--{cs}{CRLF}"
        + _part("PATCH", "$1", {"subject": "too early"}, "2")
        + f"{CRLF}--{cs}{CRLF}"
        + _part("POST", "tasks", {"subject": "later"}, "1")
        + f"{CRLF}--{cs}--{CRLF}{CRLF}--{b}--{CRLF}"
    )
    r = _batch(api, body, b)
    assert r.status_code == 400
    assert "Content-ID Reference: '$1' does not exist in the batch context." in r.text


def _three_creates(bad_middle: bool = True) -> tuple[str, str]:
    b = "batch_" + uuid.uuid4().hex
    subjects = ["first", "x" * 201 if bad_middle else "second", "third"]
    body = "".join(f"--{b}{CRLF}" + _part("POST", "/api/data/v9.2/tasks", {"subject": s}) + CRLF for s in subjects)
    return body + f"--{b}--{CRLF}", b


def test_batch_stops_at_first_error_by_default(api: Api) -> None:
    # BATCH "Handling errors": the batch stops at the first failure; the whole batch answers 400 with that error.
    body, b = _three_creates()
    r = _batch(api, body, b)
    assert r.status_code == 400
    parts = _parts(r)
    assert [p[0] for p in parts] == [400]
    assert "REQ_ID" in parts[0][1]
    assert sorted(t["subject"] for t in api.get("tasks?$select=subject").json()["value"]) == ["first"]


def test_batch_continue_on_error(api: Api) -> None:
    # BATCH: Prefer: odata.continue-on-error -> 200 and every part's result, including the failed one.
    body, b = _three_creates()
    r = _batch(api, body, b, prefer="odata.continue-on-error")
    assert r.status_code == 200
    assert [p[0] for p in _parts(r)] == [204, 400, 204]
    assert "odata.continue-on-error" in r.headers.get("Preference-Applied", "")
    assert sorted(t["subject"] for t in api.get("tasks?$select=subject").json()["value"]) == ["first", "third"]


def test_batch_requires_crlf(api: Api) -> None:
    # ERR-WEB: LF-only line endings -> 400 0x80048d19 "... System.ArgumentException: Stream was not readable."
    body, b = _three_creates(bad_middle=False)
    r = _batch(api, body.replace(CRLF, "\n"), b)
    assert r.status_code == 400
    code, message = error_of(r)
    assert code == "0x80048d19" and "Stream was not readable" in message


def test_batch_limit_is_1000_requests(api: Api) -> None:
    # BATCH/LIMITS: at most 1000 requests in a batch.
    b = "batch_big"
    one = f"--{b}{CRLF}" + _part("GET", "/api/data/v9.2/WhoAmI") + CRLF
    r = _batch(api, one * 1001 + f"--{b}--{CRLF}", b)
    assert r.status_code == 400
    assert "1000" in error_of(r)[1]
    r = _batch(api, one * 1000 + f"--{b}--{CRLF}", b)
    assert r.status_code == 200
    assert len(_parts(r)) == 1000


def test_get_not_allowed_in_change_set(api: Api) -> None:
    b, cs = "batch_G", "changeset_G"
    body = (
        f"--{b}{CRLF}Content-Type: multipart/mixed; boundary={cs}{CRLF}{CRLF}"
        f"--{cs}{CRLF}" + _part("GET", "accounts", None, "1") + f"{CRLF}--{cs}--{CRLF}{CRLF}--{b}--{CRLF}"
    )
    assert _batch(api, body, b).status_code == 400


def _targets(n: int, start: int = 0, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"name": f"Bulk {i}", "@odata.type": "Microsoft.Dynamics.CRM.account", **extra} for i in range(start, start + n)
    ]


def test_create_multiple_returns_ids_in_order(api: Api, sandbox: Any) -> None:
    # BULK: POST accounts/Microsoft.Dynamics.CRM.CreateMultiple {"Targets":[...]} -> 200
    # {"@odata.context":"...$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse","Ids":[...]}
    r = api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": _targets(5)})
    assert r.status_code == 200
    body = r.json()
    assert body["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse")
    names = [api.get(f"accounts({i})?$select=name").json()["name"] for i in body["Ids"]]
    assert names == [f"Bulk {i}" for i in range(5)]
    # @odata.type is mandatory on every item
    r = api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": [{"name": "no type"}]})
    assert r.status_code == 400


def test_create_multiple_rolls_back_on_one_bad_target(api: Api, sandbox: Any) -> None:
    # BULK: on standard tables any error rolls back the entire operation.
    targets = _targets(3)
    targets[1]["name"] = "x" * 161
    r = api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets})
    assert r.status_code == 400
    assert error_of(r)[0] == "0x80044331"
    assert sandbox.rows("account") == []
    # reusing an existing id -> duplicate key 0x80040237 [ERR-CLIENT], nothing created
    rid = api.create("accounts", {"name": "Existing"})
    targets = _targets(2)
    targets[1]["accountid"] = rid
    r = api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets})
    assert error_of(r)[0] == "0x80040237"
    assert len(sandbox.rows("account")) == 1


def test_update_multiple(api: Api) -> None:
    # BULK: UpdateMultiple items carry the primary key; 204; duplicates: only the first is applied.
    ids = api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": _targets(3)}).json()["Ids"]
    targets = [
        {"accountid": i, "name": f"Updated {n}", "@odata.type": "Microsoft.Dynamics.CRM.account"}
        for n, i in enumerate(ids)
    ]
    targets.append({"accountid": ids[0], "name": "Ignored duplicate", "@odata.type": "Microsoft.Dynamics.CRM.account"})
    r = api.post("accounts/Microsoft.Dynamics.CRM.UpdateMultiple", json={"Targets": targets})
    assert r.status_code == 204
    assert [api.get(f"accounts({i})?$select=name").json()["name"] for i in ids] == [
        "Updated 0",
        "Updated 1",
        "Updated 2",
    ]
    # alternate keys are not supported with UpdateMultiple in the Web API
    r = api.post(
        "accounts/Microsoft.Dynamics.CRM.UpdateMultiple",
        json={
            "Targets": [
                {
                    "@odata.id": "accounts(accountnumber='A')",
                    "name": "x",
                    "@odata.type": "Microsoft.Dynamics.CRM.account",
                }
            ]
        },
    )
    assert r.status_code == 400
    # one bad target rolls back the whole call
    bad = [
        {"accountid": ids[0], "name": "Would change", "@odata.type": "Microsoft.Dynamics.CRM.account"},
        {"accountid": ids[1], "accountcategorycode": 99, "@odata.type": "Microsoft.Dynamics.CRM.account"},
    ]
    assert api.post("accounts/Microsoft.Dynamics.CRM.UpdateMultiple", json={"Targets": bad}).status_code == 400
    assert api.get(f"accounts({ids[0]})?$select=name").json()["name"] == "Updated 0"


def test_upsert_multiple_by_alternate_key(api: Api, sandbox: Any) -> None:
    # BULK/UPSERTMULTIPLE-REF: targets identified by "@odata.id": "accounts(accountnumber='...')", 204, key columns
    # copied into created rows.
    api.create("accounts", {"name": "Old name", "accountnumber": "K-0"})
    targets = [
        {
            "@odata.type": "Microsoft.Dynamics.CRM.account",
            "@odata.id": f"accounts(accountnumber='K-{i}')",
            "name": f"K {i}",
        }
        for i in range(3)
    ]
    r = api.post("accounts/Microsoft.Dynamics.CRM.UpsertMultiple", json={"Targets": targets})
    assert r.status_code == 204
    rows = {row["accountnumber"]: row["name"] for row in sandbox.rows("account")}
    assert rows == {"K-0": "K 0", "K-1": "K 1", "K-2": "K 2"}
    # duplicate keys in Targets -> error, nothing applied
    dup = [*targets[:1], dict(targets[0], name="again")]
    r = api.post("accounts/Microsoft.Dynamics.CRM.UpsertMultiple", json={"Targets": dup})
    assert r.status_code == 400
    # one bad target rolls back the whole call (standard table)
    bad = [
        {"@odata.type": "Microsoft.Dynamics.CRM.account", "@odata.id": "accounts(accountnumber='K-9')", "name": "new"},
        {
            "@odata.type": "Microsoft.Dynamics.CRM.account",
            "@odata.id": "accounts(accountnumber='K-1')",
            "name": "y" * 161,
        },
    ]
    r = api.post("accounts/Microsoft.Dynamics.CRM.UpsertMultiple", json={"Targets": bad})
    assert r.status_code == 400 and error_of(r)[0] == "0x80044331"
    assert "K-9" not in {row["accountnumber"] for row in sandbox.rows("account")}


def test_whoami(api: Api, sandbox: Any) -> None:
    # FUNCS: GET WhoAmI -> 200 {"@odata.context":"...$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
    # "BusinessUnitId","UserId","OrganizationId"}; WhoAmI() works too; x-ms-dop-hint on the response [PARALLEL]
    for path in ("WhoAmI", "WhoAmI()"):
        r = api.get(path)
        assert r.status_code == 200
        body = r.json()
        assert body["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse")
        assert {uuid.UUID(body[k]) for k in ("BusinessUnitId", "UserId", "OrganizationId")}
        assert int(r.headers["x-ms-dop-hint"]) >= 1
    user = api.get(f"systemusers({body['UserId']})?$select=fullname").json()
    assert user["systemuserid"] == body["UserId"]


def test_send_email_marks_it_sent(api: Api) -> None:
    # SendEmail: POST emails(<id>)/Microsoft.Dynamics.CRM.SendEmail {"IssueSend": true} -> 200 SendEmailResponse;
    # the email moves to statecode 1 Completed / statuscode 3 Sent.
    cid = api.create("contacts", {"lastname": "Recipient", "emailaddress1": "r@example.com"})
    eid = api.create(
        "emails",
        {
            "subject": "Acknowledgement",
            "email_activity_parties": [{"partyid_contact@odata.bind": f"/contacts({cid})", "participationtypemask": 2}],
        },
    )
    r = api.post(f"emails({eid})/Microsoft.Dynamics.CRM.SendEmail", json={"IssueSend": True})
    assert r.status_code == 200, r.text
    assert r.json()["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.SendEmailResponse")
    assert r.json()["Subject"] == "Acknowledgement"
    email = api.get(f"emails({eid})?$select=statecode,statuscode").json()
    assert (email["statecode"], email["statuscode"]) == (1, 3)
    # sending again: not a draft any more
    again = api.post(f"emails({eid})/Microsoft.Dynamics.CRM.SendEmail", json={"IssueSend": True})
    assert again.status_code == 400
    error_of(again)


def test_close_incident_is_the_way_to_resolve_a_case(api: Api) -> None:
    # CloseIncident action (webapi/reference/closeincident): POST CloseIncident {"IncidentResolution": {...,
    # "incidentid@odata.bind": "/incidents(<id>)"}, "Status": 5} -> 204; the case becomes Resolved / Problem Solved.
    # Setting statecode Resolved with PATCH is refused by the service with the message below.
    aid = api.create("accounts", {"name": "Requester org"})
    inc = api.create("incidents", {"title": "FOI-1", "customerid_account@odata.bind": f"/accounts({aid})"})
    r = api.patch(f"incidents({inc})", json={"statecode": 1, "statuscode": 5})
    assert r.status_code == 400
    assert "use the CloseIncidentRequest message instead" in error_of(r)[1]
    r = api.post(
        "CloseIncident",
        json={
            "IncidentResolution": {
                "subject": "Information provided",
                "incidentid@odata.bind": f"/incidents({inc})",
                "@odata.type": "Microsoft.Dynamics.CRM.incidentresolution",
            },
            "Status": 1000,
        },
    )
    assert r.status_code == 204, r.text
    case = api.get(f"incidents({inc})?$select=statecode,statuscode").json()
    assert (case["statecode"], case["statuscode"]) == (1, 1000)
    res = api.get(f"incidents({inc})/Incident_IncidentResolutions?$select=subject,statecode").json()["value"]
    assert [(x["subject"], x["statecode"]) for x in res] == [("Information provided", 1)]
    # an active status is not a resolution; a case cannot be resolved twice
    again = api.post(
        "CloseIncident", json={"IncidentResolution": {"incidentid@odata.bind": f"/incidents({inc})"}, "Status": 5}
    )
    assert again.status_code == 400
    # cancelling and reactivating stay plain updates
    inc2 = api.create("incidents", {"title": "FOI-2", "customerid_account@odata.bind": f"/accounts({aid})"})
    assert api.patch(f"incidents({inc2})", json={"statecode": 2, "statuscode": 6}).status_code == 204
    assert api.patch(f"incidents({inc2})", json={"statecode": 0, "statuscode": 1}).status_code == 204
