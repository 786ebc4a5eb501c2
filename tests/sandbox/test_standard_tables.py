"""Standard tables every tenant has, currency columns, duplicate detection, global choices and impersonation.

Sources (learn.microsoft.com/power-apps/developer/data-platform/...): REF reference/entities/lead, opportunity,
phonecall, transactioncurrency, account, contact (columns, choices, state/status pairs); CURRENCY
transaction-currency-currency-entities ("the base currency value is the value divided by the exchange rate",
`<column>_base`, transactioncurrencyid, exchangerate); DUP webapi/manage-duplicate-detection-create-update (the
header, the 500 0x80040333 answer, default rules for accounts, contacts and leads) and duplicate-rule-entities
(duplicaterule, duplicaterulecondition, PublishDuplicateRule); OPT webapi/create-update-optionsets (global choices,
InsertOptionValue, GlobalOptionSet@odata.bind); IMP webapi/impersonate-another-user-web-api (MSCRMCallerID);
RPA webapi/reference/retrieveprincipalaccess. Expected values are worked out by hand.
"""

from __future__ import annotations

from typing import Any

from sandbox_support import Api, error_of

FMT = "@OData.Community.Display.V1.FormattedValue"
DUP = {"MSCRM.SuppressDuplicateDetection": "false"}


def test_lead_opportunity_phonecall_exist_with_documented_columns(api: Api) -> None:
    """REF: lead (fullname from first and last name, Open/New), qualifying (statecode 1 -> Qualified),
    an opportunity from the lead, a phone call regarding the opportunity."""
    lead = api.create(
        "leads",
        {"subject": "Interested in FOI training", "firstname": "Monte", "lastname": "Orton", "leadsourcecode": 8},
    )
    row = api.get(
        f"leads({lead})?$select=fullname,statecode,statuscode,leadsourcecode",
        headers={"Prefer": 'odata.include-annotations="*"'},
    ).json()
    assert row["fullname"] == "Monte Orton" and (row["statecode"], row["statuscode"]) == (0, 1)
    assert row["leadsourcecode" + FMT] == "Web" and row["statuscode" + FMT] == "New"
    assert api.patch(f"leads({lead})", json={"statecode": 1, "statuscode": 3}).status_code == 204
    opp = api.create(
        "opportunities",
        {"name": "Training day", "originatingleadid@odata.bind": f"leads({lead})", "closeprobability": 40},
    )
    call = api.create(
        "phonecalls",
        {
            "subject": "Call back",
            "phonenumber": "01632 960001",
            "regardingobjectid_opportunity_phonecall@odata.bind": f"opportunities({opp})",
        },
    )
    pc = api.get(f"phonecalls({call})?$select=subject,_regardingobjectid_value,statuscode,activitytypecode").json()
    assert pc["_regardingobjectid_value"] == opp and pc["statuscode"] == 1 and pc["activitytypecode"] == "phonecall"
    assert (
        api.patch(f"opportunities({opp})", json={"statecode": 1, "statuscode": 5}).status_code == 400
    )  # Out-Sold is Lost
    names = {t["LogicalName"] for t in api.get("EntityDefinitions?$select=LogicalName").json()["value"]}
    assert {
        "lead",
        "opportunity",
        "phonecall",
        "transactioncurrency",
        "duplicaterule",
        "duplicaterulecondition",
    } <= names


def test_standard_account_and_contact_columns(api: Api) -> None:
    """REF: account Fax, Telephone2, Address1_StateOrProvince; contact MobilePhone, Fax, GenderCode."""
    acc = api.create(
        "accounts",
        {
            "name": "Fax Ltd",
            "fax": "01632 960002",
            "telephone2": "01632 960003",
            "address1_stateorprovince": "Yorkshire",
        },
    )
    got = api.get(f"accounts({acc})?$select=fax,telephone2,address1_stateorprovince").json()
    assert (got["fax"], got["telephone2"], got["address1_stateorprovince"]) == (
        "01632 960002",
        "01632 960003",
        "Yorkshire",
    )
    con = api.create("contacts", {"lastname": "Mobile", "mobilephone": "07700 900001", "fax": "x", "gendercode": 2})
    assert api.get(f"contacts({con})?$select=mobilephone,gendercode").json()["gendercode"] == 2
    attrs = api.get(
        "EntityDefinitions(LogicalName='account')/Attributes(LogicalName='fax')?$select=SchemaName,MaxLength"
    )
    assert attrs.json()["SchemaName"] == "Fax"
    mobile = api.get(
        "EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='mobilephone')?$select=SchemaName"
    )
    assert mobile.json()["SchemaName"] == "MobilePhone"


