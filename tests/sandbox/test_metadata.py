"""The metadata API: read EntityDefinitions/Attributes/Keys and create custom tables, columns and alternate keys.

Sources (learn.microsoft.com/power-apps/developer/data-platform/...): QMETA webapi/query-metadata-web-api;
METANAME webapi/retrieve-metadata-name-metadataid; ALTKEY-DEF define-alternate-keys-entity;
CREATE-MD webapi/create-update-entity-definitions-using-web-api; CT use-change-tracking-...
"""

from __future__ import annotations

from typing import Any

from sandbox_support import Api, error_of


def _label(text: str) -> dict[str, Any]:
    return {
        "@odata.type": "Microsoft.Dynamics.CRM.Label",
        "LocalizedLabels": [
            {"@odata.type": "Microsoft.Dynamics.CRM.LocalizedLabel", "Label": text, "LanguageCode": 1033}
        ],
    }


def test_entity_definitions_select_filter(api: Api) -> None:
    # QMETA: GET EntityDefinitions(LogicalName='account')?$select=DisplayName,EntitySetName (MetadataId always returned)
    r = api.get("EntityDefinitions(LogicalName='account')?$select=DisplayName,EntitySetName")
    body = r.json()
    assert r.status_code == 200
    assert set(body) - {"@odata.context"} == {"DisplayName", "EntitySetName", "MetadataId"}
    assert body["EntitySetName"] == "accounts"
    # The SDK's lookup: $select=LogicalName,EntitySetName,PrimaryIdAttribute&$filter=LogicalName eq 'incident'
    r = api.get(
        "EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute&$filter=LogicalName eq 'incident'"
    )
    assert r.json()["value"] == [
        {
            "LogicalName": "incident",
            "EntitySetName": "incidents",
            "PrimaryIdAttribute": "incidentid",
            "MetadataId": r.json()["value"][0]["MetadataId"],
        }
    ]
    # CT: GET EntityDefinitions?$select=SchemaName&$filter=ChangeTrackingEnabled eq true
    names = {
        e["SchemaName"]
        for e in api.get("EntityDefinitions?$select=SchemaName&$filter=ChangeTrackingEnabled eq true").json()["value"]
    }
    assert {"account", "contact", "incident", "email"} <= {n.lower() for n in names}
    # QMETA: enum filter with namespace: OwnershipType eq Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'
    owned = api.get(
        "EntityDefinitions?$select=LogicalName&$filter=OwnershipType eq Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'"
    ).json()["value"]
    assert "account" in {e["LogicalName"] for e in owned}
    # QMETA: complex property filter CanCreateAttributes/Value eq true
    assert api.get("EntityDefinitions?$select=LogicalName&$filter=CanCreateAttributes/Value eq true").json()["value"]
    # not found by name
    assert api.get("EntityDefinitions(LogicalName='nosuchtable')").status_code == 404


def test_expand_attributes_and_keys(api: Api) -> None:
    # ALTKEY-DEF: GET EntityDefinitions?$select=SchemaName&$expand=Keys($select=KeyAttributes)
    r = api.get("EntityDefinitions(LogicalName='account')?$select=SchemaName&$expand=Keys($select=KeyAttributes)")
    keys = r.json()["Keys"]
    assert {"KeyAttributes": ["accountnumber"], "MetadataId": keys[0]["MetadataId"]} in keys
    # QMETA: $expand=Attributes($select=LogicalName) exposes base AttributeMetadata
    r = api.get(
        "EntityDefinitions(LogicalName='task')?$select=LogicalName&$expand=Attributes($select=LogicalName,AttributeType)"
    )
    attrs = {a["LogicalName"]: a["AttributeType"] for a in r.json()["Attributes"]}
    assert attrs["subject"] == "String" and attrs["regardingobjectid"] == "Lookup" and attrs["statecode"] == "State"
    # METANAME: EntityDefinitions(LogicalName='account')/Attributes(LogicalName='emailaddress1')
    a = api.get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='emailaddress1')").json()
    assert a["LogicalName"] == "emailaddress1" and a["@odata.type"] == "#Microsoft.Dynamics.CRM.StringAttributeMetadata"
    assert a["MaxLength"] == 100
    # QMETA: RequiredLevel/Value eq Microsoft.Dynamics.CRM.AttributeRequiredLevel'ApplicationRequired'
    req = api.get(
        "EntityDefinitions(LogicalName='account')/Attributes?$select=LogicalName"
        "&$filter=RequiredLevel/Value eq Microsoft.Dynamics.CRM.AttributeRequiredLevel'ApplicationRequired'"
    ).json()["value"]
    assert [x["LogicalName"] for x in req] == ["name"]


