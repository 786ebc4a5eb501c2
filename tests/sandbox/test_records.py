"""Record operations, each built from a Microsoft Learn request/response example.

Sources (Learn, power-apps/developer/data-platform/...):
  CREATE  webapi/create-entity-web-api          UPDATE  webapi/update-delete-entities-using-web-api
  UPSERT  use-upsert-insert-update-record       COND    webapi/perform-conditional-operations-using-web-api
  ALTKEY  use-alternate-key-reference-record    ASSOC   webapi/associate-disassociate-entities-using-web-api
  RETR    webapi/retrieve-entity-using-web-api  ERR-WEB troubleshoot/.../dataverse/web-api-client-errors
"""

from __future__ import annotations

import uuid
from typing import Any

from sandbox_support import Api, error_of

# CREATE "Basic create" example body.
SAMPLE_ACCOUNT = {
    "name": "Sample Account",
    "creditonhold": False,
    "address1_latitude": 47.639583,
    "description": "This is the description of the sample account",
    "revenue": 5000000,
    "accountcategorycode": 1,
}


def test_create_answers_204_with_odata_entityid(api: Api, sandbox: Any) -> None:
    # CREATE: POST accounts -> HTTP/1.1 204 No Content, OData-EntityId: [Org URI]/api/data/v9.2/accounts(<guid>)
    r = api.post("accounts", json=SAMPLE_ACCOUNT)
    assert r.status_code == 204
    assert r.content == b""
    entity_id = r.headers["OData-EntityId"]
    assert entity_id.startswith(sandbox.api_url + "accounts(")
    rid = entity_id.rsplit("(", 1)[1].rstrip(")")
    assert uuid.UUID(rid)
    row = api.get(f"accounts({rid})?$select=name,revenue,creditonhold").json()
    assert row["name"] == "Sample Account" and row["revenue"] == 5000000 and row["creditonhold"] is False


def test_create_with_return_representation_answers_201(api: Api) -> None:
    # CREATE "Create with data returned": Prefer: return=representation and $select -> 201 Created,
    # Preference-Applied: return=representation, body with @odata.context .../$metadata#accounts/$entity and @odata.etag.
    r = api.post(
        "accounts?$select=name,creditonhold,address1_latitude,description,revenue,accountcategorycode,createdon",
        json=SAMPLE_ACCOUNT,
        headers={"Prefer": "return=representation"},
    )
    assert r.status_code == 201
    assert r.headers["Preference-Applied"] == "return=representation"
    assert "OData-EntityId" not in r.headers  # documented: not returned with return=representation
    body = r.json()
    assert body["@odata.context"].endswith("$metadata#accounts/$entity")
    assert body["@odata.etag"].startswith('W/"')
    assert body["name"] == "Sample Account" and body["accountcategorycode"] == 1
    assert uuid.UUID(body["accountid"])
    assert "telephone1" not in body  # only the selected columns (plus the key)


def test_deep_insert_creates_related_rows(api: Api) -> None:
    # CREATE "Create related table rows in one operation": a single-valued nav with an object and a collection nav
    # with an array create the related rows and link them.
    r = api.post(
        "accounts",
        json={
            "name": "Sample Account",
            "primarycontactid": {"firstname": "John", "lastname": "Smith"},
            "Account_Tasks": [{"subject": "Task associated to the new account"}],
        },
    )
    assert r.status_code == 204
    rid = r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    acc = api.get(f"accounts({rid})?$select=name&$expand=primarycontactid($select=fullname)").json()
    assert acc["primarycontactid"]["fullname"] == "John Smith"
    tasks = api.get(f"accounts({rid})/Account_Tasks?$select=subject").json()["value"]
    assert [t["subject"] for t in tasks] == ["Task associated to the new account"]