def test_money_columns_carry_base_currency_values(api: Api) -> None:
    """CURRENCY: a row with money gets the base currency and rate 1; in another currency `_base` = value / rate."""
    base = api.get("transactioncurrencies?$select=isocurrencycode,exchangerate,currencyname").json()["value"]
    assert [(c["isocurrencycode"], c["exchangerate"]) for c in base] == [("GBP", 1.0)]
    opp = api.create("opportunities", {"name": "In pounds", "estimatedvalue": 1000})
    row = api.get(
        f"opportunities({opp})?$select=estimatedvalue,estimatedvalue_base,exchangerate,_transactioncurrencyid_value"
    ).json()
    assert (row["estimatedvalue"], row["estimatedvalue_base"], row["exchangerate"]) == (1000, 1000, 1.0)
    assert row["_transactioncurrencyid_value"] == base[0]["transactioncurrencyid"]
    usd = api.create(
        "transactioncurrencies",
        {
            "currencyname": "US Dollar",
            "isocurrencycode": "USD",
            "currencysymbol": "$",
            "exchangerate": 1.25,
            "currencyprecision": 2,
        },
    )
    opp2 = api.create(
        "opportunities",
        {
            "name": "In dollars",
            "estimatedvalue": 100,
            "transactioncurrencyid@odata.bind": f"transactioncurrencies({usd})",
        },
    )
    row2 = api.get(f"opportunities({opp2})?$select=estimatedvalue_base,exchangerate").json()
    assert (row2["estimatedvalue_base"], row2["exchangerate"]) == (80.0, 1.25)  # 100 / 1.25
    assert api.patch(f"opportunities({opp2})", json={"estimatedvalue": 250}).status_code == 204
    assert api.get(f"opportunities({opp2})?$select=estimatedvalue_base").json()["estimatedvalue_base"] == 200.0
    # the companion is read-only: a value sent for it is ignored
    api.patch(f"opportunities({opp2})", json={"estimatedvalue_base": 1})
    assert api.get(f"opportunities({opp2})?$select=estimatedvalue_base").json()["estimatedvalue_base"] == 200.0
    md = api.get(
        "EntityDefinitions(LogicalName='opportunity')/Attributes(LogicalName='estimatedvalue_base')?$select=AttributeType"
    )
    assert md.json()["AttributeType"] == "Money"


def test_duplicate_detection_as_documented(api: Api) -> None:
    """DUP: the documented lead example; without the header nothing is checked; update is checked too."""
    body = {"firstname": "Monte", "lastname": "Orton", "emailaddress1": "monteorton@example.com"}
    first = api.create("leads", body)
    r = api.post("leads", json=body, headers=DUP)
    assert r.status_code == 500
    assert error_of(r) == (
        "0x80040333",
        "A record was not created or updated because a duplicate of the current record already exists.",
    )
    assert len(api.get("leads?$select=fullname").json()["value"]) == 1  # nothing created
    other = api.create(
        "leads",
        {**body, "emailaddress1": "someone@example.com"},
    )
    assert (
        api.patch(f"leads({other})", json={"emailaddress1": "MonteOrton@example.com"}, headers=DUP).status_code == 500
    )
    assert (
        api.patch(
            f"leads({other})",
            json={"emailaddress1": "MonteOrton@example.com"},
            headers={"MSCRM.SuppressDuplicateDetection": "true"},
        ).status_code
        == 204
    )
    assert (
        api.patch(f"leads({first})", json={"subject": "unchanged email"}, headers=DUP).status_code == 500
    )  # other matches now
    # a blank value never matches (ignoreblankvalues on the default rules)
    api.create("leads", {"lastname": "No email one"})
    assert api.post("leads", json={"lastname": "No email two"}, headers=DUP).status_code == 204


def test_custom_duplicate_rule_applies_once_published(api: Api) -> None:
    """DUP: a rule created through the Web API is unpublished until PublishDuplicateRule (bound to duplicaterule)."""
    rule = api.create(
        "duplicaterules",
        {
            "name": "Tasks with the same subject",
            "baseentityname": "task",
            "matchingentityname": "task",
            "DuplicateRule_DuplicateRuleConditions": [
                {"baseattributename": "subject", "matchingattributename": "subject", "operatorcode": 0}
            ],
        },
    )
    api.create("tasks", {"subject": "Chase reply"})
    assert api.post("tasks", json={"subject": "chase reply"}, headers=DUP).status_code == 204  # not published yet
    r = api.post(f"duplicaterules({rule})/Microsoft.Dynamics.CRM.PublishDuplicateRule", json={})
    assert r.status_code == 200 and "asyncoperationid" in r.json()
    state = api.get(f"duplicaterules({rule})?$select=statecode,statuscode").json()
    assert (state["statecode"], state["statuscode"]) == (1, 2)  # Active / Published
    assert api.post("tasks", json={"subject": "CHASE REPLY"}, headers=DUP).status_code == 500
    assert api.post("UnpublishDuplicateRule", json={"DuplicateRuleId": rule}).status_code == 204
    assert api.post("tasks", json={"subject": "CHASE REPLY"}, headers=DUP).status_code == 204


def _label(text: str) -> dict[str, Any]:
    return {
        "@odata.type": "Microsoft.Dynamics.CRM.Label",
        "LocalizedLabels": [
            {"@odata.type": "Microsoft.Dynamics.CRM.LocalizedLabel", "Label": text, "LanguageCode": 1033}
        ],
    }


