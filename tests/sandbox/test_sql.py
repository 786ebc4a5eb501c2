"""The read-only `?sql=` endpoint, as Microsoft's Python SDK 1.1.0 uses it.

Only the SDK's code shows this endpoint: `client.query.sql` sends `GET /<entity set>?sql=<SELECT ...>` and reads
`value` (and follows `@odata.nextLink`); its docstring lists the supported subset (SELECT [DISTINCT] [TOP n], FROM
with an alias, INNER/LEFT JOIN, WHERE comparisons, LIKE, IN, NOT IN, IS [NOT] NULL, BETWEEN, GROUP BY, ORDER BY,
OFFSET/FETCH, COUNT/SUM/AVG/MIN/MAX; no SELECT *). The sync client runs over --tls, the async one over http, and
the batch form as a part of a `$batch`. Expected rows are worked out by hand.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from PowerPlatform.Dataverse.aio.async_client import AsyncDataverseClient
from PowerPlatform.Dataverse.client import DataverseClient
from sandbox_support import Api, AsyncSandboxCredential, error_of

from connector.sandbox.server import SandboxServer


def _seed(c: DataverseClient | None, api: Api | None = None) -> None:
    def create(entity: str, body: dict[str, Any]) -> str:
        if c is not None:
            return str(c.records.create(entity, body))
        assert api is not None
        return api.create(entity + "s", body)

    alpha = create("account", {"name": "Alpha", "numberofemployees": 5, "address1_city": "Leeds"})
    beta = create("account", {"name": "Beta", "numberofemployees": 50, "address1_city": "York"})
    create("account", {"name": "Gamma", "numberofemployees": 500})
    for last, acc in (("Ann", alpha), ("Bob", alpha), ("Cy", beta)):
        create("contact", {"lastname": last, "parentcustomerid_account@odata.bind": f"/accounts({acc})"})


def _rows(c: DataverseClient, sql: str) -> list[dict[str, Any]]:
    return [dict(r) for r in c.query.sql(sql)]


def test_select_where_order_top(sdk_tls: tuple[DataverseClient, SandboxServer]) -> None:
    c, _ = sdk_tls
    _seed(c)
    assert _rows(c, "SELECT TOP 2 name, numberofemployees FROM account ORDER BY numberofemployees DESC") == [
        {"name": "Gamma", "numberofemployees": 500},
        {"name": "Beta", "numberofemployees": 50},
    ]
    assert _rows(c, "SELECT name FROM account WHERE numberofemployees BETWEEN 10 AND 100") == [{"name": "Beta"}]
    assert _rows(c, "SELECT name FROM account WHERE address1_city IS NULL") == [{"name": "Gamma"}]
    both = "SELECT name FROM account WHERE (name LIKE 'A%' OR name IN ('Gamma')) AND name NOT IN ('Beta') ORDER BY name"
    assert _rows(c, both) == [{"name": "Alpha"}, {"name": "Gamma"}]
    paged = "SELECT name FROM account ORDER BY name OFFSET 2 ROWS FETCH NEXT 2 ROWS ONLY"
    assert _rows(c, paged) == [{"name": "Gamma"}]
    assert _rows(
        c, "SELECT DISTINCT address1_city FROM account WHERE address1_city IS NOT NULL ORDER BY address1_city"
    ) == [
        {"address1_city": "Leeds"},
        {"address1_city": "York"},
    ]


def test_joins_and_aggregates(sdk_tls: tuple[DataverseClient, SandboxServer]) -> None:
    c, _ = sdk_tls
    _seed(c)
    counted = _rows(
        c,
        "SELECT a.name, COUNT(c.contactid) as cnt FROM account a JOIN contact c ON a.accountid = c.parentcustomerid "
        "GROUP BY a.name ORDER BY a.name",
    )
    assert counted == [{"name": "Alpha", "cnt": 2}, {"name": "Beta", "cnt": 1}]
    left = _rows(
        c,
        "SELECT c.lastname, a.name FROM contact c LEFT JOIN account a ON a.accountid = c.parentcustomerid "
        "ORDER BY c.lastname",
    )
    assert left == [
        {"lastname": "Ann", "name": "Alpha"},
        {"lastname": "Bob", "name": "Alpha"},
        {"lastname": "Cy", "name": "Beta"},
    ]
    totals = _rows(c, "SELECT SUM(numberofemployees) AS staff, MAX(numberofemployees) AS most FROM account")
    assert totals == [{"staff": 555, "most": 500}]
    frame = c.dataframe.sql("SELECT name FROM account WHERE numberofemployees > 10 ORDER BY name")
    assert list(frame["name"]) == ["Beta", "Gamma"]


def test_batch_and_async_forms(sdk_tls: tuple[DataverseClient, SandboxServer]) -> None:
    c, sb = sdk_tls
    _seed(c)
    batch = c.batch.new()
    batch.query.sql("SELECT name FROM account WHERE name = 'Beta'")
    result = batch.execute()
    assert [r["name"] for r in result.responses[0].data["value"]] == ["Beta"]

    async def scenario() -> list[Any]:
        ac = AsyncDataverseClient(sb.http_url, AsyncSandboxCredential(sb))
        try:
            return [dict(r) for r in await ac.query.sql("SELECT TOP 1 name FROM account ORDER BY name")]
        finally:
            await ac.aclose()

    assert asyncio.run(scenario()) == [{"name": "Alpha"}]


def test_refusals_name_the_problem(api: Api) -> None:
    _seed(None, api)
    for sql, fragment in (
        ("SELECT * FROM account", "SELECT *"),
        ("DELETE FROM account", "SELECT"),
        ("SELECT name FROM contact", "does not match"),
        ("SELECT name FROM account WHERE name IN (SELECT lastname FROM contact)", "not supported"),
        ("SELECT name FROM account a RIGHT JOIN contact c ON a.accountid = c.parentcustomerid", "INNER JOIN"),
    ):
        r = api.get(f"accounts?sql={quote(sql)}")
        assert r.status_code == 400, sql
        assert fragment in error_of(r)[1], (sql, error_of(r))