def test_picklist_cast_with_option_set(api: Api) -> None:
    # METANAME: .../Attributes(LogicalName='accountcategorycode')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata
    #   ?$select=LogicalName&$expand=OptionSet($select=Options),GlobalOptionSet($select=Options)
    r = api.get(
        "EntityDefinitions(LogicalName='account')/Attributes(LogicalName='accountcategorycode')"
        "/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName"
        "&$expand=OptionSet($select=Options),GlobalOptionSet($select=Options)"
    )
    assert r.status_code == 200, r.text
    body = r.json()
    options = {o["Value"]: o["Label"]["LocalizedLabels"][0]["Label"] for o in body["OptionSet"]["Options"]}
    assert options == {1: "Preferred Customer", 2: "Standard"}
    assert body["OptionSet"]["Options"][0]["Label"]["UserLocalizedLabel"]["Label"] == "Preferred Customer"
    # The collection-level cast the official SDK uses: every picklist on the table
    r = api.get(
        "EntityDefinitions(LogicalName='incident')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
        "?$select=LogicalName&$expand=OptionSet($select=Options)"
    )
    names = {a["LogicalName"] for a in r.json()["value"]}
    assert {"caseorigincode", "casetypecode", "prioritycode"} <= names and "statecode" not in names
    # Status options carry their State
    st = api.get(
        "EntityDefinitions(LogicalName='incident')/Attributes(LogicalName='statuscode')"
        "/Microsoft.Dynamics.CRM.StatusAttributeMetadata?$select=LogicalName&$expand=OptionSet"
    ).json()
    assert {o["Value"]: o["State"] for o in st["OptionSet"]["Options"]}[5] == 1
    # StringAttributeMetadata cast gives MaxLength (pattern documented; exact URL UNCONFIRMED)
    s = api.get(
        "EntityDefinitions(LogicalName='incident')/Attributes/Microsoft.Dynamics.CRM.StringAttributeMetadata"
        "?$select=LogicalName,MaxLength"
    ).json()["value"]
    assert {"LogicalName": "title", "MaxLength": 200} in [{k: x[k] for k in ("LogicalName", "MaxLength")} for x in s]


