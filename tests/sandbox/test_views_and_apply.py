"""Predefined queries (system and personal views) and `$apply` aggregation, from Microsoft Learn.

Sources (learn.microsoft.com/power-apps/developer/data-platform/webapi/...): VIEWS retrieve-and-execute-predefined-
queries (`GET accounts?savedQuery=<savedqueryid>`, `?userQuery=<userqueryid>`, results as FetchXML gives them);
AGG query/aggregate-data (`aggregate(revenue with average as average, ...)`, `groupby((statuscode),aggregate($count
as count))`, `filter(...)/groupby(...)`). Expected values are worked out by hand.
"""

from __future__ import annotations

from sandbox_support import Api, error_of


def test_saved_query_runs_the_system_view(api: Api) -> None:
    """VIEWS: the tenant's 'Active Accounts' view lists active accounts only."""
    api.create("accounts", {"name": "Active one", "telephone1": "1"})
    gone = api.create("accounts", {"name": "Inactive one"})
    api.patch(f"accounts({gone})", json={"statecode": 1, "statuscode": 2})
    view = api.get("savedqueries?$select=savedqueryid,returnedtypecode&$filter=name eq 'Active Accounts'").json()[
        "value"
    ]
    assert len(view) == 1 and view[0]["returnedtypecode"] == "account"
    rows = api.get(f"accounts?savedQuery={view[0]['savedqueryid']}").json()["value"]
    assert [r["name"] for r in rows] == ["Active one"]
    assert rows[0]["telephone1"] == "1" and "address1_city" not in rows[0]  # null columns left out
    wrong = api.get(f"contacts?savedQuery={view[0]['savedqueryid']}")
    assert wrong.status_code == 400 and "account" in error_of(wrong)[1]


def test_user_query_runs_the_personal_view(api: Api) -> None:
    api.create("contacts", {"lastname": "Mine"})
    api.create("contacts", {"lastname": "Not mine"})
    uq = api.create(
        "userqueries",
        {
            "name": "Mine only",
            "returnedtypecode": "contact",
            "querytype": 0,
            "fetchxml": "<fetch><entity name='contact'><attribute name='lastname'/>"
            "<filter><condition attribute='lastname' operator='eq' value='Mine'/></filter></entity></fetch>",
        },
    )
    assert [r["lastname"] for r in api.get(f"contacts?userQuery={uq}").json()["value"]] == ["Mine"]
    assert api.get("contacts?userQuery=00000000-0000-0000-0000-000000000009").status_code == 404


def test_apply_aggregate_and_groupby(api: Api) -> None:
    """AGG: the documented aggregate methods, groupby with $count, and filter before groupby."""
    for name, revenue, city in (("a", 100, "Leeds"), ("b", 300, "Leeds"), ("c", 200, "York"), ("d", None, "York")):
        api.create("accounts", {"name": name, "address1_city": city, **({"revenue": revenue} if revenue else {})})
    r = api.get(
        "accounts?$apply=aggregate(revenue with average as average,revenue with sum as total,"
        "revenue with min as minimum,revenue with max as maximum,revenue with countdistinct as kinds)"
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["@odata.context"].endswith("$metadata#accounts(average,total,minimum,maximum,kinds)")
    assert body["value"] == [{"average": 200, "total": 600, "minimum": 100, "maximum": 300, "kinds": 3}]
    grouped = api.get("accounts?$apply=groupby((address1_city),aggregate($count as count))").json()["value"]
    assert grouped == [{"address1_city": "Leeds", "count": 2}, {"address1_city": "York", "count": 2}]
    filtered = api.get("accounts?$apply=filter(revenue gt 150)/groupby((address1_city))").json()["value"]
    assert filtered == [{"address1_city": "Leeds"}, {"address1_city": "York"}]
    bad = api.get("accounts?$apply=aggregate(revenue with median as m)")
    assert bad.status_code == 400 and "median" in error_of(bad)[1]
