"""Dataverse search (1.0 legacy and 2.0 forms), from Microsoft Learn's examples.

Sources (learn.microsoft.com/power-apps/developer/data-platform/search/...): LEGACY legacy (POST
/api/search/v1.0/query|suggest|autocomplete; the "maria" examples: highlights in {crmhit} tags, @search.entityname,
@search.objecttypecode, totalrecordcount -1 unless asked; suggestions on the primary column; autocomplete completes
the word; searchmode any|all with -term; table-scoped filters); QUERY query, suggest, autocomplete (the 2.0 endpoint
and the Web API messages searchquery/searchsuggest/searchautocomplete answer {"response": "<escaped JSON>"}).
Relevance scores are the sandbox's own (matched terms), so tests check membership and order only where documented.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sandbox_support import Api


@pytest.fixture
def search(api: Api) -> Any:
    api.create(
        "contacts",
        {
            "firstname": "Maria",
            "lastname": "Sullivan",
            "emailaddress1": "maria@contoso.com",
            "address1_city": "Seattle",
        },
    )
    api.create("contacts", {"firstname": "Mark", "lastname": "Wilson", "emailaddress1": "mark@contoso.com"})
    api.create("accounts", {"name": "Maria's Bakery", "address1_city": "Leeds"})
    root = api.base.split("/api/data/")[0]

    def post(path: str, body: dict[str, Any]) -> Any:
        r = api.session.post(f"{root}/api/search/{path}", json=body, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    return post


def test_legacy_query_as_documented(search: Any) -> None:
    body = search("v1.0/query", {"search": "maria"})
    contact = next(v for v in body["value"] if v["@search.entityname"] == "contact")
    assert contact["@search.highlights"]["emailaddress1"] == ["{crmhit}maria{/crmhit}@contoso.com"]
    assert contact["@search.highlights"]["firstname"] == ["{crmhit}Maria{/crmhit}"]
    assert contact["@search.highlights"]["fullname"] == ["{crmhit}Maria{/crmhit} Sullivan"]
    assert contact["@search.objecttypecode"] == 2 and contact["fullname"] == "Maria Sullivan"
    assert body["totalrecordcount"] == -1
    assert {v["@search.entityname"] for v in body["value"]} == {"contact", "account"}
    counted = search(
        "v1.0/query",
        {
            "search": "maria",
            "entities": ["contact"],
            "returntotalrecordcount": True,
            "facets": ["@search.entityname,count:100"],
        },
    )
    assert counted["totalrecordcount"] == 1
    assert counted["facets"]["@search.entityname"] == [{"Type": "Value", "Value": "contact", "Count": 1}]


def test_search_syntax_modes_and_filters(search: Any) -> None:
    any_mode = search("v1.0/query", {"search": "contoso -mark", "entities": ["contact"]})
    assert len(any_mode["value"]) == 2  # "OR NOT": contoso matches both
    all_mode = search("v1.0/query", {"search": "contoso -mark", "entities": ["contact"], "searchmode": "all"})
    assert [v["fullname"] for v in all_mode["value"]] == ["Maria Sullivan"]
    prefix = search("v1.0/query", {"search": "sulli*"})
    assert [v["fullname"] for v in prefix["value"]] == ["Maria Sullivan"]
    assert search("v1.0/query", {"search": "sulli"})["value"] == []  # whole words without the wildcard
    filtered = search(
        "v1.0/query",
        {"search": "maria", "filter": "account:address1_city eq 'York', contact:address1_city eq 'Seattle'"},
    )
    assert [v["@search.entityname"] for v in filtered["value"]] == ["contact"]
    phrase = search("v1.0/query", {"search": '"Maria Sullivan"'})
    assert [v["fullname"] for v in phrase["value"]] == ["Maria Sullivan"]


def test_legacy_suggest_and_autocomplete(search: Any) -> None:
    sug = search("v1.0/suggest", {"search": "mar", "entities": ["contact"]})
    texts = sorted(v["text"] for v in sug["value"])
    assert texts == ["{crmhit}Mar{/crmhit}ia Sullivan", "{crmhit}Mar{/crmhit}k Wilson"]
    assert search("v1.0/autocomplete", {"search": "mar", "entities": ["contact"]})["value"] in (
        "{crmhit}maria{/crmhit}",
        "{crmhit}mark{/crmhit}",
    )


def test_search_2_answers_an_escaped_json_response(search: Any, api: Api) -> None:
    entities = json.dumps(
        [{"name": "contact", "selectColumns": ["fullname", "emailaddress1"], "searchColumns": ["fullname"]}]
    )
    raw = search("v2.0/query", {"search": "maria", "entities": entities, "count": True})
    inner = json.loads(raw["response"])
    assert set(inner) == {"Error", "Value", "Facets", "QueryContext", "Count"}
    assert inner["Count"] == 1 and inner["Value"][0]["EntityName"] == "contact"
    assert inner["Value"][0]["Attributes"]["emailaddress1"] == "maria@contoso.com"
    msg = api.post("searchquery", json={"search": "bakery"})
    assert msg.status_code == 200
    assert [v["EntityName"] for v in json.loads(msg.json()["response"])["Value"]] == ["account"]
    auto = json.loads(search("v2.0/autocomplete", {"search": "sull"})["response"])
    assert auto["Value"] == "{crmhit}sullivan{/crmhit}"