def test_retrieve_select_expand_and_single_property(api: Api) -> None:
    # RETR: GET accounts(<id>)?$select=name,revenue&$expand=primarycontactid($select=contactid,fullname)
    cid = api.create("contacts", {"firstname": "Yvonne", "lastname": "McKay"})
    aid = api.create(
        "accounts",
        {"name": "Adventure Works (sample)", "revenue": 1000, "primarycontactid@odata.bind": f"/contacts({cid})"},
    )
    r = api.get(f"accounts({aid})?$select=name,revenue&$expand=primarycontactid($select=contactid,fullname)")
    assert r.status_code == 200
    body = r.json()
    assert body["@odata.context"].endswith(
        "$metadata#accounts(name,revenue,primarycontactid(contactid,fullname))/$entity"
    ) or body["@odata.context"].endswith("/$entity")
    assert body["primarycontactid"] == {
        "@odata.etag": body["primarycontactid"]["@odata.etag"],
        "contactid": cid,
        "fullname": "Yvonne McKay",
    }
    assert r.headers["ETag"] == body["@odata.etag"]
    # RETR "Retrieve a single property value": GET accounts(<id>)/name -> {"@odata.context":...,"value":"..."}
    prop = api.get(f"accounts({aid})/name").json()
    assert prop["value"] == "Adventure Works (sample)"
    assert prop["@odata.context"].endswith(f"$metadata#accounts({aid})/name")
    # ... and the raw value: GET accounts(<id>)/name/$value -> text/plain
    raw = api.get(f"accounts({aid})/name/$value")
    assert raw.status_code == 200 and raw.text == "Adventure Works (sample)"
    assert raw.headers["Content-Type"].startswith("text/plain")


def test_update_patch_put_property_and_delete_property(api: Api) -> None:
    aid = api.create("accounts", SAMPLE_ACCOUNT)
    # UPDATE "Basic update": PATCH accounts(<id>) -> 204
    r = api.patch(f"accounts({aid})", json={"name": "Updated Sample Account", "creditonhold": True, "revenue": 6000000})
    assert r.status_code == 204
    # UPDATE "Update with data returned": Prefer: return=representation -> 200 OK with the selected columns
    r = api.patch(
        f"accounts({aid})?$select=name,creditonhold,revenue",
        json={"accountcategorycode": 2},
        headers={"Prefer": "return=representation"},
    )
    assert r.status_code == 200
    assert r.headers["Preference-Applied"] == "return=representation"
    assert r.json()["name"] == "Updated Sample Account" and r.json()["revenue"] == 6000000
    # UPDATE "Update a single property value": PUT accounts(<id>)/name {"value": "..."} -> 204
    assert api.put(f"accounts({aid})/name", json={"value": "Updated Sample Account Name"}).status_code == 204
    # UPDATE "Delete a single property value": DELETE accounts(<id>)/description -> 204
    assert api.delete(f"accounts({aid})/description").status_code == 204
    row = api.get(f"accounts({aid})?$select=name,description").json()
    assert row["name"] == "Updated Sample Account Name" and row["description"] is None
    # UPDATE "Basic delete": DELETE accounts(<id>) -> 204; then the record is gone (404)
    assert api.delete(f"accounts({aid})").status_code == 204
    gone = api.get(f"accounts({aid})")
    assert gone.status_code == 404
    _code, message = error_of(gone)
    assert message == f"account With Id = {aid} Does Not Exist"
    assert api.delete(f"accounts({aid})").status_code == 404


def test_upsert_creates_then_updates_by_id(api: Api) -> None:
    # UPSERT: PATCH to a record URL creates when missing (204), updates when present (204); with
    # return=representation, 201 for created and 200 for updated.
    rid = str(uuid.uuid4())
    r = api.patch(f"accounts({rid})", json={"name": "Created by upsert"})
    assert r.status_code == 204 and r.headers["OData-EntityId"].endswith(f"accounts({rid})")
    r = api.patch(f"accounts({rid})", json={"name": "Updated by upsert"})
    assert r.status_code == 204
    assert api.get(f"accounts({rid})?$select=name").json()["name"] == "Updated by upsert"
    rid2 = str(uuid.uuid4())
    r = api.patch(
        f"accounts({rid2})?$select=accountid", json={"name": "x"}, headers={"Prefer": "return=representation"}
    )
    assert r.status_code == 201
    r = api.patch(
        f"accounts({rid2})?$select=accountid", json={"name": "y"}, headers={"Prefer": "return=representation"}
    )
    assert r.status_code == 200 and r.json()["accountid"] == rid2


