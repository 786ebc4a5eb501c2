"""Validation answered as the service answers it: status, {"error":{"code","message"}} shape and documented codes.

Sources: ERR-WEB = learn.microsoft.com/troubleshoot/power-platform/power-apps/dataverse/web-api-client-errors;
COMPOSE = .../webapi/compose-http-requests-handle-errors; BATCH = .../webapi/execute-batch-operations-using-web-api
(string too long example); ERR-CLIENT = .../troubleshoot/.../dataverse/client-errors (codes).
"""

from __future__ import annotations

import pytest
from sandbox_support import Api, error_of


def test_entity_set_name_is_case_sensitive(api: Api) -> None:
    # ERR-WEB: GET .../Account -> 404 {"code":"0x8006088a","message":"Resource not found for the segment 'Account'."}
    r = api.get("Account")
    assert r.status_code == 404
    assert error_of(r) == ("0x8006088a", "Resource not found for the segment 'Account'.")
    assert r.headers["Content-Type"].startswith("application/json")


def test_unknown_property_in_select(api: Api) -> None:
    # ERR-WEB: GET accounts?$select=Name -> 400 code "0x0"
    r = api.get("accounts?$select=Name")
    assert r.status_code == 400
    assert error_of(r) == ("0x0", "Could not find a property named 'Name' on type 'Microsoft.Dynamics.CRM.account'.")


def test_unknown_property_in_body(api: Api) -> None:
    # ERR-WEB: POST accounts {"Name": "Contoso"} -> 400 "0x0" "... Invalid property 'Name' was found in entity ..."
    r = api.post("accounts", json={"Name": "Contoso"})
    assert r.status_code == 400
    code, message = error_of(r)
    assert code == "0x0"
    assert "Invalid property 'Name' was found in entity 'Microsoft.Dynamics.CRM.account'" in message


def test_lookup_column_instead_of_navigation_property(api: Api) -> None:
    # ERR-WEB: "parentcustomerid@odata.bind" on contact -> 400 0x80048d19 "An undeclared property 'parentcustomerid'
    # which only has property annotations in the payload but no property value was found in the payload..."
    aid = api.create("accounts", {"name": "Parent"})
    r = api.post("contacts", json={"lastname": "X", "parentcustomerid@odata.bind": f"/accounts({aid})"})
    assert r.status_code == 400
    code, message = error_of(r)
    assert code == "0x80048d19"
    assert "An undeclared property 'parentcustomerid' which only has property annotations in the payload" in message
    ok = api.post("contacts", json={"lastname": "X", "parentcustomerid_account@odata.bind": f"/accounts({aid})"})
    assert ok.status_code == 204


def test_post_to_a_function_is_404(api: Api) -> None:
    # ERR-WEB: POST WhoAmI -> 404 code "" "No HTTP resource was found that matches the request URI '.../WhoAmI'."
    r = api.post("WhoAmI")
    assert r.status_code == 404
    code, message = error_of(r)
    assert code == ""
    assert message.startswith("No HTTP resource was found that matches the request URI") and "WhoAmI" in message


def test_string_too_long(api: Api) -> None:
    # BATCH example error: 400 0x80044331 "A validation error occurred.  The length of the 'subject' attribute of the
    # 'task' entity exceeded the maximum allowed length of '200'." (two spaces after "occurred.")
    r = api.post("tasks", json={"subject": "x" * 201})
    assert r.status_code == 400
    assert error_of(r) == (
        "0x80044331",
        "A validation error occurred.  The length of the 'subject' attribute of the 'task' entity exceeded the "
        "maximum allowed length of '200'.",
    )
    assert api.post("tasks", json={"subject": "x" * 200}).status_code == 204


def test_invalid_choice_value(api: Api) -> None:
    # Choice outside the option set: "The value {0} of '{attr}' on record of type '{entity}' is outside the valid
    # range. Accepted Values: {list}"; code 0x8004431a / 400 community-reported (UNCONFIRMED).
    r = api.post("accounts", json={"name": "A", "accountcategorycode": 7})
    assert r.status_code == 400
    code, message = error_of(r)
    assert code == "0x8004431a"
    assert "The value 7 of 'accountcategorycode' on record of type 'account' is outside the valid range." in message
    assert "Accepted Values: 1,2" in message


