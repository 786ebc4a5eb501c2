"""Custom APIs defined as rows, called as actions/functions, and run as background operations.

Sources (learn.microsoft.com/power-apps/developer/data-platform/...): CAPI create-custom-api-with-code (the Web API
request creating sample_CustomAPIExample with a StringParameter request parameter and a StringProperty response
property by deep insert), custom-api (binding types, isfunction); BG background-operations (POST with
`Prefer: respond-async` -> 202 + Location /api/backgroundoperation/<id> + x-ms-dyn-backgroundoperationid +
Preference-Applied; GET on the status monitor -> backgroundOperationStateCode/StatusCode and the outputs; DELETE
cancels an operation that has not started -> 2/22; "Canceling background operation is not allowed after it is in
terminal state."; the backgroundoperations table). The sandbox runs no plug-ins: response properties come back
unset (null).
"""

from __future__ import annotations

import json
from typing import Any

import requests
from csdl_parser import parse
from sandbox_support import Api, error_of

EXAMPLE = {
    "uniquename": "sample_CustomAPIExample",
    "allowedcustomprocessingsteptype": 0,
    "bindingtype": 0,
    "boundentitylogicalname": None,
    "description": "A simple example of a custom API",
    "name": "Custom API Example",
    "displayname": "Custom API Example",
    "executeprivilegename": None,
    "isfunction": False,
    "isprivate": False,
    "workflowsdkstepenabled": False,
    "iscustomizable": {"Value": False},
    "CustomAPIRequestParameters": [
        {
            "description": "The StringParameter request parameter for custom API Example",
            "displayname": "Custom API Example String Parameter",
            "logicalentityname": None,
            "name": "sample_CustomAPIExample.StringParameter",
            "uniquename": "StringParameter",
            "type": 10,
            "isoptional": False,
            "iscustomizable": {"Value": False},
        }
    ],
    "CustomAPIResponseProperties": [
        {
            "description": "The StringProperty response property for custom API Example",
            "displayname": "Custom API Example String Property",
            "logicalentityname": None,
            "name": "sample_CustomAPIExample.StringProperty",
            "uniquename": "StringProperty",
            "type": 10,
            "iscustomizable": {"Value": False},
        }
    ],
}


def _root(api: Api) -> str:
    return api.base.split("/api/data/")[0]


def test_create_and_call_the_documented_custom_api(api: Api) -> None:
    r = api.post("customapis", json=EXAMPLE)
    assert r.status_code == 204, r.text
    params = api.get("customapirequestparameters?$select=uniquename,type,isoptional").json()["value"]
    assert [(p["uniquename"], p["type"], p["isoptional"]) for p in params] == [("StringParameter", 10, False)]
    call = api.post("sample_CustomAPIExample", json={"StringParameter": "Hello"})
    assert call.status_code == 200, call.text
    body = call.json()
    assert body["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.sample_CustomAPIExampleResponse")
    assert body["StringProperty"] is None  # no plug-in sets it
    missing = api.post("sample_CustomAPIExample", json={})
    assert missing.status_code == 400 and "StringParameter" in error_of(missing)[1]
    assert api.get("sample_CustomAPIExample").status_code == 405  # an action, not a function
    # $metadata declares it like a built-in message (Learn webapi/web-api-service-documents), its response type too
    model = parse(api.get("$metadata").content)
    model.check()
    op = model.operations["Microsoft.Dynamics.CRM.sample_CustomAPIExample"][0]
    assert (op.kind, op.bound, [p.name for p in op.parameters]) == ("Action", False, ["StringParameter"])
    assert op.returns == "mscrm.sample_CustomAPIExampleResponse"
    assert "StringProperty" in model.types["Microsoft.Dynamics.CRM.sample_CustomAPIExampleResponse"].properties


def test_bound_function_custom_api(api: Api) -> None:
    api.post(
        "customapis",
        json={
            "uniquename": "sample_IsSystemAdmin",
            "name": "Is admin",
            "bindingtype": 1,
            "boundentitylogicalname": "systemuser",
            "isfunction": True,
            "CustomAPIResponseProperties": [{"uniquename": "HasRole", "name": "HasRole", "type": 0}],
        },
    )
    me = api.get("WhoAmI").json()["UserId"]
    r = api.get(f"systemusers({me})/Microsoft.Dynamics.CRM.sample_IsSystemAdmin")
    assert r.status_code == 200 and r.json()["HasRole"] is None


def test_background_operation_lifecycle(api: Api) -> None:
    api.post("customapis", json=EXAMPLE)
    root = _root(api)
    r = api.post("sample_CustomAPIExample", json={"StringParameter": "Hello"}, headers={"Prefer": "respond-async"})
    assert r.status_code == 202, r.text
    op = r.headers["x-ms-dyn-backgroundoperationid"]
    assert r.headers["Location"] == f"{root}/api/backgroundoperation/{op}"
    assert r.headers["Preference-Applied"] == "respond-async"
    row = api.get(
        f"backgroundoperations({op})?$select=name,backgroundoperationstatecode,backgroundoperationstatuscode,inputparameters"
    ).json()
    assert (row["name"], row["backgroundoperationstatecode"], row["backgroundoperationstatuscode"]) == (
        "sample_CustomAPIExample",
        0,
        0,
    )
    assert json.loads(row["inputparameters"]) == [{"Key": "StringParameter", "Value": "Hello"}]
    status = api.session.get(r.headers["Location"], timeout=30).json()
    assert status == {"backgroundOperationStateCode": 3, "backgroundOperationStatusCode": 30, "StringProperty": None}
    late = api.session.delete(r.headers["Location"], timeout=30)
    assert (
        late.status_code == 400
        and error_of(late)[1] == "Canceling background operation is not allowed after it is in terminal state."
    )
    # cancelled before it started: it never runs
    r2 = api.post("sample_CustomAPIExample", json={"StringParameter": "x"}, headers={"Prefer": "respond-async"})
    cancel = api.session.delete(r2.headers["Location"], timeout=30)
    assert cancel.status_code == 200 and cancel.json() == {
        "backgroundOperationStateCode": 2,
        "backgroundOperationStatusCode": 22,
    }
    after = api.session.get(r2.headers["Location"], timeout=30).json()
    assert (after["backgroundOperationStateCode"], after["backgroundOperationStatusCode"]) == (3, 32)
    # a failing call fails in the background: error code and message on the status monitor
    r3 = api.post("sample_CustomAPIExample", json={}, headers={"Prefer": "respond-async"})
    failed: Any = api.session.get(r3.headers["Location"], timeout=30).json()
    assert (
        failed["backgroundOperationStatusCode"] == 31 and "StringParameter" in failed["backgroundOperationErrorMessage"]
    )
    anon = requests.get(f"{root}/api/backgroundoperation/{op}", timeout=30)
    assert anon.status_code == 401  # the monitor needs a token too
