"""`$filter` query functions, SQL wildcards, and filters compiled to indexed SQL.

Sources (learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows): FILTER "Dataverse query
functions" (``Microsoft.Dynamics.CRM.Between(PropertyName='numberofemployees',PropertyValues=["5","2000"])``,
``In``, ``LastXDays``, ``On``, ...) and "Use wildcard characters" (``%``, ``_``, ``[]``, ``[^]`` inside contains,
startswith and endswith). Expected rows are worked out by hand from the records each test creates.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sandbox_support import Api


def _names(api: Api, entity_set: str, flt: str, col: str = "name") -> list[str]:
    r = api.get(f"{entity_set}?$select={col}&$filter={flt}")
    assert r.status_code == 200, r.text
    return sorted((row[col] for row in r.json()["value"]), key=str.casefold)


def _accounts(api: Api, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        api.create("accounts", row)


def test_between_and_not_between_compare_as_the_column_type(api: Api) -> None:
    _accounts(api, [{"name": f"e{n}", "numberofemployees": n} for n in (4, 5, 300, 2000, 2001)])
    _accounts(api, [{"name": "no count"}])
    between = 'Microsoft.Dynamics.CRM.Between(PropertyName=\'numberofemployees\',PropertyValues=["5","2000"])'
    assert _names(api, "accounts", between) == ["e2000", "e300", "e5"]  # both ends included
    outside = 'Microsoft.Dynamics.CRM.NotBetween(PropertyName=\'numberofemployees\',PropertyValues=["5","2000"])'
    assert _names(api, "accounts", outside) == ["e2001", "e4"]  # a null count is in neither


def test_in_and_not_in_with_parameter_aliases(api: Api) -> None:
    _accounts(api, [{"name": n} for n in ("Alpha", "Beta", "Gamma", "O'Neil")])
    flt = "Microsoft.Dynamics.CRM.In(PropertyName=@p1,PropertyValues=@p2)"
    r = api.get(f'accounts?$select=name&$filter={flt}&@p1=\'name\'&@p2=["alpha","O\'Neil"]')
    assert r.status_code == 200, r.text
    assert sorted(x["name"] for x in r.json()["value"]) == ["Alpha", "O'Neil"]  # case-insensitive
    assert _names(api, "accounts", "Microsoft.Dynamics.CRM.NotIn(PropertyName='name',PropertyValues=[\"Beta\"])") == [
        "Alpha",
        "Gamma",
        "O'Neil",
    ]


def test_date_functions_on_created_on(api: Api) -> None:
    now = datetime.now(UTC)
    stamp = lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    _accounts(
        api,
        [
            {"name": "now", "overriddencreatedon": stamp(now)},
            {"name": "yesterday", "overriddencreatedon": stamp(now - timedelta(days=1))},
            {"name": "ten days", "overriddencreatedon": stamp(now - timedelta(days=10))},
            {"name": "fixed", "overriddencreatedon": "2025-06-30T23:30:00Z"},
        ],
    )
    fn = "Microsoft.Dynamics.CRM."
    assert _names(api, "accounts", f"{fn}LastXDays(PropertyName='createdon',PropertyValue=3)") == ["now", "yesterday"]
    assert _names(api, "accounts", f"{fn}OlderThanXDays(PropertyName='createdon',PropertyValue=5)") == [
        "fixed",
        "ten days",
    ]
    assert _names(api, "accounts", f"{fn}Today(PropertyName='createdon')") == ["now"]
    assert _names(api, "accounts", f"{fn}Yesterday(PropertyName='createdon')") == ["yesterday"]
    assert _names(api, "accounts", f"{fn}On(PropertyName='createdon',PropertyValue='2025-06-30')") == ["fixed"]
    assert _names(api, "accounts", f"{fn}OnOrBefore(PropertyName='createdon',PropertyValue='2025-06-30')") == ["fixed"]
    assert "fixed" not in _names(api, "accounts", f"{fn}OnOrAfter(PropertyName='createdon',PropertyValue='2025-07-01')")


def test_sql_wildcards_in_string_functions(api: Api) -> None:
    _accounts(api, [{"name": n} for n in ("abc", "aXc", "ac", "100% sure", "b2", "Straße")])
    assert _names(api, "accounts", "startswith(name,'a_c')") == ["abc", "aXc"]
    assert _names(api, "accounts", "contains(name,'[0-9]')") == ["100% sure", "b2"]
    assert _names(api, "accounts", "startswith(name,'[^a1]')") == ["b2", "Straße"]
    assert _names(api, "accounts", "contains(name,'[%]')") == ["100% sure"]
    assert _names(api, "accounts", "endswith(name,'c')") == ["abc", "ac", "aXc"]
    # Case-insensitive beyond ASCII: the SQL narrowing must not drop a row the predicate keeps.
    assert _names(api, "accounts", "contains(name,'SS')") == ["Straße"]


def test_documented_but_unmodelled_function_is_a_clear_400(api: Api) -> None:
    r = api.get("accounts?$filter=Microsoft.Dynamics.CRM.InFiscalYear(PropertyName='createdon',PropertyValue=2026)")
    assert r.status_code == 400
    assert "not supported by the foi-sync sandbox" in r.json()["error"]["message"]


def test_hierarchy_functions_follow_the_parent_account(api: Api) -> None:
    """Learn "Query hierarchical data" (query-hierarchical-data): Above, AboveOrEqual, Under, UnderOrEqual and
    NotUnder along account.parentaccountid; the FetchXML operators above/under/eq-or-under/not-under alike."""
    top = api.create("accounts", {"name": "Top"})
    mid = api.create("accounts", {"name": "Mid", "parentaccountid@odata.bind": f"accounts({top})"})
    api.create("accounts", {"name": "Leaf", "parentaccountid@odata.bind": f"accounts({mid})"})
    api.create("accounts", {"name": "Other"})

    def fn(name: str, rid: str) -> list[str]:
        flt = f"Microsoft.Dynamics.CRM.{name}(PropertyName=@p1,PropertyValue=@p2)&@p1='accountid'&@p2={rid}"
        return _names(api, "accounts", flt)

    assert fn("Under", top) == ["Leaf", "Mid"]
    assert fn("UnderOrEqual", mid) == ["Leaf", "Mid"]
    assert fn("Above", mid) == ["Top"]
    assert fn("AboveOrEqual", mid) == ["Mid", "Top"]
    assert fn("NotUnder", mid) == ["Other", "Top"]
    from urllib.parse import quote

    xml = (
        "<fetch><entity name='account'><attribute name='name'/><filter>"
        f"<condition attribute='accountid' operator='eq-or-under' value='{top}'/></filter></entity></fetch>"
    )
    rows = api.get(f"accounts?fetchXml={quote(xml)}").json()["value"]
    assert sorted(r["name"] for r in rows) == ["Leaf", "Mid", "Top"]
    none = api.get("contacts?$filter=Microsoft.Dynamics.CRM.Under(PropertyName='contactid',PropertyValue=" + top + ")")
    assert none.status_code == 400 and "hierarchical" in none.json()["error"]["message"]


def test_indexed_filters_read_only_the_matching_rows(api: Api, sandbox: Any) -> None:
    # 600 contacts; a key lookup of 300 keys and an equality filter must not scan the table (charged reads are the
    # rows the store loaded), and both must return exactly the rows asked for.
    targets = [
        {"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": f"n{i}", "emailaddress1": f"p{i}@example.org"}
        for i in range(600)
    ]
    r = api.post("contacts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets})
    assert r.status_code == 200, r.text

    def reads() -> float:
        return float(requests.get(sandbox.url + "/_sandbox", timeout=30).json()["charged"]["reads"])

    wanted = [f"P{i}@EXAMPLE.ORG" for i in range(0, 600, 2)]
    flt = "(" + " or ".join(f"emailaddress1 eq '{w}'" for w in wanted) + ")"
    before = reads()
    got = _names(api, "contacts", flt, "emailaddress1")
    assert got == sorted((w.lower() for w in wanted), key=str.casefold)
    assert reads() - before <= 300 + 5
    before = reads()
    assert _names(api, "contacts", "lastname eq 'n7' and emailaddress1 ne null", "lastname") == ["n7"]
    assert reads() - before <= 5


def test_lambda_any_and_all_on_collection_navigation(api: Api) -> None:
    """Learn "Filter rows" (Filter using values of related collections): `nav/any(o:<condition on o/column>)`,
    `nav/all(...)`, and `nav/any()` for "has at least one", on 1:N (Account_Tasks, contact_customer_accounts)."""
    busy = api.create("accounts", {"name": "Busy"})
    done = api.create("accounts", {"name": "Done"})
    api.create("accounts", {"name": "Idle"})
    for subject, acc, state in (("Task one", busy, 0), ("Call back", busy, 1), ("Task closed", done, 1)):
        tid = api.create(
            "tasks", {"subject": subject, "regardingobjectid_account_task@odata.bind": f"/accounts({acc})"}
        )
        if state:
            api.patch(f"tasks({tid})", json={"statecode": 1, "statuscode": 5})
    api.create("contacts", {"lastname": "Smith", "parentcustomerid_account@odata.bind": f"/accounts({done})"})
    assert _names(api, "accounts", "Account_Tasks/any(o:contains(o/subject,'task'))") == ["Busy", "Done"]
    assert _names(api, "accounts", "Account_Tasks/all(o:o/statecode eq 1)") == ["Done", "Idle"]  # vacuously for Idle
    assert _names(api, "accounts", "Account_Tasks/any()") == ["Busy", "Done"]
    assert _names(
        api, "accounts", "not Account_Tasks/any() or contact_customer_accounts/any(c:c/lastname eq 'Smith')"
    ) == [
        "Done",
        "Idle",
    ]
    bad = api.get("accounts?$filter=name/any(o:o eq 'x')")
    assert bad.status_code == 400
    unknown = api.get("accounts?$filter=Account_Tasks/any(o:o/nosuch eq 1)")
    assert unknown.status_code == 400


def test_multi_select_choice_column_and_its_query_functions(api: Api) -> None:
    """Learn "Multi-select choice columns" (multi-select-picklist): a MultiSelectPicklistAttributeMetadata column,
    values written and read as "1,9,5", formatted values joined with "; ", and the ContainValues /
    DoesNotContainValues query functions (and the FetchXML contain-values operator)."""
    names = ["Swimming", "Hiking", "Mountain Climbing", "Fishing", "Hunting", "Running", "Boating", "Skiing", "Camping"]
    r = api.post(
        "EntityDefinitions(LogicalName='contact')/Attributes",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.MultiSelectPicklistAttributeMetadata",
            "SchemaName": "sample_OutdoorActivities",
            "DisplayName": {"LocalizedLabels": [{"Label": "Outdoor activities", "LanguageCode": 1033}]},
            "RequiredLevel": {"Value": "None"},
            "OptionSet": {
                "@odata.type": "Microsoft.Dynamics.CRM.OptionSetMetadata",
                "OptionSetType": "Picklist",
                "Options": [
                    {"Value": i, "Label": {"LocalizedLabels": [{"Label": n, "LanguageCode": 1033}]}}
                    for i, n in enumerate(names, start=1)
                ],
            },
        },
    )
    assert r.status_code == 204, r.text
    api.create("contacts", {"lastname": "Outdoors", "sample_outdooractivities": "1,9,5"})
    api.create("contacts", {"lastname": "Indoors", "sample_outdooractivities": "4"})
    api.create("contacts", {"lastname": "None"})
    row = api.get(
        "contacts?$select=sample_outdooractivities&$filter=lastname eq 'Outdoors'",
        headers={"Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'},
    ).json()["value"][0]
    assert row["sample_outdooractivities"] == "1,9,5"
    assert row["sample_outdooractivities@OData.Community.Display.V1.FormattedValue"] == "Swimming; Camping; Hunting"
    has = "Microsoft.Dynamics.CRM.ContainValues(PropertyName='sample_outdooractivities',PropertyValues=['1','4'])"
    assert _names(api, "contacts", has, "lastname") == ["Indoors", "Outdoors"]
    lacks = "Microsoft.Dynamics.CRM.DoesNotContainValues(PropertyName='sample_outdooractivities',PropertyValues=['9'])"
    assert _names(api, "contacts", lacks, "lastname") == ["Indoors", "None"]
    bad = api.post("contacts", json={"lastname": "Bad", "sample_outdooractivities": "1,42"})
    assert bad.status_code == 400
    from urllib.parse import quote

    xml = (
        "<fetch><entity name='contact'><attribute name='lastname'/><filter>"
        "<condition attribute='sample_outdooractivities' operator='contain-values'><value>5</value></condition>"
        "</filter></entity></fetch>"
    )
    assert [x["lastname"] for x in api.get(f"contacts?fetchXml={quote(xml)}").json()["value"]] == ["Outdoors"]