@pytest.mark.parametrize(
    ("body", "edm"),
    [
        ({"name": 12}, "Edm.String"),
        ({"name": "A", "numberofemployees": "many"}, "Edm.Int32"),
        ({"name": "A", "creditonhold": "yes"}, "Edm.Boolean"),
        ({"name": "A", "revenue": "lots"}, "Edm.Decimal"),
    ],
)
def test_wrong_type(api: Api, body: dict, edm: str) -> None:
    # OData payload validation: 400 0x80048d19 with the ODataException "Cannot convert the literal ... to the
    # expected type ..." (ERR-WEB payload error shape).
    r = api.post("accounts", json=body)
    assert r.status_code == 400
    code, message = error_of(r)
    assert code == "0x80048d19"
    assert f"to the expected type '{edm}'" in message


def test_missing_system_required_column(api: Api) -> None:
    # incident.customerid is SystemRequired (incident entity reference); omitting it fails the create.
    r = api.post("incidents", json={"title": "No customer"})
    assert r.status_code == 400
    code, message = error_of(r)
    assert code == "0x80040203" and "customerid" in message


def test_invalid_status_for_state(api: Api) -> None:
    # statuscode must belong to the statecode (account: statecode 0 Active -> statuscode 1; 1 Inactive -> 2).
    r = api.post("accounts", json={"name": "A", "statecode": 0, "statuscode": 2})
    assert r.status_code == 400
    assert error_of(r)[0] == "0x80040203"
    aid = api.create("accounts", {"name": "B"})
    assert api.patch(f"accounts({aid})", json={"statecode": 1, "statuscode": 2}).status_code == 204


def test_lookup_properties_are_read_only(api: Api) -> None:
    # _<navprop>_value lookup properties can't be written (community: DynamicsWebApi #17).
    r = api.post("accounts", json={"name": "A", "_primarycontactid_value": "00000000-0000-0000-0000-000000000001"})
    assert r.status_code == 400


def test_bind_to_missing_record_by_guid(api: Api) -> None:
    r = api.post(
        "accounts", json={"name": "A", "primarycontactid@odata.bind": "/contacts(00000000-0000-0000-0000-000000000009)"}
    )
    assert r.status_code == 404
    assert error_of(r)[0] == "0x80040217"


def test_duplicate_alternate_key(api: Api) -> None:
    # Duplicate alternate key: 0x80060892 DuplicateRecordEntityKey, 412 under DuplicateRecord [COMPOSE] (UNCONFIRMED)
    api.create("accounts", {"name": "A", "accountnumber": "DUP-1"})
    r = api.post("accounts", json={"name": "B", "accountnumber": "dup-1"})  # key match is case-insensitive
    assert r.status_code == 412
    assert error_of(r)[0] == "0x80060892"


def test_unsupported_query_options(api: Api) -> None:
    # QOVER: $skip, $search, $format are not supported.
    for q in ("$skip=1", "$search=x", "$format=json", "fetchXml=%3Cfetch%2F%3E", "$apply=aggregate"):
        r = api.get(f"accounts?{q}")
        assert r.status_code == 400, q
        error_of(r)


def test_method_not_allowed_on_collection(api: Api) -> None:
    # COMPOSE: 405 e.g. DELETE/PATCH on a collection
    r = api.delete("accounts")
    assert r.status_code == 405
    error_of(r)


def test_malformed_json_body(api: Api) -> None:
    r = api.post("accounts", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert error_of(r)[0] == "0x80048d19"


def test_bad_select_with_representation_writes_nothing(api: Api, sandbox: object) -> None:
    # The query options are validated before the write: a 400 must not leave a created record behind.
    r = api.post("accounts?$select=Name", json={"name": "Ghost"}, headers={"Prefer": "return=representation"})
    assert r.status_code == 400
    assert sandbox.rows("account") == []  # type: ignore[attr-defined]
