"""Response details that clients parse: URLs, context URLs, content types, batch part headers, counts, annotations,
schema names and the `$metadata` document. Each test cites the Microsoft Learn page its expectation comes from.
"""

from __future__ import annotations

import re
from typing import Any

from csdl_parser import parse
from sandbox_support import Api

LEARN = "https://learn.microsoft.com/power-apps/developer/data-platform"


def _api_on(sandbox: Any, origin: str) -> Api:
    return Api(origin + "/api/data/v9.2/", sandbox.issue_token(), verify=str(sandbox.ca_bundle))


def test_every_url_names_the_listener_the_request_came_in_on(sandbox: Any, monkeypatch: Any) -> None:
    # LEARN/webapi/query/page-results: "use the value of the @odata.nextLink property with a new GET request";
    # LEARN/webapi/create-entity-web-api: OData-EntityId "contains the Uri of the created entity". Both must point
    # at the listener (scheme, host, port) the client used, so the next request goes where the first one went.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.ca_bundle))  # requests prefers it over session.verify
    for origin in (sandbox.http_url, sandbox.https_url, sandbox.http_url.replace("127.0.0.1", "localhost")):
        api = _api_on(sandbox, origin)
        r = api.post("contacts", json={"lastname": "Listener"})
        assert r.status_code == 204, r.text
        assert r.headers["OData-EntityId"].startswith(origin + "/api/data/v9.2/contacts(")
        api.post("contacts", json={"lastname": "Listener 2"})
        page = api.get("contacts?$select=lastname", headers={"Prefer": "odata.maxpagesize=1"}).json()
        assert page["@odata.context"] == origin + "/api/data/v9.2/$metadata#contacts(lastname)"
        assert page["@odata.nextLink"].startswith(origin + "/api/data/v9.2/contacts?")
        assert api.get(page["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=1"}).status_code == 200
        for rid in [c["contactid"] for c in api.get("contacts?$select=contactid").json()["value"]]:
            api.delete(f"contacts({rid})")
        api.session.close()
    # LEARN/webapi/compose-http-requests-handle-errors: code written against v9.0 keeps working with v9.0 in the URL.
    old = Api(sandbox.url + "/api/data/v9.0/", sandbox.issue_token())
    assert old.get("WhoAmI").json()["@odata.context"].startswith(sandbox.url + "/api/data/v9.0/$metadata#")


def test_context_url_reflects_select_and_expand(api: Api) -> None:
    # LEARN/webapi/query/join-tables "Limit columns with $select":
    # $metadata#accounts(name,primarycontactid(fullname),Account_Tasks(subject))
    cid = api.create("contacts", {"firstname": "Susanna", "lastname": "Stubberod"})
    aid = api.create("accounts", {"name": "Litware", "primarycontactid@odata.bind": f"/contacts({cid})"})
    api.create("tasks", {"subject": "Task 1", "regardingobjectid_account_task@odata.bind": f"/accounts({aid})"})
    r = api.get("accounts?$select=name&$expand=primarycontactid($select=fullname),Account_Tasks($select=subject)")
    body = r.json()
    assert body["@odata.context"].endswith(
        "$metadata#accounts(name,primarycontactid(fullname),Account_Tasks(subject))"
    ), body["@odata.context"]
    assert body["value"][0]["primarycontactid"]["fullname"] == "Susanna Stubberod"
    one = api.get(f"accounts({aid})?$select=name&$expand=primarycontactid($select=fullname)").json()
    assert one["@odata.context"].endswith("$metadata#accounts(name,primarycontactid(fullname))/$entity")
    # LEARN/webapi/create-entity-web-api "Associate table rows on create": the create answer's context also lists
    # the expanded selection.
    r = api.post(
        "accounts?$select=name&$expand=primarycontactid($select=fullname)",
        json={"name": "Sample Account", "primarycontactid@odata.bind": f"/contacts({cid})"},
        headers={"Prefer": "return=representation"},
    )
    assert r.status_code == 201
    assert r.json()["@odata.context"].endswith("$metadata#accounts(name,primarycontactid(fullname))/$entity")


def test_upsert_with_representation_context_lists_the_selection(api: Api) -> None:
    # LEARN/use-upsert-insert-update-record "Create with upsert and return=representation preference":
    # 201, context $metadata#example_records(example_recordid)/$entity; the update answers 200.
    r = api.patch(
        "accounts(accountnumber='UP-REP')?$select=accountid",
        json={"name": "3:3"},
        headers={"Prefer": "return=representation"},
    )
    assert r.status_code == 201
    assert r.json()["@odata.context"].endswith("$metadata#accounts(accountid)/$entity")
    r = api.patch(
        "accounts(accountnumber='UP-REP')?$select=accountid",
        json={"name": "3:3 Updated"},
        headers={"Prefer": "return=representation"},
    )
    assert r.status_code == 200


