"""Reads: paging through nextLink, counts, change tracking with the resume point saved after every page."""

from __future__ import annotations

from typing import Any

import pytest

from connector import odata
from connector.dataverse.errors import DeltaTokenExpired


def _seed(dv_client: Any, n: int, prefix: str = "Q") -> None:
    items = [
        ({"accountnumber": f"{prefix}-{i:04d}"}, {"name": f"Query {i}", "telephone1": str(i % 3)}) for i in range(n)
    ]
    assert dv_client.upsert_multiple("accounts", "account", items).ok


def test_query_follows_next_links(sandbox: Any, dv_client: Any) -> None:
    _seed(dv_client, 53)
    sandbox.reset_stats()
    rows = list(dv_client.query("accounts", select=["name", "accountnumber"], page_size=10))
    assert len(rows) == 53 and len({r["accountid"] for r in rows}) == 53
    assert sandbox.stats()["GET accounts"] == 6  # 6 pages of at most 10
    filtered = list(dv_client.query("accounts", select=["name"], filter=odata.eq("telephone1", "1"), page_size=5))
    assert len(filtered) == 18
    ordered = list(dv_client.query("accounts", select=["accountnumber"], orderby="accountnumber desc", top=3))
    assert [r["accountnumber"] for r in ordered] == ["Q-0052", "Q-0051", "Q-0050"]
    assert dv_client.count("accounts", filter=odata.eq("telephone1", "2")) == 17
    with pytest.raises(ValueError):
        list(dv_client.query("accounts", orderby="name; drop"))


def test_change_tracking_saves_after_every_page_and_reports_expiry(sandbox: Any, dv_client: Any) -> None:
    _seed(dv_client, 25, "CT")
    saved: list[str] = []
    first = list(dv_client.changes("accounts", ["name", "accountnumber"], save=saved.append, page_size=10))
    assert len(first) == 25 and not any(c.deleted for c in first)
    assert len(saved) == 3  # after pages 1 and 2 (next links) and page 3 (the delta link)
    assert "$skiptoken" in saved[0] and "$deltatoken" in saved[-1]
    assert all(c.id == c.record["accountid"] for c in first)

    # Resuming from the point saved after page 1 yields the remaining 15 rows only.
    resumed = list(dv_client.changes("accounts", ["name"], delta_link=saved[0], page_size=10))
    assert len(resumed) == 15

    changed = first[0].id
    gone = first[1].id
    dv_client.update("accounts", changed, {"name": "Changed"})
    dv_client.delete("accounts", gone)
    delta_saved: list[str] = []
    delta = list(dv_client.changes("accounts", ["name"], delta_link=saved[-1], save=delta_saved.append))
    assert [(c.id, c.deleted) for c in delta] == [(changed, False), (gone, True)]
    assert delta[0].record["name"] == "Changed"
    assert len(delta_saved) == 1 and delta_saved[0] != saved[-1]

    sandbox.expire_change_tokens()
    with pytest.raises(DeltaTokenExpired, match="full sync"):
        list(dv_client.changes("accounts", ["name"], delta_link=delta_saved[0]))


def test_next_links_to_other_hosts_are_refused(dv_client: Any) -> None:
    from connector.errors import ConfigError

    with pytest.raises(ConfigError, match="refusing to send the access token"):
        list(dv_client.changes("accounts", ["name"], delta_link="https://evil.example/api/data/v9.2/accounts"))
