"""Defining a business process flow through the workflow table, then using it, as Microsoft documents it.

Source (BPF): https://learn.microsoft.com/power-automate/developer/business-process-flows-code
  - "A business process flow definition is stored in the workflow entity, and the stage information ... in the
    processstage entity"; a definition is created in Draft and activated by updating the workflow to Activated;
  - activating it creates a custom table named by the definition's uniquename ("My Custom BPF" -> new_mycustombpf,
    found with GET workflows?$filter=name eq 'My Custom BPF'&$select=uniquename), with IsBPFEntity true
    (GET EntityDefinitions?$select=SchemaName,LogicalName,DisplayName&$filter=IsBPFEntity eq true);
  - instances: POST new_mycustombpfs {"bpf_accountid@odata.bind": ..., "activestageid@odata.bind": ...}; stage moves
    only to the next or previous stage.
How the stages of a definition created with code are read from its XAML is not documented for the Web API; the
sandbox takes them from the processstage rows bound to the workflow, in the order they were created.
"""

from __future__ import annotations

from sandbox_support import Api, error_of


def _define(
    api: Api, name: str, stages: list[str], uniquename: str | None = "new_mycustombpf"
) -> tuple[str, list[str]]:
    body = {"name": name, "category": 4, "type": 1, "businessprocesstype": 0, "primaryentity": "account"}
    if uniquename:
        body["uniquename"] = uniquename
    wid = api.create("workflows", body)
    ids = [
        api.create(
            "processstages",
            {
                "stagename": s,
                "processid@odata.bind": f"/workflows({wid})",
                "primaryentitytypecode": "account",
                "stagecategory": 0,
            },
        )
        for s in stages
    ]
    return wid, ids


def test_activating_a_definition_creates_its_instance_table(api: Api) -> None:
    wid, (s1, s2, s3) = _define(api, "My Custom BPF", ["S1", "S2", "S3"])
    draft = api.get(f"workflows({wid})?$select=statecode,statuscode").json()
    assert (draft["statecode"], draft["statuscode"]) == (0, 1)  # "created in the Draft state"
    assert api.get("new_mycustombpfs").status_code == 404  # no table before activation
    assert api.patch(f"workflows({wid})", json={"statecode": 1, "statuscode": 2}).status_code == 204
    found = api.get("workflows?$filter=name eq 'My Custom BPF'&$select=uniquename").json()["value"]
    assert [w["uniquename"] for w in found] == ["new_mycustombpf"]
    bpfs = api.get("EntityDefinitions?$select=SchemaName,LogicalName,DisplayName&$filter=IsBPFEntity eq true").json()
    assert "new_mycustombpf" in {e["LogicalName"] for e in bpfs["value"]}
    acc = api.create("accounts", {"name": "Flowing"})
    inst = api.create(
        "new_mycustombpfs",
        {"bpf_accountid@odata.bind": f"/accounts({acc})", "activestageid@odata.bind": f"/processstages({s1})"},
    )
    row = api.get(f"new_mycustombpfs({inst})?$select=_processid_value,traversedpath,_bpf_accountid_value").json()
    assert (row["_processid_value"], row["traversedpath"], row["_bpf_accountid_value"]) == (wid, s1, acc)
    skip = api.patch(f"new_mycustombpfs({inst})", json={"activestageid@odata.bind": f"/processstages({s3})"})
    assert skip.status_code == 400 and "next or the previous stage" in error_of(skip)[1]
    assert (
        api.patch(f"new_mycustombpfs({inst})", json={"activestageid@odata.bind": f"/processstages({s2})"}).status_code
        == 204
    )
    assert api.get(f"new_mycustombpfs({inst})?$select=traversedpath").json()["traversedpath"] == f"{s1},{s2}"


def test_uniquename_is_derived_and_stages_are_required(api: Api) -> None:
    wid, _ = _define(api, "Complaint Handling", [], uniquename=None)
    r = api.patch(f"workflows({wid})", json={"statecode": 1, "statuscode": 2})
    assert r.status_code == 400 and "stage" in error_of(r)[1]
    api.create("processstages", {"stagename": "Only", "processid@odata.bind": f"/workflows({wid})"})
    assert api.patch(f"workflows({wid})", json={"statecode": 1, "statuscode": 2}).status_code == 204
    assert api.get(f"workflows({wid})?$select=uniquename").json()["uniquename"] == "new_complainthandling"
    assert api.get("new_complainthandlings?$select=bpf_name").status_code == 200