def test_json_answers_declare_odata_streaming(api: Api) -> None:
    # LEARN/webapi/execute-batch-operations-using-web-api: GET parts answer
    # "Content-Type: application/json; odata.metadata=minimal; odata.streaming=true"; top-level answers the same.
    r = api.get("accounts?$select=name")
    params = [p.strip() for p in r.headers["Content-Type"].split(";")]
    assert params[0] == "application/json" and "odata.metadata=minimal" in params and "odata.streaming=true" in params


def test_batch_parts_carry_odata_version(api: Api) -> None:
    # LEARN/webapi/execute-batch-operations-using-web-api (response example): each part's HTTP response has
    # "OData-Version: 4.0", like a top-level response.
    boundary = "batch_AAA123"
    body = (
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        f"GET {api.base}accounts?$select=name HTTP/1.1\r\nAccept: application/json\r\n\r\n"
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        f"POST {api.base}tasks HTTP/1.1\r\nContent-Type: application/json;type=entry\r\n\r\n"
        '{"subject":"Task 1 in batch"}\r\n'
        f"--{boundary}--\r\n"
    )
    r = api.post("$batch", data=body.encode(), headers={"Content-Type": f"multipart/mixed; boundary={boundary}"})
    assert r.status_code == 200, r.text
    parts = re.split(r"--batchresponse_[0-9a-f-]+", r.text)[1:-1]
    assert len(parts) == 2
    for part in parts:
        http = part.split("\r\n\r\n", 1)[1]
        assert "\r\nOData-Version: 4.0\r\n" in http, http
    assert "odata.streaming=true" in parts[0]