def test_upsert_by_alternate_key_and_key_columns(api: Api, sandbox: Any) -> None:
    # UPSERT + ALTKEY: PATCH accounts(accountnumber='ABC123') creates a record carrying the key value, then updates it.
    # Learn "Use Upsert to Create or Update a record" (Web API sample code): the OData-EntityId of an upsert by
    # alternate key is the key form of the URL, identical for the create and the update.
    r = api.patch("accounts(accountnumber='ABC123')", json={"name": "Contoso"})
    assert r.status_code == 204
    assert r.headers["OData-EntityId"] == api.base + "accounts(accountnumber='ABC123')"
    row = api.get("accounts(accountnumber='ABC123')?$select=name,accountnumber").json()
    assert row["accountnumber"] == "ABC123" and row["name"] == "Contoso"
    r = api.patch("accounts(accountnumber='ABC123')", json={"name": "Contoso Ltd"})
    assert r.status_code == 204 and r.headers["OData-EntityId"] == api.base + "accounts(accountnumber='ABC123')"
    assert len([x for x in sandbox.rows("account") if x.get("accountnumber") == "ABC123"]) == 1
    assert api.get("accounts(accountnumber='ABC123')?$select=name").json()["name"] == "Contoso Ltd"


def test_alternate_key_with_doubled_quote(api: Api) -> None:
    # ALTKEY + FILTER: a quote inside a string literal is doubled (O''Brien). UNCONFIRMED in Microsoft docs for key
    # segments, but standard OData; the sandbox accepts it.
    r = api.patch("accounts(accountnumber='O''BRIEN-1')", json={"name": "O'Brien & Sons"})
    assert r.status_code == 204
    row = api.get("accounts(accountnumber='O''BRIEN-1')?$select=name,accountnumber").json()
    assert row["accountnumber"] == "O'BRIEN-1" and row["name"] == "O'Brien & Sons"
    # a percent-encoded quote is the same URL
    assert api.get("accounts(accountnumber=%27O%27%27BRIEN-1%27)?$select=name").status_code == 200


def test_composite_and_lookup_alternate_keys(api: Api) -> None:
    # ALTKEY: multi-part key contacts(firstname='Joe',emailaddress1='abc@example.com') and a lookup in a key
    # accounts(_primarycontactid_value=<guid>). The keys are defined first through the metadata API (ALTKEY-DEF).
    r = api.post(
        "EntityDefinitions(LogicalName='contact')/Keys",
        json={"SchemaName": "contact_name_email_key", "KeyAttributes": ["firstname", "emailaddress1"]},
    )
    assert r.status_code == 204, r.text
    r = api.patch("contacts(firstname='Joe',emailaddress1='abc@example.com')", json={"lastname": "Bloggs"})
    assert r.status_code == 204, r.text
    # UPSERT (Learn "Use Upsert to Create or Update a record"): the OData-EntityId keeps the key form.
    assert r.headers["OData-EntityId"].endswith("contacts(firstname='Joe',emailaddress1='abc@example.com')")
    got = api.get("contacts(firstname='Joe',emailaddress1='abc@example.com')?$select=fullname").json()
    cid = got["contactid"]
    assert got["fullname"] == "Joe Bloggs"
    # names and number of key parts must match a declared key
    bad = api.get("contacts(firstname='Joe')")
    assert bad.status_code == 400
    assert "The key in the request URI is not valid for resource 'Microsoft.Dynamics.CRM.contact'" in error_of(bad)[1]
    r = api.post(
        "EntityDefinitions(LogicalName='account')/Keys",
        json={"SchemaName": "account_primarycontact_key", "KeyAttributes": ["primarycontactid"]},
    )
    assert r.status_code == 204, r.text
    aid = api.create("accounts", {"name": "Keyed by contact", "primarycontactid@odata.bind": f"/contacts({cid})"})
    assert api.get(f"accounts(_primarycontactid_value={cid})?$select=name").json()["accountid"] == aid


def test_alternate_key_values_dataverse_cannot_address(api: Api) -> None:
    # ALTKEY-DEF: key values containing / < > * % & : \ ? + do not work for GET/PATCH by that key.
    for value in ("A/1", "A:1", "A%2B1", "A*1"):
        r = api.patch(f"accounts(accountnumber='{value}')", json={"name": "x"})
        assert r.status_code in (400, 404), (value, r.status_code)
        _code, message = error_of(r)
        assert message


def test_if_match_star_prevents_create(api: Api) -> None:
    # COND "Prevent create in upsert": If-Match: * on a missing record -> 404 "account With Id = ... Does Not Exist"
    rid = "00000000-0000-0000-0000-000000000001"
    r = api.patch(f"accounts({rid})", json={"name": "x"}, headers={"If-Match": "*"})
    assert r.status_code == 404
    _code, message = error_of(r)
    assert message == f"account With Id = {rid} Does Not Exist"
    assert api.get(f"accounts({rid})").status_code == 404