def test_global_option_set_lifecycle(api: Api) -> None:
    """OPT: create a global choice, read it by id and Name, add an option, use it in a column, delete."""
    r = api.post(
        "GlobalOptionSetDefinitions",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.OptionSetMetadata",
            "Name": "sample_colors",
            "DisplayName": _label("Colors"),
            "Description": _label("Color Choice for Sample"),
            "OptionSetType": "Picklist",
            "Options": [
                {"Value": 727000000, "Label": _label("Red")},
                {"Value": 727000001, "Label": _label("Yellow")},
                {"Value": 727000002, "Label": _label("Green")},
            ],
        },
    )
    assert r.status_code == 204, r.text
    oid = r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    by_name = api.get("GlobalOptionSetDefinitions(Name='sample_colors')").json()
    assert by_name["MetadataId"] == oid and by_name["IsGlobal"] is True
    assert [o["Value"] for o in by_name["Options"]] == [727000000, 727000001, 727000002]
    cast = api.get(f"GlobalOptionSetDefinitions({oid})/Microsoft.Dynamics.CRM.OptionSetMetadata?$select=Name")
    assert cast.status_code == 200 and cast.json()["Name"] == "sample_colors"
    ins = api.post(
        "InsertOptionValue", json={"OptionSetName": "sample_colors", "Value": 727000003, "Label": _label("Blue")}
    )
    assert ins.status_code == 200 and ins.json()["NewOptionValue"] == 727000003
    col = api.post(
        "EntityDefinitions(LogicalName='account')/Attributes",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
            "SchemaName": "sample_Colors",
            "DisplayName": _label("Colors"),
            "RequiredLevel": {"Value": "None"},
            "GlobalOptionSet@odata.bind": f"/GlobalOptionSetDefinitions({oid})",
        },
    )
    assert col.status_code == 204, col.text
    acc = api.create("accounts", {"name": "Blue one", "sample_colors": 727000003})
    got = api.get(f"accounts({acc})?$select=sample_colors", headers={"Prefer": 'odata.include-annotations="*"'}).json()
    assert got["sample_colors" + FMT] == "Blue"
    # a later option added to the global set reaches the column that uses it
    api.post(
        "InsertOptionValue", json={"OptionSetName": "sample_colors", "Value": 727000004, "Label": _label("Purple")}
    )
    assert api.patch(f"accounts({acc})", json={"sample_colors": 727000004}).status_code == 204
    md = api.get(
        "EntityDefinitions(LogicalName='account')/Attributes(LogicalName='sample_colors')/"
        "Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=GlobalOptionSet($select=Name)"
    ).json()
    assert md["GlobalOptionSet"]["Name"] == "sample_colors"
    # in use: refused; after the column goes, deleted
    assert api.delete(f"GlobalOptionSetDefinitions({oid})").status_code == 400
    assert (
        api.delete("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='sample_colors')").status_code
        == 204
    )
    assert api.delete(f"GlobalOptionSetDefinitions({oid})").status_code == 204
    assert api.get(f"GlobalOptionSetDefinitions({oid})").status_code == 404


def test_impersonation_with_mscrmcallerid(api: Api) -> None:
    """IMP: MSCRMCallerID makes the request run as that systemuser (created by, owner, WhoAmI)."""
    officer = api.get("systemusers?$select=systemuserid&$filter=domainname eq 'igofficer@sandbox'").json()["value"][0][
        "systemuserid"
    ]
    me = api.get("WhoAmI").json()["UserId"]
    as_officer = {"MSCRMCallerID": officer}
    assert api.get("WhoAmI", headers=as_officer).json()["UserId"] == officer
    r = api.post("tasks", json={"subject": "On behalf"}, headers=as_officer)
    tid = r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    row = api.get(f"tasks({tid})?$select=_createdby_value,_ownerid_value,_modifiedby_value").json()
    assert row["_createdby_value"] == officer and row["_ownerid_value"] == officer
    api.patch(f"tasks({tid})", json={"subject": "Changed by me"})
    assert api.get(f"tasks({tid})?$select=_modifiedby_value").json()["_modifiedby_value"] == me
    missing = api.get("WhoAmI", headers={"MSCRMCallerID": "00000000-0000-0000-0000-000000000001"})
    assert missing.status_code == 404


def test_retrieve_principal_access(api: Api) -> None:
    """RPA: bound to systemuser, Target by @odata.id; the sandbox's one user holds every right."""
    me = api.get("WhoAmI").json()["UserId"]
    acc = api.create("accounts", {"name": "Access"})
    r = api.get(
        f'systemusers({me})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@tid)?@tid={{"@odata.id":"accounts({acc})"}}'
    )
    assert r.status_code == 200, r.text
    assert set(r.json()["AccessRights"].split(", ")) == {
        "ReadAccess",
        "WriteAccess",
        "AppendAccess",
        "AppendToAccess",
        "CreateAccess",
        "DeleteAccess",
        "ShareAccess",
        "AssignAccess",
    }