def test_count_annotations_past_five_thousand(api: Api) -> None:
    # LEARN/webapi/query/count-rows: $count=true counts up to 5,000; with the totalrecordcount annotations over
    # 5,000 rows: "@odata.count": 5000, totalrecordcount 5000, totalrecordcountlimitexceeded true.
    for start in range(0, 5001, 1000):
        targets = [
            {"@odata.type": "Microsoft.Dynamics.CRM.task", "subject": f"T{i}"}
            for i in range(start, min(start + 1000, 5001))
        ]
        assert api.post("tasks/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets}).status_code == 200
    prefer = (
        'odata.include-annotations="Microsoft.Dynamics.CRM.totalrecordcount,'
        'Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"'
    )
    body = api.get("tasks?$select=subject&$count=true&$top=1", headers={"Prefer": prefer}).json()
    assert body["@odata.count"] == 5000
    assert body["@Microsoft.Dynamics.CRM.totalrecordcount"] == 5000
    assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is True
    # LEARN/webapi/query/count-rows: RetrieveTotalRecordCount answers beyond 5,000.
    r = api.get("RetrieveTotalRecordCount(EntityNames=@p1)?@p1=['task','account']")
    assert r.status_code == 200, r.text
    counts = r.json()["EntityRecordCountCollection"]
    assert dict(zip(counts["Keys"], counts["Values"], strict=True)) == {"task": 5001, "account": 0}


def test_include_annotations_wildcards(api: Api) -> None:
    # LEARN/webapi/compose-http-requests-handle-errors (Prefer headers): "*" returns all annotations, and a list may
    # use a trailing "*" wildcard, e.g. "Microsoft.Dynamics.CRM.*".
    cid = api.create("contacts", {"firstname": "Ada", "lastname": "Lovelace"})
    aid = api.create(
        "accounts", {"name": "A", "accountcategorycode": 1, "primarycontactid@odata.bind": f"/contacts({cid})"}
    )
    url = f"accounts({aid})?$select=accountcategorycode,_primarycontactid_value"
    crm = api.get(url, headers={"Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.*"'}).json()
    assert crm["_primarycontactid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "contact"
    assert crm["_primarycontactid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"] == "primarycontactid"
    assert not any(k.endswith("FormattedValue") for k in crm)
    fmt = api.get(url, headers={"Prefer": 'odata.include-annotations="OData.Community.Display.V1.*"'}).json()
    assert fmt["accountcategorycode@OData.Community.Display.V1.FormattedValue"] == "Preferred Customer"
    assert not any("lookuplogicalname" in k for k in fmt)
    every = api.get(url, headers={"Prefer": 'odata.include-annotations="*"'}).json()
    assert {"_primarycontactid_value@Microsoft.Dynamics.CRM.lookuplogicalname"} <= set(every)
    assert "accountcategorycode@OData.Community.Display.V1.FormattedValue" in every
    page = api.get("accounts?$select=name", headers={"Prefer": 'odata.include-annotations="*"'}).json()
    # LEARN/webapi/query/count-rows: without $count the total count annotation reads -1.
    assert page["@Microsoft.Dynamics.CRM.totalrecordcount"] == -1
    assert page["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is False


def test_schema_names_in_documented_casing(api: Api) -> None:
    # LEARN/reference/entities/account: table SchemaName "Account"; columns AccountNumber, EMailAddress1,
    # Address1_City, PrimaryContactId; LEARN/reference/entities/contact: "Contact", FirstName.
    table = api.get("EntityDefinitions(LogicalName='account')?$select=SchemaName,LogicalName").json()
    assert table["SchemaName"] == "Account" and table["LogicalName"] == "account"
    attrs = api.get("EntityDefinitions(LogicalName='account')/Attributes?$select=LogicalName,SchemaName").json()
    names = {a["LogicalName"]: a["SchemaName"] for a in attrs["value"]}
    assert names["accountnumber"] == "AccountNumber"
    assert names["emailaddress1"] == "EMailAddress1"
    assert names["address1_city"] == "Address1_City"
    assert names["primarycontactid"] == "PrimaryContactId"
    assert names["statecode"] == "StateCode" and names["createdon"] == "CreatedOn"
    contact = api.get("EntityDefinitions(LogicalName='contact')?$select=SchemaName").json()
    assert contact["SchemaName"] == "Contact"
    su = api.get("EntityDefinitions(LogicalName='systemuser')?$select=SchemaName").json()
    assert su["SchemaName"] == "SystemUser"  # LEARN/reference/entities/systemuser


def test_metadata_document_declares_operations_types_and_capabilities(api: Api) -> None:
    # LEARN/webapi/web-api-service-documents: $metadata "describes all the tables and operations", namespace
    # Microsoft.Dynamics.CRM alias mscrm; LEARN/webapi/web-api-functions: WhoAmI returns WhoAmIResponse with
    # BusinessUnitId, UserId, OrganizationId; LEARN/webapi/web-api-actions: CreateMultiple is bound to an entity set.
    r = api.get("$metadata", headers={"Accept": "application/xml"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/xml")
    model = parse(r.content)
    model.check()  # every referenced type is declared, every entity type has a key, imports name operations
    assert model.namespaces["mscrm"] == "Microsoft.Dynamics.CRM"
    assert model.container.name == "System"
    account = model.entity_type("mscrm.account")
    assert account.key == ["accountid"] and "_primarycontactid_value" in account.properties
    assert account.navigation["primarycontactid"].type == "mscrm.contact"
    assert model.container.entity_sets["accounts"][0] == "Microsoft.Dynamics.CRM.account"
    who = model.operations["Microsoft.Dynamics.CRM.WhoAmI"][0]
    assert who.kind == "Function" and not who.bound
    response = model.resolve(who.returns or "")
    assert response is not None and set(response.properties) == {"BusinessUnitId", "UserId", "OrganizationId"}
    assert model.container.imports["WhoAmI"] == ("FunctionImport", "Microsoft.Dynamics.CRM.WhoAmI")
    create_multiple = model.operations["Microsoft.Dynamics.CRM.CreateMultiple"][0]
    assert create_multiple.kind == "Action" and create_multiple.bound
    assert create_multiple.parameters[0].type == "Collection(mscrm.crmbaseentity)"
    assert "BulkDelete" in model.container.imports and "RetrieveTotalRecordCount" in model.container.imports
    # Capability annotation: every entity set supports change tracking (Prefer: odata.track-changes).
    assert "Org.OData.Capabilities.V1.ChangeTracking" in model.container.entity_sets["incidents"][1]
    # LEARN/webapi/web-api-properties: with ?annotations=true, read-only properties carry Core.Computed and
    # Core.Permissions Read.
    annotated = parse(api.get("$metadata?annotations=true").content)
    createdon = annotated.entity_type("mscrm.account").properties["createdon"]
    assert createdon.annotations["Org.OData.Core.V1.Computed"] == "true"
    assert createdon.annotations["Org.OData.Core.V1.Permissions"] == "Org.OData.Core.V1.Permission/Read"
    assert "Org.OData.Core.V1.Computed" not in annotated.entity_type("mscrm.account").properties["name"].annotations


def test_csdl_parser_rejects_what_is_not_csdl() -> None:
    # The parser must be able to fail: an undeclared type reference and a non-CSDL root are refused.
    import pytest
    from csdl_parser import CsdlError

    bad = (
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>'
        '<Schema Namespace="N" Alias="n" xmlns="http://docs.oasis-open.org/odata/ns/edm">'
        '<EntityType Name="a"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Guid"/>'
        '<NavigationProperty Name="b" Type="n.missing"/></EntityType></Schema></edmx:DataServices></edmx:Edmx>'
    )
    with pytest.raises(CsdlError, match="not declared"):
        parse(bad).check()
    with pytest.raises(CsdlError, match="edmx:Edmx"):
        parse("<root/>")