def test_if_none_match_star_prevents_update(api: Api) -> None:
    # COND "Prevent update in upsert": If-None-Match: * on an existing record -> 412
    # "A record with matching key values already exists."
    aid = api.create("accounts", {"name": "Original"})
    r = api.patch(f"accounts({aid})", json={"name": "Changed"}, headers={"If-None-Match": "*"})
    assert r.status_code == 412
    assert error_of(r)[1] == "A record with matching key values already exists."
    assert api.get(f"accounts({aid})?$select=name").json()["name"] == "Original"
    # ... and it creates when the record does not exist
    new = str(uuid.uuid4())
    assert api.patch(f"accounts({new})", json={"name": "New"}, headers={"If-None-Match": "*"}).status_code == 204


def test_conditional_get_304_and_optimistic_concurrency_412(api: Api) -> None:
    aid = api.create("accounts", {"name": "Etag account", "revenue": 10})
    first = api.get(f"accounts({aid})?$select=name,revenue,telephone1,description")
    tag = first.json()["@odata.etag"]
    assert tag.startswith('W/"') and first.headers["ETag"] == tag
    # COND "Conditional retrievals": If-None-Match: W/"468026" -> 304 Not Modified when unchanged
    r = api.get(f"accounts({aid})?$select=name,revenue,telephone1,description", headers={"If-None-Match": tag})
    assert r.status_code == 304 and r.content == b""
    # ... never 304 when odata.include-annotations is sent or $expand is used
    r = api.get(
        f"accounts({aid})?$select=name",
        headers={"If-None-Match": tag, "Prefer": 'odata.include-annotations="*"'},
    )
    assert r.status_code == 200
    # COND "Apply optimistic concurrency": PATCH/DELETE with If-Match of the current etag succeeds...
    assert api.patch(f"accounts({aid})", json={"revenue": 11}, headers={"If-Match": tag}).status_code == 204
    r = api.get(f"accounts({aid})?$select=name,revenue,telephone1,description", headers={"If-None-Match": tag})
    assert r.status_code == 200 and r.json()["@odata.etag"] != tag
    # ... and with the stale etag -> 412 "The version of the existing record doesn't match the RowVersion ..."
    for method in ("PATCH", "DELETE"):
        r = api.request(method, f"accounts({aid})", json={"revenue": 12}, headers={"If-Match": tag})
        assert r.status_code == 412
        _code, message = error_of(r)
        assert message == "The version of the existing record doesn't match the RowVersion property provided."
    assert api.get(f"accounts({aid})?$select=revenue").json()["revenue"] == 11


def test_bind_by_id_and_by_alternate_key_and_clear(api: Api) -> None:
    # CREATE "Associate table rows on create": "primarycontactid@odata.bind": "/contacts(<id>)"
    cid = api.create("contacts", {"firstname": "Ann", "lastname": "Other", "emailaddress1": "ann@example.com"})
    parent = api.create("accounts", {"name": "Parent", "accountnumber": "P-1"})
    aid = api.create(
        "accounts",
        {
            "name": "Child",
            "primarycontactid@odata.bind": f"/contacts({cid})",
            # ALTKEY: the alternate-key URL form is valid in @odata.bind (no leading slash also documented [ASSOC])
            "parentaccountid@odata.bind": "accounts(accountnumber='P-1')",
        },
    )
    row = api.get(f"accounts({aid})?$select=_primarycontactid_value,_parentaccountid_value").json()
    assert row["_primarycontactid_value"] == cid and row["_parentaccountid_value"] == parent
    # contact bound by an alternate key (emailaddress1), defined first: contact has no key out of the box
    key = {"SchemaName": "contact_email_key", "KeyAttributes": ["emailaddress1"]}
    assert api.post("EntityDefinitions(LogicalName='contact')/Keys", json=key).status_code == 204
    aid2 = api.create(
        "accounts", {"name": "B", "primarycontactid@odata.bind": "/contacts(emailaddress1='ann@example.com')"}
    )
    assert api.get(f"accounts({aid2})?$select=_primarycontactid_value").json()["_primarycontactid_value"] == cid
    # absolute URL form used inside batches
    aid3 = api.create("accounts", {"name": "C", "primarycontactid@odata.bind": f"{api.base}contacts({cid})"})
    assert api.get(f"accounts({aid3})?$select=_primarycontactid_value").json()["_primarycontactid_value"] == cid
    # ASSOC "Disassociate on update": "parentaccountid@odata.bind": null clears the lookup
    assert api.patch(f"accounts({aid})", json={"parentaccountid@odata.bind": None}).status_code == 204
    assert api.get(f"accounts({aid})?$select=_parentaccountid_value").json()["_parentaccountid_value"] is None
    # a bind to a key that matches nothing
    r = api.post("accounts", json={"name": "D", "parentaccountid@odata.bind": "/accounts(accountnumber='NOPE')"})
    assert r.status_code == 404
    assert "A record with the specified key values does not exist in account entity" in error_of(r)[1]


