"""OData literals, keys and filters: unit checks, then round trips through the sandbox over HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from connector import odata


def test_literals_are_quoted_and_escaped() -> None:
    assert odata.literal("O'Brien") == "'O''Brien'"
    assert odata.literal("a&b+c/d?e#f") == "'a%26b%2Bc%2Fd%3Fe%23f'"
    assert odata.literal(42) == "42"
    assert odata.literal(Decimal("12.50")) == "12.50"
    assert odata.literal(1e20) == "1e%2B20"
    assert odata.literal(True) == "true"
    assert odata.literal(None) == "null"
    assert odata.literal(date(2024, 1, 31)) == "2024-01-31"
    assert odata.literal(datetime(2024, 1, 31, 9, 30, tzinfo=UTC)) == "2024-01-31T09:30:00Z"
    g = uuid.UUID("6E1C7A91-863C-56D0-B666-C30BB9D634A8")
    assert odata.literal(g) == "6e1c7a91-863c-56d0-b666-c30bb9d634a8"
    with pytest.raises(ValueError, match="timezone-aware"):
        odata.literal(datetime(2024, 1, 1))
    with pytest.raises(ValueError):
        odata.eq("name) or (1 eq 1", "x")


def test_keys_and_key_safe_references() -> None:
    gid = "6E1C7A91-863C-56D0-B666-C30BB9D634A8"
    assert odata.record_path("incidents", gid) == "incidents(6e1c7a91-863c-56d0-b666-c30bb9d634a8)"
    assert (
        odata.record_path("incidents", {"ticketnumber": "FOI-2024-0123"}) == "incidents(ticketnumber='FOI-2024-0123')"
    )
    assert odata.key({"a": "x", "b": 2}) == "a='x',b=2"
    assert odata.key({"_parentcustomerid_value": gid}) == f"_parentcustomerid_value={gid.lower()}"
    assert odata.key_safe("FOI/2024/0123") == "FOI-2024-0123"
    assert odata.key_safe("EIR 2024:17?") == "EIR 2024-17-"
    for bad in "/<>*%&:\\?+":
        with pytest.raises(odata.UnsafeKeyValue, match="key_safe"):
            odata.key({"ticketnumber": f"FOI{bad}1"})
    with pytest.raises(ValueError, match="not a GUID"):
        odata.key("FOI-1")


def test_filters_and_keys_round_trip_through_the_sandbox(dv_client: Any) -> None:
    tricky = ["O'Brien & Sons", "50% + VAT / year?", "Ünïcödé #1", "comma, semi; eq 'x'"]
    ids = {name: dv_client.create("accounts", {"name": name}) for name in tricky}
    for name, rid in ids.items():
        rows = list(dv_client.query("accounts", select=["name"], filter=odata.eq("name", name)))
        assert [r["accountid"] for r in rows] == [rid], name
    rows = list(dv_client.query("accounts", select=["name"], filter=odata.any_of("name", tricky[:2])))
    assert {r["name"] for r in rows} == set(tricky[:2])
    # An alternate key holding a quote is addressed with the quote doubled.
    dv_client.upsert("accounts", {"accountnumber": "O'NEIL-1"}, {"name": "quoted key"})
    assert dv_client.retrieve("accounts", {"accountnumber": "O'NEIL-1"}, select=["name"])["name"] == "quoted key"
    # Dates and numbers in filters.
    dv_client.create(
        "incidents",
        {
            "title": "dated",
            "followupby": "2024-03-01T10:00:00Z",
            "customerid_account@odata.bind": odata.bind("accounts", ids[tricky[0]]),
        },
    )
    since = datetime(2024, 2, 1, tzinfo=UTC)
    rows = list(dv_client.query("incidents", select=["title"], filter=odata.cmp("followupby", "gt", since)))
    assert [r["title"] for r in rows] == ["dated"]


def test_key_lists_are_split_into_filters_that_fit_a_get_url() -> None:
    from connector import odata

    values = [f"FOI-2025-{i:05d}" for i in range(1000)] + ["O'Brien"]
    batches = list(odata.any_of_batches("foi_reference", values, max_chars=2000))
    assert len(batches) > 1 and all(len(b) <= 2000 for b in batches)
    joined = " or ".join(b.strip("()") for b in batches)
    assert joined.count(" eq ") == len(values)  # every value once, none dropped
    assert "foi_reference eq 'O''Brien'" in joined  # escaped in the one place
    assert list(odata.any_of_batches("foi_reference", [])) == []
