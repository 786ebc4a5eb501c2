"""Queries, paging, counts, formatted values and change tracking, from Microsoft Learn examples.

Sources (learn.microsoft.com/power-apps/developer/data-platform/...): FILTER webapi/query/filter-rows;
PAGE webapi/query/page-results; COUNT webapi/query/count-rows; QOVER webapi/query/overview;
CT use-change-tracking-synchronize-data-external-systems.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sandbox_support import Api, error_of

from connector.sandbox.server import SandboxOptions, SandboxServer


def _accounts(api: Api, n: int, **extra: Any) -> list[str]:
    body = {
        "Targets": [
            {"name": f"Account {i:03d}", "@odata.type": "Microsoft.Dynamics.CRM.account", **extra} for i in range(n)
        ]
    }
    r = api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json=body)
    assert r.status_code == 200, r.text
    return r.json()["Ids"]


@pytest.fixture
def people(api: Api) -> dict[str, str]:
    ids = {}
    for first, last, email, n in [
        ("Siobhan", "O'Brien", "sob@example.com", 5),
        ("Liam", "Smith", "liam@example.com", 50),
        ("Ann", "Smithers", None, 500),
        ("Zoe", "Adams", "zoe@council.example", None),
    ]:
        ids[last] = api.create(
            "contacts", {"firstname": first, "lastname": last, **({"emailaddress1": email} if email else {})}
        )
        aid = api.create(
            "accounts",
            {
                "name": f"{last} Ltd",
                "primarycontactid@odata.bind": f"/contacts({ids[last]})",
                **({"numberofemployees": n} if n is not None else {}),
            },
        )
        ids[f"{last} Ltd"] = aid
    return ids


def _names(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [row.get("name") or row.get("fullname") for row in r.json()["value"]]


def test_filter_comparison_logical_and_string_functions(api: Api, people: dict[str, str]) -> None:
    # FILTER "Comparison operators", "Logical operators", "Use OData query functions"
    assert sorted(_names(api.get("accounts?$select=name&$filter=numberofemployees gt 10"))) == [
        "Smith Ltd",
        "Smithers Ltd",
    ]
    assert _names(
        api.get("accounts?$select=name&$filter=numberofemployees ge 5 and numberofemployees le 50&$orderby=name")
    ) == [
        "O'Brien Ltd",
        "Smith Ltd",
    ]
    assert sorted(
        _names(api.get("accounts?$select=name&$filter=(numberofemployees eq 5 or numberofemployees eq 500)"))
    ) == ["O'Brien Ltd", "Smithers Ltd"]
    assert _names(api.get("accounts?$select=name&$filter=not (numberofemployees ne 50)")) == ["Smith Ltd"]
    assert sorted(_names(api.get("accounts?$select=name&$filter=contains(name,'smith')"))) == [
        "Smith Ltd",
        "Smithers Ltd",
    ]
    assert _names(api.get("accounts?$select=name&$filter=startswith(name,'Ad')")) == ["Adams Ltd"]
    assert _names(api.get("accounts?$select=name&$filter=endswith(name,'ers Ltd')")) == ["Smithers Ltd"]
    # null: numberofemployees eq null
    assert _names(api.get("accounts?$select=name&$filter=numberofemployees eq null")) == ["Adams Ltd"]
    assert _names(api.get("contacts?$select=fullname&$filter=emailaddress1 eq null")) == ["Ann Smithers"]
    # FILTER: string comparisons are case-insensitive
    assert _names(api.get("contacts?$select=fullname&$filter=lastname eq 'ADAMS'")) == ["Zoe Adams"]


def test_filter_doubled_single_quote(api: Api, people: dict[str, str]) -> None:
    # FILTER "Use single quotes": lastname eq 'O''Bryan'; an undoubled quote -> "There is an unterminated literal at
    # position 21 in 'lastname eq 'O'Bryan''."
    assert _names(api.get("contacts?$select=fullname&$filter=lastname eq 'O''Brien'")) == ["Siobhan O'Brien"]
    r = api.get("contacts?$select=fullname&$filter=lastname eq 'O'Bryan'")
    assert r.status_code == 400
    assert "There is an unterminated literal at position 21 in 'lastname eq 'O'Bryan''." in error_of(r)[1]


def test_filter_list_of_keys_matches_case_insensitively(api: Api, people: dict[str, str]) -> None:
    # FILTER: string comparisons are case-insensitive; `col eq a or col eq b ...` is how a client asks which keys
    # exist. The answer must be the same whether the sandbox narrows it through an index or scans every row.
    keys = "(emailaddress1 eq 'SOB@example.com' or emailaddress1 eq 'nobody@example.com' or emailaddress1 eq 'zoe@council.example')"
    assert sorted(_names(api.get(f"contacts?$select=fullname&$filter={keys}"))) == ["Siobhan O'Brien", "Zoe Adams"]
    mixed = "emailaddress1 eq 'sob@example.com' or lastname eq 'Smith'"
    assert sorted(_names(api.get(f"contacts?$select=fullname&$filter={mixed}"))) == ["Liam Smith", "Siobhan O'Brien"]
    narrowed = f"{keys} and firstname eq 'Zoe'"
    assert _names(api.get(f"contacts?$select=fullname&$filter={narrowed}")) == ["Zoe Adams"]


def test_filter_lookup_value_and_related_column(api: Api, people: dict[str, str]) -> None:
    # FILTER "Filter using lookup column values": _primarycontactid_value eq <guid>;
    # "Filter on values of related single-valued navigation properties": primarycontactid/fullname eq '...'
    cid = people["Smith"]
    assert _names(api.get(f"accounts?$select=name&$filter=_primarycontactid_value eq {cid}")) == ["Smith Ltd"]
    assert _names(api.get("accounts?$select=name&$filter=primarycontactid/fullname eq 'Zoe Adams'")) == ["Adams Ltd"]
    # Parameter aliases [QOVER]
    assert _names(api.get("accounts?$select=name&$filter=numberofemployees eq @p1&@p1=50")) == ["Smith Ltd"]
    # unknown column in $filter -> 400 "Could not find a property named ..."
    r = api.get("accounts?$filter=nosuchcolumn eq 1")
    assert r.status_code == 400 and "Could not find a property named 'nosuchcolumn'" in error_of(r)[1]


def test_orderby_top_and_choice_sort(api: Api, people: dict[str, str]) -> None:
    # QOVER: $orderby asc/desc, $top
    assert _names(api.get("accounts?$select=name&$orderby=numberofemployees desc&$top=2")) == [
        "Smithers Ltd",
        "Smith Ltd",
    ]
    assert _names(api.get("accounts?$select=name&$orderby=name asc&$top=1")) == ["Adams Ltd"]


def test_count_and_dollar_count(api: Api, people: dict[str, str]) -> None:
    # COUNT: $count=true -> @odata.count; GET accounts/$count -> text/plain number
    r = api.get("accounts?$select=name&$filter=contains(name,'smith')&$count=true")
    assert r.json()["@odata.count"] == 2
    r = api.get("accounts/$count")
    assert r.status_code == 200 and r.text == "4" and r.headers["Content-Type"].startswith("text/plain")
    # COUNT: totalrecordcount annotations through Prefer
    r = api.get(
        "accounts?$select=name&$count=true",
        headers={
            "Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.totalrecordcount,Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"'
        },
    )
    body = r.json()
    assert body["@Microsoft.Dynamics.CRM.totalrecordcount"] == 4
    assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is False


def test_formatted_values_and_lookup_annotations(api: Api, people: dict[str, str]) -> None:
    # QOVER "Formatted values": Prefer: odata.include-annotations="OData.Community.Display.V1.FormattedValue"
    aid = people["Smith Ltd"]
    api.patch(f"accounts({aid})", json={"accountcategorycode": 1})
    r = api.get(
        f"accounts({aid})?$select=name,statecode,accountcategorycode,_primarycontactid_value",
        headers={"Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'},
    )
    body = r.json()
    assert body["statecode@OData.Community.Display.V1.FormattedValue"] == "Active"
    assert body["accountcategorycode@OData.Community.Display.V1.FormattedValue"] == "Preferred Customer"
    assert body["_primarycontactid_value@OData.Community.Display.V1.FormattedValue"] == "Liam Smith"
    assert "_primarycontactid_value@Microsoft.Dynamics.CRM.lookuplogicalname" not in body
    assert 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"' in r.headers["Preference-Applied"]
    # "*" brings the lookup annotations too [COMPOSE]
    r = api.get(
        f"accounts?$select=_primarycontactid_value&$filter=accountid eq {aid}",
        headers={"Prefer": 'odata.include-annotations="*"'},
    )
    row = r.json()["value"][0]
    assert row["_primarycontactid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "contact"
    assert row["_primarycontactid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"] == "primarycontactid"


def test_paging_with_maxpagesize_and_nextlink(api: Api) -> None:
    # PAGE: Prefer: odata.maxpagesize=N -> Preference-Applied: odata.maxpagesize=N, @odata.nextLink with $skiptoken.
    ids = _accounts(api, 25)
    seen: list[str] = []
    url = "accounts?$select=name"
    pages = 0
    while url:
        r = api.get(url, headers={"Prefer": "odata.maxpagesize=10"})
        assert r.status_code == 200
        assert r.headers["Preference-Applied"] == "odata.maxpagesize=10"
        body = r.json()
        assert len(body["value"]) <= 10
        seen += [row["accountid"] for row in body["value"]]
        url = body.get("@odata.nextLink")
        if url:
            assert "$skiptoken=" in url and url.startswith("http")
            token = parse_qs(urlsplit(url).query)["$skiptoken"][0]
            assert token.startswith("<cookie pagenumber=")
        pages += 1
    assert pages == 3 and seen == ids
    # several Prefer headers / a comma list: both preferences applied [COUNT]
    r = api.get(
        "accounts?$select=name",
        headers={"Prefer": 'odata.maxpagesize=3,odata.include-annotations="Microsoft.Dynamics.CRM.*"'},
    )
    applied = r.headers["Preference-Applied"]
    assert "odata.maxpagesize=3" in applied and 'odata.include-annotations="Microsoft.Dynamics.CRM.*"' in applied
    assert len(r.json()["value"]) == 3


def test_default_page_is_5000_rows(api: Api) -> None:
    # PAGE/QOVER: without $top or maxpagesize, up to 5,000 rows come back, then a nextLink; maxpagesize is capped.
    for _ in range(6):
        _accounts(api, 1000)
    r = api.get("accounts?$select=name")
    body = r.json()
    assert len(body["value"]) == 5000 and "@odata.nextLink" in body
    nxt = api.get(body["@odata.nextLink"]).json()
    assert len(nxt["value"]) == 1000 and "@odata.nextLink" not in nxt
    # $top with no paging: at most $top rows and no nextLink
    body = api.get("accounts?$select=name&$top=7").json()
    assert len(body["value"]) == 7 and "@odata.nextLink" not in body
    # $count is capped at 5,000 [COUNT]
    assert api.get("accounts?$select=name&$count=true&$top=1").json()["@odata.count"] == 5000


def test_change_tracking_delta_and_deleted_entity(api: Api, sandbox: Any) -> None:
    # CT: Prefer: odata.track-changes -> Preference-Applied: odata.track-changes and @odata.deltaLink
    a1 = api.create("accounts", {"name": "Monday Ltd"})
    a2 = api.create("accounts", {"name": "Tuesday Ltd"})
    r = api.get("accounts?$select=name", headers={"Prefer": "odata.track-changes"})
    assert r.status_code == 200 and "odata.track-changes" in r.headers["Preference-Applied"]
    body = r.json()
    assert {row["accountid"] for row in body["value"]} == {a1, a2}
    delta = body["@odata.deltaLink"]
    assert "$deltatoken=" in delta and delta.startswith(sandbox.url)
    # no changes -> empty value, a new deltaLink
    r = api.get(delta, headers={"Prefer": "odata.track-changes"})
    assert r.json()["value"] == [] and "@odata.deltaLink" in r.json()
    # change a row, add one, delete one
    api.patch(f"accounts({a1})", json={"name": "Monday Ltd (renamed)"})
    a3 = api.create("accounts", {"name": "Wednesday Ltd"})
    api.delete(f"accounts({a2})")
    r = api.get(delta)
    body = r.json()
    assert body["@odata.context"].endswith("/$delta")
    changed = [row for row in body["value"] if "accountid" in row]
    deleted = [row for row in body["value"] if "reason" in row]
    assert {row["accountid"]: row["name"] for row in changed} == {a1: "Monday Ltd (renamed)", a3: "Wednesday Ltd"}
    assert len(deleted) == 1
    assert deleted[0]["id"] == a2 and deleted[0]["reason"] == "deleted"
    assert deleted[0]["@odata.context"].endswith("$metadata#accounts/$deletedEntity")
    # new/updated rows first, deletions last [CT]
    assert body["value"][-1] is deleted[0] or body["value"][-1] == deleted[0]
    # CT: GET accounts/$count?$deltatoken=... -> the number of changes
    token = parse_qs(urlsplit(delta).query)["$deltatoken"][0]
    assert api.get("accounts/$count", params={"$deltatoken": token}).text == "3"
    # $filter/$orderby/$expand/$top are not allowed with track-changes
    r = api.get("accounts?$select=name&$top=1", headers={"Prefer": "odata.track-changes"})
    assert r.status_code == 400
    assert error_of(r)[1] == 'The "$top" query parameter isn\'t supported when Change Tracking is enabled.'


def test_change_tracking_token_expiry(api: Api, sandbox: Any) -> None:
    # CT: tokens expire (Organization.ExpireChangeTrackingInDays) -> the documented error; the client re-syncs fully.
    api.create("accounts", {"name": "A"})
    delta = api.get("accounts?$select=name", headers={"Prefer": "odata.track-changes"}).json()["@odata.deltaLink"]
    assert api.get(delta).status_code == 200
    sandbox.expire_change_tokens()
    r = api.get(delta)
    assert r.status_code == 400
    code, message = error_of(r)
    assert "expired" in message.lower()
    assert code == "0x80044352"
    # a fresh initial sync works again
    assert api.get("accounts?$select=name", headers={"Prefer": "odata.track-changes"}).status_code == 200


def test_change_tracking_token_expires_after_the_configured_time() -> None:
    # CT: Organization.ExpireChangeTrackingInDays (7 days by default) is configurable in the sandbox, in seconds.
    # The token's stamp has one-second resolution, so the sandbox expires it only when it is surely older than the
    # configured time: a token read again at once is valid even on a loaded machine, one read 2 s after its expiry is not.
    with SandboxServer(SandboxOptions(port=0, change_token_expiry_seconds=2)) as sb:
        api = Api(sb.api_url, sb.issue_token())
        delta = api.get("accounts?$select=name", headers={"Prefer": "odata.track-changes"}).json()["@odata.deltaLink"]
        assert api.get(delta).status_code == 200
        time.sleep(4.1)
        r = api.get(delta)
        assert r.status_code == 400 and "expired" in error_of(r)[1]


def test_service_document_lists_entity_sets(api: Api) -> None:
    # QOVER: GET /api/data/v9.2/ -> {"name":"accounts","kind":"EntitySet","url":"accounts"}
    body = api.get("").json()
    assert {"name": "accounts", "kind": "EntitySet", "url": "accounts"} in body["value"]
    assert {"name": "incidents", "kind": "EntitySet", "url": "incidents"} in body["value"]


def test_change_tracking_initial_sync_pages(api: Api) -> None:
    # CT: the initial sync returns every row as new, in pages; the deltaLink comes with the last page. (Paging inside
    # delta responses is UNCONFIRMED; the sandbox pages the same way.)
    ids = _accounts(api, 25)
    url: str | None = "accounts?$select=name"
    seen: list[str] = []
    delta = None
    while url:
        body = api.get(url, headers={"Prefer": "odata.track-changes,odata.maxpagesize=10"}).json()
        seen += [row["accountid"] for row in body["value"]]
        url = body.get("@odata.nextLink")
        if url:
            assert "@odata.deltaLink" not in body
        else:
            delta = body["@odata.deltaLink"]
    assert sorted(seen) == sorted(ids)
    api.patch(f"accounts({ids[3]})", json={"name": "changed"})
    changed = api.get(delta).json()["value"]
    assert [(c["accountid"], c["name"]) for c in changed] == [(ids[3], "changed")]