def test_email_regarding_incident_and_activity_parties(api: Api, sandbox: Any) -> None:
    # INCIDENT-REF: the email -> case regarding nav property is regardingobjectid_incident_email (Incident_Emails).
    cid = api.create("contacts", {"firstname": "Sam", "lastname": "Requester", "emailaddress1": "sam@example.com"})
    inc = api.create("incidents", {"title": "FOI-2024-0001", "customerid_contact@odata.bind": f"/contacts({cid})"})
    who = api.get("WhoAmI").json()
    # Deep insert of email_activity_parties with partyid_*@odata.bind and masks 1 (Sender) / 2 (To) [APTY]
    # (UNCONFIRMED in a Microsoft page, consistent with documented deep insert).
    r = api.post(
        "emails",
        json={
            "subject": "Your request FOI-2024-0001",
            "description": "<p>We have received your request.</p>",
            "regardingobjectid_incident_email@odata.bind": f"/incidents({inc})",
            "email_activity_parties": [
                {"partyid_systemuser@odata.bind": f"/systemusers({who['UserId']})", "participationtypemask": 1},
                {"partyid_contact@odata.bind": f"/contacts({cid})", "participationtypemask": 2},
            ],
        },
    )
    assert r.status_code == 204, r.text
    eid = r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    email = api.get(f"emails({eid})?$select=subject,_regardingobjectid_value").json()
    assert email["_regardingobjectid_value"] == inc
    parties = api.get(f"emails({eid})/email_activity_parties?$select=participationtypemask,_partyid_value").json()
    assert sorted((p["participationtypemask"], p["_partyid_value"]) for p in parties["value"]) == [
        (1, who["UserId"]),
        (2, cid),
    ]
    # The incident sees the email through Incident_Emails.
    assert [e["activityid"] for e in api.get(f"incidents({inc})/Incident_Emails?$select=subject").json()["value"]] == [
        eid
    ]
    # ASSOC: PUT emails(<id>)/email_activity_parties {"value":[...]} replaces the parties (activityparty special case).
    r = api.put(
        f"emails({eid})/email_activity_parties",
        json={"value": [{"partyid_contact@odata.bind": f"contacts({cid})", "participationtypemask": 3}]},
    )
    assert r.status_code == 204
    parties = api.get(f"emails({eid})/email_activity_parties?$select=participationtypemask").json()["value"]
    assert [p["participationtypemask"] for p in parties] == [3]
    # The short form regardingobjectid_incident is not the documented name -> undeclared property 400.
    r = api.post("emails", json={"subject": "x", "regardingobjectid_incident@odata.bind": f"/incidents({inc})"})
    assert r.status_code == 400 and error_of(r)[0] == "0x80048d19"
    # The task form: regardingobjectid_account_task [BATCH example]
    aid = api.create("accounts", {"name": "A"})
    tid = api.create("tasks", {"subject": "Follow up", "regardingobjectid_account_task@odata.bind": f"accounts({aid})"})
    assert api.get(f"tasks({tid})?$select=_regardingobjectid_value").json()["_regardingobjectid_value"] == aid


