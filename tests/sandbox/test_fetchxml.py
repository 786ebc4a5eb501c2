"""FetchXML through the Web API (`GET <entityset>?fetchXml=...`), built from Microsoft Learn's examples.

Sources (learn.microsoft.com/power-apps/developer/data-platform/fetchxml/...): PAGE page-results ("Paging large
result sets with Web API": count/page, the Prefer header asking for `fetchxmlpagingcookie,morerecords`, the cookie's
`pagingcookie` URL-encoded twice, no annotations on the last page, null columns left out of rows); AGG
aggregate-data; JOIN join-tables (link-entity, `alias.column`); FILTER filter-rows and reference/operators (like,
in, between, date and user operators). Expected rows are worked out by hand from the records each test creates.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from sandbox_support import Api, error_of

PAGING = 'odata.include-annotations="Microsoft.Dynamics.CRM.fetchxmlpagingcookie,Microsoft.Dynamics.CRM.morerecords"'


def _fetch(api: Api, entity_set: str, xml: str, prefer: str | None = None) -> Any:
    headers = {"Prefer": prefer} if prefer else {}
    r = api.get(f"{entity_set}?fetchXml={quote(xml)}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def _contacts(api: Api, rows: list[dict[str, Any]]) -> list[str]:
    targets = [{"@odata.type": "Microsoft.Dynamics.CRM.contact", **row} for row in rows]
    r = api.post("contacts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets})
    assert r.status_code == 200, r.text
    return list(r.json()["Ids"])


PEOPLE = [
    ("Yvonne", "McKay", "Coffee Master", 45000),
    ("Thomas", "Andersen", "Purchasing Manager", None),
    ("Susanna", "Stubberod", "Purchasing Manager", 30000),
    ("Susan", "Burk", "Owner", None),
    ("Sidney", "Higa", "Owner", 52000),
    ("Scott", "Konersmann", "Purchasing Manager", None),
    ("Jim", "Glynn", "Owner", 61000),
]


def test_paging_cookie_walks_every_page_as_documented(api: Api) -> None:
    """PAGE: count 3, order by fullname descending; cookie and morerecords only when asked and not on the last page."""
    _contacts(
        api,
        [
            {"firstname": f, "lastname": la, "jobtitle": j, **({"annualincome": i} if i else {})}
            for f, la, j, i in PEOPLE
        ],
    )
    template = (
        "<fetch count='3' page='{page}'{cookie}><entity name='contact'><attribute name='fullname'/>"
        "<attribute name='jobtitle'/><attribute name='annualincome'/><order descending='true' attribute='fullname'/>"
        "</entity></fetch>"
    )
    expected = sorted((f"{f} {la}" for f, la, *_ in PEOPLE), reverse=True)
    seen: list[str] = []
    page, cookie = 1, ""
    while True:
        body = _fetch(api, "contacts", template.format(page=page, cookie=cookie), PAGING)
        seen += [row["fullname"] for row in body["value"]]
        if len(seen) < len(expected):
            assert body["@Microsoft.Dynamics.CRM.morerecords"] is True
            annotation = body["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"]
            m = re.fullmatch(r'<cookie pagenumber="(\d+)" pagingcookie="([^"]+)" istracking="False" />', annotation)
            assert m is not None, annotation
            assert int(m.group(1)) == page + 1
            inner = unquote(unquote(m.group(2)))  # "URL-encoded twice"
            assert inner.startswith(f'<cookie page="{page}"><contactid last="{{') and inner.endswith("</cookie>")
            xml_escaped = inner.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            page, cookie = page + 1, f" paging-cookie='{xml_escaped}'"
        else:
            assert "@Microsoft.Dynamics.CRM.morerecords" not in body
            assert "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie" not in body
            break
    assert seen == expected and page == 3
    # null columns are left out of FetchXML rows (Thomas Andersen has no annual income in the Learn example)
    first = _fetch(api, "contacts", template.format(page=1, cookie=""))
    assert "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie" not in first  # not asked for
    row = next(r for r in first["value"] if r["fullname"] == "Thomas Andersen")
    assert "annualincome" not in row and row["jobtitle"] == "Purchasing Manager" and "contactid" in row
    # the money column brings the currency: context and rows as in the documented response
    assert first["@odata.context"].endswith(
        "$metadata#contacts(fullname,jobtitle,annualincome,_transactioncurrencyid_value,transactioncurrencyid,"
        "contactid,transactioncurrencyid())"
    )
    yvonne = next(r for r in first["value"] if r["fullname"] == "Yvonne McKay")
    assert yvonne["annualincome"] == 45000 and "_transactioncurrencyid_value" in yvonne


def test_simple_paging_and_top(api: Api) -> None:
    """PAGE "Simple paging": count and page without a cookie; `top` without paging."""
    _contacts(api, [{"lastname": f"P{i:02d}"} for i in range(10)])
    xml = "<fetch count='4' page='3'><entity name='contact'><attribute name='lastname'/><order attribute='lastname'/></entity></fetch>"
    assert [r["lastname"] for r in _fetch(api, "contacts", xml)["value"]] == ["P08", "P09"]
    top = "<fetch top='2'><entity name='contact'><attribute name='lastname'/><order attribute='lastname' descending='true'/></entity></fetch>"
    assert [r["lastname"] for r in _fetch(api, "contacts", top)["value"]] == ["P09", "P08"]


def test_condition_operators(api: Api) -> None:
    """FILTER / operators reference: eq, ne, like with wildcards, begins-with, in, between, null, not-null."""
    for name, staff, city in (
        ("Contoso", 10, "Redmond"),
        ("Fabrikam", 250, "Seattle"),
        ("Fourth Coffee", 5000, None),
        ("Litware", 40, "Redmond"),
    ):
        api.create("accounts", {"name": name, "numberofemployees": staff, **({"address1_city": city} if city else {})})

    def names(cond: str) -> list[str]:
        xml = f"<fetch><entity name='account'><attribute name='name'/><filter>{cond}</filter></entity></fetch>"
        return sorted(r["name"] for r in _fetch(api, "accounts", xml)["value"])

    assert names("<condition attribute='address1_city' operator='eq' value='redmond'/>") == ["Contoso", "Litware"]
    assert names("<condition attribute='name' operator='like' value='%o%'/>") == ["Contoso", "Fourth Coffee"]
    assert names("<condition attribute='name' operator='like' value='F_[ou]%'/>") == ["Fourth Coffee"]
    assert names("<condition attribute='name' operator='not-like' value='F%'/>") == ["Contoso", "Litware"]
    assert names("<condition attribute='name' operator='begins-with' value='Fa'/>") == ["Fabrikam"]
    assert names(
        "<condition attribute='name' operator='in'><value>Contoso</value><value>Litware</value></condition>"
    ) == [
        "Contoso",
        "Litware",
    ]
    between = (
        "<condition attribute='numberofemployees' operator='between'><value>40</value><value>250</value></condition>"
    )
    assert names(between) == ["Fabrikam", "Litware"]
    assert names("<condition attribute='address1_city' operator='null'/>") == ["Fourth Coffee"]
    assert names("<condition attribute='numberofemployees' operator='gt' value='100'/>") == [
        "Fabrikam",
        "Fourth Coffee",
    ]
    both = (
        "<filter type='or'><condition attribute='numberofemployees' operator='lt' value='20'/>"
        "<condition attribute='address1_city' operator='eq' value='Seattle'/></filter>"
    )
    assert names(both) == ["Contoso", "Fabrikam"]


def test_date_and_user_operators(api: Api) -> None:
    """Operators reference: today, last-x-days, on, on-or-after, eq-userid (clock-relative ones in UTC)."""
    now = datetime.now(UTC)
    for subject, due in (
        ("today", now),
        ("three days ago", now - timedelta(days=3)),
        ("last month", now - timedelta(days=40)),
    ):
        api.create("tasks", {"subject": subject, "scheduledend": due.strftime("%Y-%m-%dT%H:%M:%SZ")})

    def subjects(cond: str) -> list[str]:
        xml = f"<fetch><entity name='task'><attribute name='subject'/><filter>{cond}</filter></entity></fetch>"
        return sorted(r["subject"] for r in _fetch(api, "tasks", xml)["value"])

    assert subjects("<condition attribute='scheduledend' operator='today'/>") == ["today"]
    assert subjects("<condition attribute='scheduledend' operator='last-x-days' value='7'/>") == [
        "three days ago",
        "today",
    ]
    day = (now - timedelta(days=3)).date().isoformat()
    assert subjects(f"<condition attribute='scheduledend' operator='on' value='{day}'/>") == ["three days ago"]
    assert subjects(f"<condition attribute='scheduledend' operator='on-or-after' value='{day}'/>") == [
        "three days ago",
        "today",
    ]
    assert subjects("<condition attribute='ownerid' operator='eq-userid'/>") == [
        "last month",
        "three days ago",
        "today",
    ]
    assert subjects("<condition attribute='ownerid' operator='ne-userid'/>") == []


def test_link_entity_inner_and_outer(api: Api) -> None:
    """JOIN: link-entity from/to with an alias; columns come back as alias.column; filters inside the link."""
    ada = api.create("contacts", {"firstname": "Ada", "lastname": "Lovelace"})
    api.create("accounts", {"name": "With contact", "primarycontactid@odata.bind": f"contacts({ada})"})
    api.create("accounts", {"name": "Without contact"})
    link = (
        "<fetch><entity name='account'><attribute name='name'/><order attribute='name'/>"
        "<link-entity name='contact' from='contactid' to='primarycontactid' link-type='{kind}' alias='pc'>"
        "<attribute name='fullname'/>{flt}</link-entity></entity></fetch>"
    )
    inner = _fetch(api, "accounts", link.format(kind="inner", flt=""))["value"]
    assert [(r["name"], r["pc.fullname"]) for r in inner] == [("With contact", "Ada Lovelace")]
    outer = _fetch(api, "accounts", link.format(kind="outer", flt=""))["value"]
    assert [(r["name"], r.get("pc.fullname")) for r in outer] == [
        ("With contact", "Ada Lovelace"),
        ("Without contact", None),
    ]
    flt = "<filter><condition attribute='lastname' operator='eq' value='Babbage'/></filter>"
    assert _fetch(api, "accounts", link.format(kind="inner", flt=flt))["value"] == []


def test_aggregates_with_groupby(api: Api) -> None:
    """AGG: count, sum, avg, min, max with groupby and aliases."""
    for name, city, staff in (("a", "Leeds", 10), ("b", "Leeds", 30), ("c", "York", 5)):
        api.create("accounts", {"name": name, "address1_city": city, "numberofemployees": staff})
    xml = (
        "<fetch aggregate='true'><entity name='account'>"
        "<attribute name='address1_city' alias='city' groupby='true'/>"
        "<attribute name='accountid' alias='n' aggregate='count'/>"
        "<attribute name='numberofemployees' alias='total' aggregate='sum'/>"
        "<attribute name='numberofemployees' alias='average' aggregate='avg'/>"
        "<attribute name='numberofemployees' alias='most' aggregate='max'/>"
        "<order alias='city'/></entity></fetch>"
    )
    rows = _fetch(api, "accounts", xml)["value"]
    assert rows == [
        {"city": "Leeds", "n": 2, "total": 40, "average": 20, "most": 30},
        {"city": "York", "n": 1, "total": 5, "average": 5, "most": 5},
    ]


def test_formatted_values_and_wildcard_prefer(api: Api) -> None:
    """QOVER formatted values in FetchXML rows; `OData.Community.Display.V1.*` is a documented wildcard form."""
    api.create("accounts", {"name": "Choice", "accountcategorycode": 1})
    xml = "<fetch><entity name='account'><attribute name='accountcategorycode'/></entity></fetch>"
    row = _fetch(api, "accounts", xml, 'odata.include-annotations="OData.Community.Display.V1.*"')["value"][0]
    assert row["accountcategorycode@OData.Community.Display.V1.FormattedValue"] == "Preferred Customer"


def test_errors_name_the_problem(api: Api) -> None:
    """A FetchXML whose entity is not the set's table, an unknown column, malformed XML: 400 with a message."""
    for xml, fragment in (
        ("<fetch><entity name='contact'/></fetch>", "does not match"),
        ("<fetch><entity name='account'><attribute name='nosuch'/></entity></fetch>", "nosuch"),
        ("<fetch><entity name='account'>", "well-formed"),
    ):
        r = api.get(f"accounts?fetchXml={quote(xml)}")
        assert r.status_code == 400
        assert fragment in error_of(r)[1]


def test_aggregate_with_date_grouping(api: Api) -> None:
    """AGG "Date grouping": groupby on a date column with dategrouping='month' (or year) groups by that part."""
    for subject, due in (("a", "2026-01-05T10:00:00Z"), ("b", "2026-01-20T10:00:00Z"), ("c", "2026-03-02T10:00:00Z")):
        api.create("tasks", {"subject": subject, "scheduledend": due})
    xml = (
        "<fetch aggregate='true'><entity name='task'>"
        "<attribute name='scheduledend' alias='month' groupby='true' dategrouping='month'/>"
        "<attribute name='activityid' alias='n' aggregate='count'/>"
        "<order alias='month'/></entity></fetch>"
    )
    assert _fetch(api, "tasks", xml)["value"] == [{"month": 1, "n": 2}, {"month": 3, "n": 1}]
    year = xml.replace("dategrouping='month'", "dategrouping='year'").replace("alias='month'", "alias='y'")
    assert _fetch(api, "tasks", year)["value"] == [{"y": 2026, "n": 3}]