def test_create_custom_table_column_and_key_then_use_them(api: Api, sandbox: Any) -> None:
    # CREATE-MD: POST EntityDefinitions with a primary name attribute -> 204 + OData-EntityId
    r = api.post(
        "EntityDefinitions",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata",
            "SchemaName": "foi_Request",
            "DisplayName": _label("FOI request"),
            "DisplayCollectionName": _label("FOI requests"),
            "OwnershipType": "UserOwned",
            "HasActivities": True,
            "IsActivity": False,
            "Attributes": [
                {
                    "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
                    "SchemaName": "foi_Name",
                    "IsPrimaryName": True,
                    "MaxLength": 100,
                    "RequiredLevel": {"Value": "None"},
                    "DisplayName": _label("Name"),
                }
            ],
        },
    )
    assert r.status_code == 204, r.text
    assert "EntityDefinitions(" in r.headers["OData-EntityId"]
    md = api.get(
        "EntityDefinitions(LogicalName='foi_request')?$select=EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute"
    ).json()
    assert md["PrimaryIdAttribute"] == "foi_requestid" and md["PrimaryNameAttribute"] == "foi_name"
    entity_set = md["EntitySetName"]
    # CREATE-MD "Create a string column" and "Create a choice column" (POST .../Attributes)
    r = api.post(
        "EntityDefinitions(LogicalName='foi_request')/Attributes",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
            "SchemaName": "foi_Reference",
            "MaxLength": 20,
            "RequiredLevel": {"Value": "ApplicationRequired"},
            "DisplayName": _label("Reference"),
        },
    )
    assert r.status_code == 204, r.text
    r = api.post(
        "EntityDefinitions(LogicalName='foi_request')/Attributes",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
            "SchemaName": "foi_Regime",
            "DisplayName": _label("Regime"),
            "OptionSet": {
                "@odata.type": "Microsoft.Dynamics.CRM.OptionSetMetadata",
                "IsGlobal": False,
                "OptionSetType": "Picklist",
                "Options": [{"Value": 100000000, "Label": _label("FOI")}, {"Value": 100000001, "Label": _label("EIR")}],
            },
        },
    )
    assert r.status_code == 204, r.text
    r = api.post(
        "EntityDefinitions(LogicalName='foi_request')/Attributes",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.DateTimeAttributeMetadata",
            "SchemaName": "foi_Received",
            "Format": "DateOnly",
        },
    )
    assert r.status_code == 204, r.text
    # duplicate column name
    dup = api.post(
        "EntityDefinitions(LogicalName='foi_request')/Attributes",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
            "SchemaName": "foi_Reference",
            "MaxLength": 5,
        },
    )
    assert dup.status_code == 400
    # ALTKEY-DEF: POST EntityDefinitions(LogicalName='foi_request')/Keys {"SchemaName","KeyAttributes"} -> 204
    r = api.post(
        "EntityDefinitions(LogicalName='foi_request')/Keys",
        json={
            "SchemaName": "foi_reference_key",
            "DisplayName": _label("Reference key"),
            "KeyAttributes": ["foi_reference"],
        },
    )
    assert r.status_code == 204, r.text
    key = api.get("EntityDefinitions(LogicalName='foi_request')/Keys").json()["value"][0]
    assert key["KeyAttributes"] == ["foi_reference"] and key["EntityKeyIndexStatus"] == "Active"
    # The new table works for records: upsert by the new key, choice validation, max length, query, CreateMultiple.
    r = api.patch(
        f"{entity_set}(foi_reference='FOI-0001')",
        json={"foi_name": "Bin collections", "foi_regime": 100000000, "foi_received": "2024-04-02"},
    )
    assert r.status_code == 204, r.text
    row = api.get(
        f"{entity_set}(foi_reference='FOI-0001')?$select=foi_name,foi_regime,foi_received,foi_reference",
        headers={"Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'},
    ).json()
    assert row["foi_reference"] == "FOI-0001" and row["foi_received"] == "2024-04-02"
    assert row["foi_regime@OData.Community.Display.V1.FormattedValue"] == "FOI"
    bad = api.post(entity_set, json={"foi_name": "x", "foi_reference": "R-2", "foi_regime": 3})
    assert bad.status_code == 400 and error_of(bad)[0] == "0x8004431a"
    long = api.post(entity_set, json={"foi_name": "x", "foi_reference": "R" * 21})
    assert long.status_code == 400 and error_of(long)[0] == "0x80044331"
    r = api.post(
        f"{entity_set}/Microsoft.Dynamics.CRM.CreateMultiple",
        json={
            "Targets": [
                {"foi_name": f"n{i}", "foi_reference": f"B-{i}", "@odata.type": "Microsoft.Dynamics.CRM.foi_request"}
                for i in range(3)
            ]
        },
    )
    assert r.status_code == 200 and len(r.json()["Ids"]) == 3
    assert api.get(f"{entity_set}/$count").text == "4"
    assert {"name": entity_set, "kind": "EntitySet", "url": entity_set} in api.get("").json()["value"]


def test_custom_lookup_via_relationship(api: Api) -> None:
    # CREATE-MD "Create a one-to-many relationship": POST RelationshipDefinitions with a LookupAttributeMetadata
    api.post(
        "EntityDefinitions",
        json={
            "SchemaName": "foi_Review",
            "OwnershipType": "UserOwned",
            "Attributes": [
                {
                    "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
                    "SchemaName": "foi_Name",
                    "IsPrimaryName": True,
                    "MaxLength": 100,
                }
            ],
        },
    ).raise_for_status()
    r = api.post(
        "RelationshipDefinitions",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata",
            "SchemaName": "foi_incident_foi_review",
            "ReferencedEntity": "incident",
            "ReferencingEntity": "foi_review",
            "ReferencedEntityNavigationPropertyName": "foi_incident_foi_review",
            "ReferencingEntityNavigationPropertyName": "foi_CaseId",
            "Lookup": {"AttributeType": "Lookup", "SchemaName": "foi_CaseId", "DisplayName": _label("Case")},
        },
    )
    assert r.status_code == 204, r.text
    aid = api.create("accounts", {"name": "A"})
    inc = api.create("incidents", {"title": "Case", "customerid_account@odata.bind": f"/accounts({aid})"})
    es = api.get("EntityDefinitions(LogicalName='foi_review')?$select=EntitySetName").json()["EntitySetName"]
    rid = api.create(es, {"foi_name": "Internal review", "foi_CaseId@odata.bind": f"/incidents({inc})"})
    assert api.get(f"{es}({rid})?$select=_foi_caseid_value").json()["_foi_caseid_value"] == inc
    assert [x["foi_reviewid"] for x in api.get(f"incidents({inc})/foi_incident_foi_review").json()["value"]] == [rid]


