"""Microsoft's official Python SDK (powerplatform-dataverse-client 1.1.0, pinned) works unchanged against the sandbox.

A real client not written here: the sync client over --tls with the sandbox CA bundle (the SDK insists on https) and
the async client over plain http. The only test double is the credential: Entra ID cannot issue tokens for a
loopback resource, so a ten-line TokenCredential returns tokens the sandbox itself issued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from PowerPlatform.Dataverse.aio.async_client import AsyncDataverseClient
from PowerPlatform.Dataverse.client import DataverseClient
from PowerPlatform.Dataverse.core.errors import HttpError
from PowerPlatform.Dataverse.models.upsert import UpsertItem
from sandbox_support import AsyncSandboxCredential, SandboxCredential

from connector.sandbox.limits import LimitOptions
from connector.sandbox.server import SandboxOptions, SandboxServer


@pytest.fixture
def tls_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    with SandboxServer(SandboxOptions(port=0, tls=True)) as sb:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sb.ca_bundle))
        yield sb


def test_sync_client_refuses_plain_http(sandbox: Any) -> None:
    # Why --tls exists: DataverseClient 1.x rejects a non-https base URL.
    with pytest.raises(ValueError, match="HTTPS"):
        DataverseClient(sandbox.url, SandboxCredential(sandbox))


def test_sync_client_crud_paging_and_bulk(tls_sandbox: SandboxServer) -> None:
    sb = tls_sandbox
    cred = SandboxCredential(sb)
    client = DataverseClient(sb.url, cred)
    try:
        # create (POST, id from OData-EntityId), get, update, delete
        rid = client.records.create(
            "account", {"name": "Contoso Ltd", "accountnumber": "SDK-1", "accountcategorycode": 1}
        )
        assert cred.scopes[0] == f"{sb.url}/.default"
        row = client.records.retrieve("account", rid, select=["name", "accountnumber"])
        assert row is not None and row["name"] == "Contoso Ltd" and row["accountnumber"] == "SDK-1"
        client.records.update("account", rid, {"telephone1": "555-0100"})
        assert client.records.retrieve("account", rid, select=["telephone1"])["telephone1"] == "555-0100"
        # choice labels are converted to ints through the PicklistAttributeMetadata cast
        client.records.update("account", rid, {"accountcategorycode": "Standard"})
        assert client.records.retrieve("account", rid, select=["accountcategorycode"])["accountcategorycode"] == 2
        client.records.delete("account", rid)
        assert client.records.retrieve("account", rid) is None
        # CreateMultiple: a list creates through the bulk action and returns ids in order
        ids = client.records.create("account", [{"name": f"Bulk {i:02d}"} for i in range(25)])
        assert len(ids) == 25
        assert client.records.retrieve("account", ids[7], select=["name"])["name"] == "Bulk 07"
        # paged query: odata.maxpagesize + @odata.nextLink
        pages = list(
            client.records.list_pages("account", select=["name"], page_size=10, filter="startswith(name,'Bulk')")
        )
        assert [len(p) for p in pages] == [10, 10, 5]
        names = [r["name"] for p in pages for r in p]
        assert sorted(names) == [f"Bulk {i:02d}" for i in range(25)]
        # UpsertMultiple with an alternate key (targets carry @odata.id, no key columns)
        client.records.upsert(
            "account",
            [
                UpsertItem(alternate_key={"accountnumber": "UP-1"}, record={"name": "Upserted one"}),
                UpsertItem(alternate_key={"accountnumber": "UP-2"}, record={"name": "Upserted two"}),
            ],
        )
        client.records.upsert(
            "account", [UpsertItem(alternate_key={"accountnumber": "UP-1"}, record={"name": "Renamed"})]
        )
        got = {
            r["accountnumber"]: r["name"]
            for r in sb.rows("account")
            if (r.get("accountnumber") or "").startswith("UP-")
        }
        assert got == {"UP-1": "Renamed", "UP-2": "Upserted two"}
    finally:
        client.close()


def test_sync_client_surfaces_429(monkeypatch: pytest.MonkeyPatch) -> None:
    with SandboxServer(SandboxOptions(port=0, tls=True, limits=LimitOptions(requests=3, window_seconds=30))) as sb:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sb.ca_bundle))
        client = DataverseClient(sb.url, SandboxCredential(sb))
        try:
            with pytest.raises(HttpError) as info:
                for i in range(5):
                    client.records.create("account", {"name": f"Throttled {i}"})
            err = info.value
            assert err.status_code == 429 and err.is_transient
            assert isinstance(err.details["retry_after"], int) and 1 <= err.details["retry_after"] <= 30
            assert err.details.get("service_error_code") in (None, "0x80072322")
        finally:
            client.close()


def test_async_client_over_http(sandbox: Any) -> None:
    async def scenario() -> None:
        client = AsyncDataverseClient(sandbox.url, AsyncSandboxCredential(sandbox))
        try:
            rid = await client.records.create("contact", {"firstname": "Ada", "lastname": "Lovelace"})
            row = await client.records.retrieve("contact", rid, select=["fullname"])
            assert row is not None and row["fullname"] == "Ada Lovelace"
            await client.records.update("contact", rid, {"jobtitle": "Analyst"})
            assert (await client.records.retrieve("contact", rid, select=["jobtitle"]))["jobtitle"] == "Analyst"
            ids = await client.records.create("contact", [{"lastname": f"Bulk {i}"} for i in range(12)])
            assert len(ids) == 12
            sizes = [len(p) async for p in client.records.list_pages("contact", select=["lastname"], page_size=5)]
            assert sizes == [5, 5, 3]
            await client.records.upsert(
                "account",
                [
                    UpsertItem(alternate_key={"accountnumber": "AS-1"}, record={"name": "Async one"}),
                    UpsertItem(alternate_key={"accountnumber": "AS-2"}, record={"name": "Async two"}),
                ],
            )
            assert sorted(r["name"] for r in sandbox.rows("account")) == ["Async one", "Async two"]
            await client.records.delete("contact", rid)
            assert await client.records.retrieve("contact", rid) is None
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_async_client_surfaces_429() -> None:
    with SandboxServer(SandboxOptions(port=0, limits=LimitOptions(requests=2, window_seconds=30))) as sb:

        async def scenario() -> HttpError:
            client = AsyncDataverseClient(sb.url, AsyncSandboxCredential(sb))
            try:
                for i in range(5):
                    await client.records.create("account", {"name": f"Throttled {i}"})
            except HttpError as exc:
                return exc
            finally:
                await client.aclose()
            raise AssertionError("no 429")

        err = asyncio.run(scenario())
        assert err.status_code == 429 and err.details["retry_after"] >= 1


def test_sync_client_batch_with_changeset(tls_sandbox: SandboxServer) -> None:
    # The SDK's $batch: multipart with a change set whose second create binds to the first ("$1"), a plain part
    # after it, and continue_on_error (Prefer: odata.continue-on-error).
    sb = tls_sandbox
    client = DataverseClient(sb.url, SandboxCredential(sb))
    try:
        batch = client.batch.new()
        with batch.changeset() as cs:
            ref = cs.records.create("contact", {"firstname": "Ada", "lastname": "Lovelace"})
            cs.records.create("account", {"name": "Babbage & Co", "primarycontactid@odata.bind": ref})
        batch.records.create("task", {"subject": "x" * 201})  # too long: fails
        batch.records.create("task", {"subject": "after the failure"})
        result = batch.execute(continue_on_error=True)
        assert [r.status_code for r in result.responses] == [204, 204, 400, 204]
        assert len(result.failed) == 1
        acc = next(r for r in sb.rows("account") if r["name"] == "Babbage & Co")
        contact = next(r for r in sb.rows("contact") if r["lastname"] == "Lovelace")
        assert acc["_primarycontactid_value"] == contact["contactid"]
        assert [t["subject"] for t in sb.rows("task")] == ["after the failure"]
    finally:
        client.close()