def test_ref_associate_and_disassociate(api: Api) -> None:
    # ASSOC "Add a reference to a collection-valued navigation property":
    # POST accounts(<id>)/Account_Tasks/$ref {"@odata.id": "[Org URI]/api/data/v9.2/tasks(<id>)"} -> 204
    aid = api.create("accounts", {"name": "Ref account"})
    tid = api.create("tasks", {"subject": "Ref task"})
    r = api.post(f"accounts({aid})/Account_Tasks/$ref", json={"@odata.id": f"{api.base}tasks({tid})"})
    assert r.status_code == 204
    assert [t["activityid"] for t in api.get(f"accounts({aid})/Account_Tasks").json()["value"]] == [tid]
    # "Remove a reference": DELETE accounts(<id>)/Account_Tasks(<taskid>)/$ref -> 204
    assert api.delete(f"accounts({aid})/Account_Tasks({tid})/$ref").status_code == 204
    assert api.get(f"accounts({aid})/Account_Tasks").json()["value"] == []
    # "Change the reference in a single-valued navigation property": PUT accounts(<id>)/primarycontactid/$ref
    cid = api.create("contacts", {"lastname": "Ref"})
    r = api.put(f"accounts({aid})/primarycontactid/$ref", json={"@odata.id": f"{api.base}contacts({cid})"})
    assert r.status_code == 204
    assert api.get(f"accounts({aid})?$select=_primarycontactid_value").json()["_primarycontactid_value"] == cid
    # "Remove a reference to a table row": DELETE accounts(<id>)/primarycontactid/$ref -> 204
    assert api.delete(f"accounts({aid})/primarycontactid/$ref").status_code == 204
    assert api.get(f"accounts({aid})?$select=_primarycontactid_value").json()["_primarycontactid_value"] is None


def test_annotation_regarding_case(api: Api) -> None:
    # ATTACH: notes use objectid_<table> without suffix; documentbody is Base64.
    inc = api.create(
        "incidents",
        {
            "title": "Case with note",
            "customerid_account@odata.bind": f"/accounts({api.create('accounts', {'name': 'A'})})",
        },
    )
    nid = api.create(
        "annotations",
        {
            "subject": "Request letter",
            "filename": "request.txt",
            "mimetype": "text/plain",
            "documentbody": "SGVsbG8=",
            "objectid_incident@odata.bind": f"/incidents({inc})",
        },
    )
    note = api.get(f"annotations({nid})?$select=isdocument,objecttypecode,_objectid_value").json()
    assert note == {**note, "isdocument": True, "objecttypecode": "incident", "_objectid_value": inc}


def test_collection_bind_on_create_and_owner_team(api: Api, sandbox: Any) -> None:
    # CREATE "Associate table rows on create": "Account_Tasks@odata.bind": ["/tasks(<id>)", ...]
    t1 = api.create("tasks", {"subject": "One"})
    t2 = api.create("tasks", {"subject": "Two"})
    aid = api.create("accounts", {"name": "With tasks", "Account_Tasks@odata.bind": [f"/tasks({t1})", f"/tasks({t2})"]})
    tasks = api.get(f"accounts({aid})?$select=name&$expand=Account_Tasks($select=subject)").json()["Account_Tasks"]
    assert sorted(t["subject"] for t in tasks) == ["One", "Two"]
    # Ownership: ownerid defaults to the calling user; assigning to a team binds ownerid to /teams(<id>).
    who = api.get("WhoAmI").json()["UserId"]
    assert api.get(f"accounts({aid})?$select=_ownerid_value").json()["_ownerid_value"] == who
    team = api.get("teams?$select=name&$filter=name eq 'Information Governance'").json()["value"][0]["teamid"]
    assert api.patch(f"accounts({aid})", json={"ownerid@odata.bind": f"/teams({team})"}).status_code == 204
    row = api.get(
        f"accounts({aid})?$select=_ownerid_value",
        headers={"Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"'},
    ).json()
    assert row["_ownerid_value"] == team
    assert row["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "team"
    # create with representation honours $expand
    r = api.post(
        "accounts?$select=name&$expand=Account_Tasks($select=subject)",
        json={"name": "Expanded", "Account_Tasks": [{"subject": "Deep"}]},
        headers={"Prefer": "return=representation"},
    )
    assert r.status_code == 201 and [t["subject"] for t in r.json()["Account_Tasks"]] == ["Deep"]


def test_chunked_request_body(api: Api) -> None:
    # A streaming client sends Transfer-Encoding: chunked instead of Content-Length.
    def body():  # type: ignore[no-untyped-def]
        yield b'{"name": '
        yield b'"Chunked"}'

    r = api.post("accounts", data=body(), headers={"Content-Type": "application/json"})
    assert r.status_code == 204, r.text
    rid = r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    assert api.get(f"accounts({rid})?$select=name").json()["name"] == "Chunked"