def test_key_over_duplicate_data_fails(api: Api) -> None:
    # ALTKEY-DEF: the key index is built asynchronously; duplicates make EntityKeyIndexStatus Failed.
    api.create("contacts", {"lastname": "Same", "jobtitle": "Officer"})
    api.create("contacts", {"lastname": "Same", "jobtitle": "Officer"})
    r = api.post(
        "EntityDefinitions(LogicalName='contact')/Keys",
        json={"SchemaName": "contact_jobtitle_key", "KeyAttributes": ["jobtitle"]},
    )
    assert r.status_code == 204
    keys = {
        k["SchemaName"]: k["EntityKeyIndexStatus"]
        for k in api.get("EntityDefinitions(LogicalName='contact')/Keys").json()["value"]
    }
    assert keys["contact_jobtitle_key"] == "Failed"
    r = api.get("contacts(jobtitle='Officer')")
    assert r.status_code == 400


def test_relationship_metadata_names_both_navigation_properties(api: Api) -> None:
    # QMETA: $expand=ManyToOneRelationships gives ReferencingEntityNavigationPropertyName (the @odata.bind name)
    # and ReferencedEntityNavigationPropertyName (the collection on the other side).
    body = api.get("EntityDefinitions(LogicalName='email')?$select=LogicalName&$expand=ManyToOneRelationships").json()
    rel = next(r for r in body["ManyToOneRelationships"] if r["SchemaName"] == "Incident_Emails")
    assert rel["ReferencingEntityNavigationPropertyName"] == "regardingobjectid_incident_email"
    assert rel["ReferencedEntityNavigationPropertyName"] == "Incident_Emails"
    assert (rel["ReferencedEntity"], rel["ReferencedAttribute"], rel["ReferencingAttribute"]) == (
        "incident",
        "incidentid",
        "regardingobjectid",
    )
    one_to_many = api.get("EntityDefinitions(LogicalName='incident')/OneToManyRelationships").json()["value"]
    back = next(r for r in one_to_many if r["SchemaName"] == "Incident_Emails")
    assert back["ReferencingEntityNavigationPropertyName"] == "regardingobjectid_incident_email"


def _options(api: Api, table: str, column: str, cast: str) -> dict[int, tuple[str, Any]]:
    body = api.get(
        f"EntityDefinitions(LogicalName='{table}')/Attributes(LogicalName='{column}')"
        f"/Microsoft.Dynamics.CRM.{cast}?$select=LogicalName&$expand=OptionSet"
    ).json()
    return {
        o["Value"]: (o["Label"]["LocalizedLabels"][0]["Label"], o.get("State")) for o in body["OptionSet"]["Options"]
    }


def test_seeded_state_and_status_choices_match_the_entity_references(api: Api) -> None:
    # Entity reference pages (learn.microsoft.com/power-apps/developer/data-platform/reference/entities/<table>):
    # statecode/statuscode choices and which status belongs to which state.
    assert _options(api, "incident", "statecode", "StateAttributeMetadata") == {
        0: ("Active", None),
        1: ("Resolved", None),
        2: ("Canceled", None),
    }
    incident_status = _options(api, "incident", "statuscode", "StatusAttributeMetadata")
    assert {v: s for v, (_, s) in incident_status.items()} == {1: 0, 2: 0, 3: 0, 4: 0, 5: 1, 1000: 1, 6: 2, 2000: 2}
    assert set(_options(api, "task", "statecode", "StateAttributeMetadata")) == {0, 1, 2}
    email_status = _options(api, "email", "statuscode", "StatusAttributeMetadata")
    assert email_status[1] == ("Draft", 0) and email_status[3] == ("Sent", 1) and email_status[5] == ("Canceled", 2)
    assert _options(api, "activityparty", "participationtypemask", "PicklistAttributeMetadata")[2][0] == "To Recipient"
