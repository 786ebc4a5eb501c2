"""Business process flows, built from Microsoft's "Work with business process flows using code" examples.

Source (BPF): https://learn.microsoft.com/power-automate/developer/business-process-flows-code
  - a BPF definition is a workflow row (category 4 = Business Process Flow); its stages are processstage rows:
    GET processstages?$select=stagename&$filter=processid/workflowid eq <workflow id>
  - each activated flow has its own table; an instance is a row there, created with
    POST /<flows> {"bpf_<entity>id@odata.bind": "/<entity set>(<id>)", "activestageid@odata.bind": "/processstages(<S1>)"}
  - stage change: PATCH /<flows>(<id>) {"activestageid@odata.bind": "/processstages(<S2>)", "traversedpath": "<S1>,<S2>"};
    only to the next or previous stage; starting at a later stage needs traversedpath
  - abort: statecode 1, statuscode 3; reactivate 0/1; finish (last stage only) 0/2
The sandbox seeds one flow on incident: "FOI request process" (foi_foirequestprocesses).
"""

from __future__ import annotations

from typing import Any

import pytest
from sandbox_support import Api, error_of

from connector.sandbox.schema import FOI_FLOW

S1, S2, S3, S4 = FOI_FLOW.stage_ids
FLOWS = FOI_FLOW.entity_set


@pytest.fixture
def case_id(api: Api) -> str:
    contact = api.create("contacts", {"lastname": "Requester"})
    return api.create("incidents", {"title": "FOI/2026/0001", "customerid_contact@odata.bind": f"/contacts({contact})"})


def _instance(api: Api, rid: str) -> dict[str, Any]:
    r = api.get(f"{FLOWS}({rid})?$select=_activestageid_value,traversedpath,_processid_value,statecode,statuscode")
    assert r.status_code == 200, r.text
    return r.json()


def test_flow_definition_and_its_stages_are_queryable(api: Api) -> None:
    wf = api.get(f"workflows({FOI_FLOW.workflow_id})?$select=name,category,statecode").json()
    assert (wf["name"], wf["category"], wf["statecode"]) == ("FOI request process", 4, 1)
    # BPF: GET processstages?$select=stagename&$filter=processid/workflowid eq <id>
    r = api.get(f"processstages?$select=stagename&$filter=processid/workflowid eq {FOI_FLOW.workflow_id}")
    assert r.status_code == 200, r.text
    stages = {row["processstageid"]: row["stagename"] for row in r.json()["value"]}
    assert stages == {S1: "Received", S2: "Acknowledged", S3: "In progress", S4: "Response sent"}
    md = api.get(f"EntityDefinitions(LogicalName='{FOI_FLOW.table}')?$select=EntitySetName,PrimaryIdAttribute").json()
    assert (md["EntitySetName"], md["PrimaryIdAttribute"]) == (FLOWS, "businessprocessflowinstanceid")


def test_create_instance_then_move_next_and_previous(api: Api, case_id: str) -> None:
    # BPF: create the instance at the first stage -> 204 + OData-EntityId
    rid = api.create(
        FLOWS,
        {"bpf_incidentid@odata.bind": f"/incidents({case_id})", "activestageid@odata.bind": f"/processstages({S1})"},
    )
    row = _instance(api, rid)
    assert row["_activestageid_value"] == S1 and row["traversedpath"] == S1
    assert row["_processid_value"] == FOI_FLOW.workflow_id and (row["statecode"], row["statuscode"]) == (0, 1)
    found = api.get(f"{FLOWS}?$select=traversedpath&$filter=_bpf_incidentid_value eq {case_id}").json()["value"]
    assert [f["businessprocessflowinstanceid"] for f in found] == [rid]
    # BPF: stage change to the next stage, with the traversed path
    r = api.patch(
        f"{FLOWS}({rid})",
        json={"activestageid@odata.bind": f"/processstages({S2})", "traversedpath": f"{S1},{S2}"},
    )
    assert r.status_code == 204, r.text
    assert _instance(api, rid)["_activestageid_value"] == S2
    # and back to the previous stage
    r = api.patch(f"{FLOWS}({rid})", json={"activestageid@odata.bind": f"/processstages({S1})", "traversedpath": S1})
    assert r.status_code == 204, r.text
    assert _instance(api, rid)["traversedpath"] == S1


def test_only_next_or_previous_stage_moves_are_allowed(api: Api, case_id: str) -> None:
    rid = api.create(
        FLOWS,
        {"bpf_incidentid@odata.bind": f"/incidents({case_id})", "activestageid@odata.bind": f"/processstages({S1})"},
    )
    r = api.patch(
        f"{FLOWS}({rid})",
        json={"activestageid@odata.bind": f"/processstages({S3})", "traversedpath": f"{S1},{S2},{S3}"},
    )
    assert r.status_code == 400
    code, message = error_of(r)
    assert code.startswith("0x") and "next or the previous stage" in message  # code UNCONFIRMED for this case
    assert _instance(api, rid)["_activestageid_value"] == S1  # nothing changed


def test_starting_at_a_later_stage_needs_the_traversed_path(api: Api, case_id: str) -> None:
    body = {"bpf_incidentid@odata.bind": f"/incidents({case_id})", "activestageid@odata.bind": f"/processstages({S3})"}
    r = api.post(FLOWS, json=body)
    assert r.status_code == 400 and "traversedpath" in error_of(r)[1]
    rid = api.create(FLOWS, {**body, "traversedpath": f"{S1},{S2},{S3}"})
    assert _instance(api, rid)["_activestageid_value"] == S3


def test_finish_only_at_the_last_stage_and_abort(api: Api, case_id: str) -> None:
    rid = api.create(
        FLOWS,
        {
            "bpf_incidentid@odata.bind": f"/incidents({case_id})",
            "activestageid@odata.bind": f"/processstages({S3})",
            "traversedpath": f"{S1},{S2},{S3}",
        },
    )
    # BPF: finish = statecode 0, statuscode 2, last stage only
    r = api.patch(f"{FLOWS}({rid})", json={"statecode": 0, "statuscode": 2})
    assert r.status_code == 400 and "last stage" in error_of(r)[1]
    r = api.patch(
        f"{FLOWS}({rid})",
        json={"activestageid@odata.bind": f"/processstages({S4})", "traversedpath": f"{S1},{S2},{S3},{S4}"},
    )
    assert r.status_code == 204, r.text
    assert api.patch(f"{FLOWS}({rid})", json={"statecode": 0, "statuscode": 2}).status_code == 204
    assert _instance(api, rid)["statuscode"] == 2
    # BPF: abort = statecode 1, statuscode 3; reactivate = 0/1
    assert api.patch(f"{FLOWS}({rid})", json={"statecode": 1, "statuscode": 3}).status_code == 204
    assert (_instance(api, rid)["statecode"], _instance(api, rid)["statuscode"]) == (1, 3)
    assert api.patch(f"{FLOWS}({rid})", json={"statecode": 0, "statuscode": 1}).status_code == 204
