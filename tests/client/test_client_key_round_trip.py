"""Alternate-key values in URL paths: property tests over arbitrary unicode references, through the sandbox over HTTP.

Every reference Dataverse can address must round-trip by upsert (PATCH by key), GET by key and UpsertMultiple's
``@odata.id``; every one it cannot (Microsoft's "Define alternate keys" list, control characters, blank) must be
refused by :mod:`connector.odata` before anything is sent. The expected values are the generated strings
themselves, never the code under test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector import odata

#: Microsoft, "Define alternate keys": values with these characters cannot be used to address a record.
DOCUMENTED_UNSAFE = set("/<>*%&:\\?+")
ACCOUNTNUMBER_MAX = 20  # the sandbox's (and Dataverse's) accountnumber column length


def addressable(value: str) -> bool:
    """Hand-written from the documented rule, independently of connector.odata."""
    return (
        bool(value.strip())
        and not (DOCUMENTED_UNSAFE & set(value))
        and not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value)
    )


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    import os

    from connector.config import load_settings
    from connector.dataverse import DataverseClient
    from connector.sandbox.server import SandboxOptions, SandboxServer

    with SandboxServer(SandboxOptions(port=0)) as sb:
        old = os.environ.get("FOI_SYNC_DATAVERSE__CLIENT_SECRET")
        os.environ["FOI_SYNC_DATAVERSE__CLIENT_SECRET"] = sb.client_secret
        try:
            dv = load_settings(
                None,
                dataverse={
                    "url": sb.url,
                    "client_id": sb.client_id,
                    "tenant_id": "sandbox",
                    "authority_host": sb.https_url,
                    "ca_bundle": str(sb.ca_bundle),
                },
            ).dataverse
            c = DataverseClient.from_settings(dv)
            try:
                yield c
            finally:
                c.close()
        finally:
            if old is None:
                os.environ.pop("FOI_SYNC_DATAVERSE__CLIENT_SECRET", None)
            else:
                os.environ["FOI_SYNC_DATAVERSE__CLIENT_SECRET"] = old


# Unicode of every category (surrogates cannot be UTF-8), biased towards the characters URLs and OData care about.
_URLISH = st.sampled_from(list(" '\"#()=,;$@!~.-_[]{}|^`\t\n\x00\x1f\x7f%&/+?:*<>\\é李🦊\u0301\u200b\u00a0"))
REFERENCES = st.text(
    alphabet=st.one_of(st.characters(blacklist_categories=("Cs",)), _URLISH), min_size=0, max_size=ACCOUNTNUMBER_MAX
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ref=REFERENCES)
def test_every_addressable_reference_round_trips_and_the_rest_are_refused_before_sending(client: Any, ref: str) -> None:
    key = {"accountnumber": ref}
    if not addressable(ref):
        with pytest.raises(odata.UnsafeKeyValue) as info:
            odata.record_path("accounts", key)
        message = str(info.value)
        assert "accountnumber" in message and any(w in message for w in ("remove", "give", "store"))
        # The client refuses it too, and UpsertMultiple reports it without sending.
        with pytest.raises(odata.UnsafeKeyValue):
            client.upsert("accounts", key, {"name": "never sent"})
        result = client.upsert_multiple("accounts", "account", [(key, {"name": "never sent"})])
        assert not result.ok
        return
    tag = str(abs(hash(ref)) % 10_000)
    rid = client.upsert("accounts", key, {"name": f"single {tag}"})
    got = client.retrieve("accounts", key, select=["accountnumber", "name"])
    assert got["accountnumber"] == ref and got["name"] == f"single {tag}"
    assert rid is None or got["accountid"] == rid
    # The same key as UpsertMultiple's @odata.id updates the same record (never a second one).
    result = client.upsert_multiple("accounts", "account", [(key, {"name": f"bulk {tag}"})])
    assert result.ok, result.summary()
    again = client.retrieve("accounts", key, select=["accountnumber", "name"])
    assert again["accountid"] == got["accountid"] and again["name"] == f"bulk {tag}"
    matches = list(client.query("accounts", select=["accountid"], filter=odata.eq("accountnumber", ref)))
    assert [m["accountid"] for m in matches] == [got["accountid"]]
    # Dataverse compares keys without case or trailing spaces (SQL collation): leave no record to collide with.
    client.delete("accounts", got["accountid"])


@pytest.mark.parametrize("ref", ["O'BRIEN X", "INJ/1' or 1 eq 1", "SPC/1 A B", "x' or 1 eq 1", "a''b", "#1 (x), y=2"])
def test_the_issue_references_are_encoded_for_the_path_segment(ref: str) -> None:
    safe = odata.key_safe(ref)
    path = odata.record_path("incidents", {"foi_reference": safe})
    inside = path[len("incidents(foi_reference=") : -1]
    assert " " not in inside and "#" not in inside and "," not in inside.strip("'")
    from urllib.parse import unquote

    assert unquote(inside)[1:-1].replace("''", "'") == safe


def test_refused_keys_say_why_and_what_to_do() -> None:
    for bad, why in [("FOI/1", "'/'"), ("  ", "only spaces"), ("A\x00B", "control character"), ("", "empty")]:
        with pytest.raises(odata.UnsafeKeyValue, match=why):
            odata.key({"foi_reference": bad})
