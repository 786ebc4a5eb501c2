"""Microsoft's Python SDK 1.1.0 (powerplatform-dataverse-client) through the rest of its public API.

test_official_sdk.py and test_sdk_tables.py drive create/retrieve/update/delete, bulk, paging, upsert, $batch, tables,
columns, keys, relationships and files; this file drives what is left of `client.records`, `client.query`
(builder, fetchxml, the metadata helpers), `client.dataframe`, the batch's records/tables/dataframe operations and
`flush_cache`: the sync client over --tls and the async client over http and https. The requests the SDK sends are
those Learn documents (webapi/query, fetchxml/page-results, bulk-delete); where only the SDK's code shows the form
(BulkDelete for a list of ids, CreateEntities), the test says so. Expected values are written by hand.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pandas as pd
import pytest
from PowerPlatform.Dataverse.aio.async_client import AsyncDataverseClient
from PowerPlatform.Dataverse.client import DataverseClient
from PowerPlatform.Dataverse.models import filters as F
from PowerPlatform.Dataverse.models.relationship import ManyToManyRelationshipMetadata
from sandbox_support import AsyncSandboxCredential

from connector.sandbox.server import SandboxOptions, SandboxServer

# Deprecated methods are still public API in 1.1.0, and clients call them: they are driven on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _people(c: DataverseClient) -> list[str]:
    rows = [
        {"firstname": "Ada", "lastname": "Lovelace", "jobtitle": "Analyst", "annualincome": 52000},
        {"firstname": "Charles", "lastname": "Babbage", "jobtitle": "Engineer", "annualincome": 61000},
        {"firstname": "Grace", "lastname": "Hopper", "jobtitle": "Admiral"},
        {"firstname": "Alan", "lastname": "Turing", "jobtitle": "Analyst", "annualincome": 48000},
    ]
    return list(c.records.create("contact", rows))


def test_records_get_list_and_bulk_delete(sdk_tls: tuple[DataverseClient, SandboxServer]) -> None:
    """Learn webapi/query (filter, orderby, top, count, annotations); records.delete of a list sends BulkDelete
    (only the SDK's code shows that choice; Learn bulk-delete documents the message)."""
    c, sb = sdk_tls
    ids = _people(c)
    one = c.records.get("contact", ids[0], select=["fullname"])
    assert one["fullname"] == "Ada Lovelace"
    analysts = c.records.list(
        "contact", filter="jobtitle eq 'Analyst'", select=["fullname"], orderby=["lastname desc"], count=True
    )
    assert [r["fullname"] for r in analysts] == ["Alan Turing", "Ada Lovelace"]
    top = c.records.list("contact", select=["lastname"], orderby=["lastname"], top=2)
    assert [r["lastname"] for r in top] == ["Babbage", "Hopper"]
    fmt = c.records.list("contact", filter="lastname eq 'Babbage'", select=["annualincome"], include_annotations="*")
    assert fmt[0]["annualincome@OData.Community.Display.V1.FormattedValue"] == "£61,000.00"
    expr = c.records.list("contact", filter=F.col("annualincome") > 50000, select=["lastname"])
    assert sorted(r["lastname"] for r in expr) == ["Babbage", "Lovelace"]
    pages = list(c.records.get("contact", select=["lastname"], page_size=3))  # deprecated form, still public
    assert [len(p) for p in pages] == [3, 1]
    job = c.records.delete("contact", ids[:3])
    assert isinstance(job, str) and len(job) == 36
    assert [r["lastname"] for r in sb.rows("contact")] == ["Turing"]
    assert c.records.delete("contact", [ids[3]], use_bulk_delete=False) is None
    assert sb.rows("contact") == []


def test_query_builder_fetchxml_and_metadata_helpers(sdk_tls: tuple[DataverseClient, SandboxServer]) -> None:
    """Learn webapi/query (the builder's $select/$filter/$orderby/$top/$expand), fetchxml/page-results (the SDK
    pages FetchXML with the paging cookie and morerecords annotations), query-metadata-web-api (helpers)."""
    c, sb = sdk_tls
    _people(c)
    acc = c.records.create("account", {"name": "Analytical Engines"})
    ada = next(r["contactid"] for r in sb.rows("contact") if r["lastname"] == "Lovelace")
    c.records.update("account", acc, {"primarycontactid@odata.bind": f"/contacts({ada})"})
    q = (
        c.query.builder("contact")
        .select("fullname", "jobtitle")
        .where(F.eq("jobtitle", "Analyst") | F.eq("jobtitle", "Admiral"))
        .order_by("fullname", descending=True)
        .top(10)
    )
    assert [r["fullname"] for r in q.execute()] == ["Grace Hopper", "Alan Turing", "Ada Lovelace"]
    pages = list(c.query.builder("contact").select("lastname").order_by("lastname").page_size(2).execute_pages())
    assert [[r["lastname"] for r in p] for p in pages] == [["Babbage", "Hopper"], ["Lovelace", "Turing"]]
    df = c.query.builder("contact").select("lastname").where(F.between("annualincome", 50000, 70000)).to_dataframe()
    assert sorted(df["lastname"]) == ["Babbage", "Lovelace"]
    expanded = c.query.builder("account").select("name").expand("primarycontactid").execute()
    assert expanded[0]["primarycontactid"]["fullname"] == "Ada Lovelace"
    xml = (
        "<fetch count='2'><entity name='contact'><attribute name='lastname'/><order attribute='lastname'/>"
        "</entity></fetch>"
    )
    fx = c.query.fetchxml(xml)
    assert [[r["lastname"] for r in p] for p in fx.execute_pages()] == [["Babbage", "Hopper"], ["Lovelace", "Turing"]]
    assert [r["lastname"] for r in c.query.fetchxml(xml).execute()] == ["Babbage", "Hopper", "Lovelace", "Turing"]
    cols = {col["name"]: col for col in c.query.sql_columns("contact")}
    assert cols["contactid"]["is_pk"] and "lastname" in cols
    assert "lastname" in c.query.odata_select("contact")
    navs = {e["nav_property"] for e in c.query.odata_expands("account")}
    assert "primarycontactid" in navs
    assert c.query.odata_expand("account", "contact") == "primarycontactid"
    assert c.query.odata_bind("account", "contact", ada) == {"primarycontactid@odata.bind": f"/contacts({ada})"}
    assert c.flush_cache("picklist") >= 0


def test_dataframe_operations(sdk_tls: tuple[DataverseClient, SandboxServer]) -> None:
    """The dataframe helpers: CreateMultiple, UpdateMultiple-style updates, reads, and delete (Learn bulk ops)."""
    c, sb = sdk_tls
    frame = pd.DataFrame([{"name": "Frame one", "numberofemployees": 5}, {"name": "Frame two", "numberofemployees": 7}])
    ids = c.dataframe.create("account", frame)
    assert len(ids) == 2
    got = c.dataframe.get("account", select=["name", "numberofemployees"], orderby=["name"])
    assert list(got["name"]) == ["Frame one", "Frame two"]
    changes = pd.DataFrame([{"accountid": ids.iloc[0], "numberofemployees": 50}])
    c.dataframe.update("account", changes, id_column="accountid")
    one = c.dataframe.get("account", ids.iloc[0], select=["numberofemployees"])
    assert int(one["numberofemployees"].iloc[0]) == 50
    c.dataframe.delete("account", ids, use_bulk_delete=False)
    assert sb.rows("account") == []


def test_batch_records_tables_and_dataframe(sdk_tls: tuple[DataverseClient, SandboxServer]) -> None:
    """Learn execute-batch-operations-using-web-api: the batch's record reads and upserts, table definition
    operations and dataframe creates, each a part of one multipart request."""
    c, sb = sdk_tls
    acc = c.records.create("account", {"name": "Before batch", "accountnumber": "B-1"})
    batch = c.batch.new()
    batch.records.get("account", acc, select=["name"])
    batch.records.retrieve("account", acc, select=["accountnumber"])
    batch.records.list("account", select=["name"], filter="startswith(name,'Before')")
    batch.records.update("account", acc, {"telephone1": "555"})
    batch.records.upsert(
        "account", [{"alternate_key": {"accountnumber": "B-2"}, "record": {"name": "Upserted in batch"}}]
    )
    batch.tables.get("account")
    batch.tables.list(filter="LogicalName eq 'contact'")
    batch.tables.get_relationship("account_primary_contact")
    batch.dataframe.create("contact", pd.DataFrame([{"lastname": "From a frame"}]))
    result = batch.execute()
    assert all(r.is_success for r in result.responses), [(r.status_code, r.data) for r in result.failed]
    assert result.responses[0].data["name"] == "Before batch"
    assert result.responses[1].data["accountnumber"] == "B-1"
    assert [r["name"] for r in result.responses[2].data["value"]] == ["Before batch"]
    assert {r["name"] for r in sb.rows("account")} == {"Before batch", "Upserted in batch"}
    assert [r["lastname"] for r in sb.rows("contact")] == ["From a frame"]
    # table definitions inside a batch: create, add a column, then delete
    b2 = c.batch.new()
    b2.tables.create("new_Batchy", {"new_Size": "int"})
    assert all(r.is_success for r in b2.execute().responses)
    b3 = c.batch.new()
    b3.tables.add_columns("new_Batchy", {"new_Colour": "string"})
    b3.records.delete("account", acc)
    assert all(r.is_success for r in b3.execute().responses)
    assert c.tables.get_column("new_Batchy", "new_colour") is not None
    # relationship definitions inside a batch (Learn create-update-entity-relationships-using-web-api)
    b5 = c.batch.new()
    b5.tables.create_lookup_field("new_Batchy", "new_BatchAccountId", "account")
    b5.tables.create_many_to_many_relationship(
        ManyToManyRelationshipMetadata(
            schema_name="new_batchy_contact", entity1_logical_name="new_batchy", entity2_logical_name="contact"
        )
    )
    assert all(r.is_success for r in b5.execute().responses)
    n2n = c.tables.get_relationship("new_batchy_contact")
    assert n2n is not None and n2n.relationship_type == "many_to_many"
    b6 = c.batch.new()
    b6.tables.delete_relationship(n2n.relationship_id)
    assert all(r.is_success for r in b6.execute().responses)
    assert c.tables.get_relationship("new_batchy_contact") is None
    b4 = c.batch.new()
    b4.tables.remove_columns("new_Batchy", ["new_Colour"])
    b4.tables.delete("new_Batchy")
    assert all(r.is_success for r in b4.execute().responses)
    assert c.tables.get("new_Batchy") is None


def test_async_client_records_and_queries_over_http_and_https() -> None:
    """The async client's records, query builder, FetchXML and table reads, over plain http and over https."""
    with SandboxServer(SandboxOptions(port=0)) as sb:
        import aiohttp.connector

        aiohttp.connector._SSL_CONTEXT_VERIFIED.load_verify_locations(cafile=str(sb.ca_bundle))

        async def scenario(base: str, tag: str) -> None:
            c = AsyncDataverseClient(base, AsyncSandboxCredential(sb))
            try:
                ids = await c.records.create(
                    "contact", [{"lastname": f"{tag}{i}", "jobtitle": "Clerk"} for i in range(5)]
                )
                assert len(ids) == 5
                one = await c.records.retrieve("contact", ids[0], select=["lastname"])
                assert one["lastname"] == f"{tag}0"
                listed = await c.records.list(
                    "contact", filter=f"startswith(lastname,'{tag}')", select=["lastname"], orderby=["lastname desc"]
                )
                assert [r["lastname"] for r in listed][:2] == [f"{tag}4", f"{tag}3"]
                built = await (
                    c.query.builder("contact").select("lastname").where(F.startswith("lastname", tag)).top(2).execute()
                )
                assert len(built) == 2
                xml = (
                    f"<fetch count='2'><entity name='contact'><attribute name='lastname'/>"
                    f"<filter><condition attribute='lastname' operator='like' value='{tag}%'/></filter>"
                    "<order attribute='lastname'/></entity></fetch>"
                )
                rows = await c.query.fetchxml(xml).execute()
                assert [r["lastname"] for r in rows] == [f"{tag}{i}" for i in range(5)]
                tables = await c.tables.list(filter="LogicalName eq 'lead'")
                assert [t["LogicalName"] for t in tables] == ["lead"]
                sizes = [len(p) async for p in c.records.list_pages("contact", select=["lastname"], page_size=2)]
                assert sum(sizes) == 5 and max(sizes) == 2
                assert "contactid" in {col["name"] for col in await c.query.sql_columns("contact")}
                assert "parentcustomerid_account" in {e["nav_property"] for e in await c.query.odata_expands("contact")}
                # table definitions: a table, a key, a column update, relationships
                name = f"new_{tag}Item"
                await c.tables.create(name, {"new_Code": "string"})
                key = await c.tables.create_alternate_key(name, f"new_{tag.lower()}item_code", ["new_code"])
                assert [k.schema_name for k in await c.tables.get_alternate_keys(name)] == [key.schema_name]
                await c.tables.update_column(name, "new_code", {"max_length": 40})
                assert (await c.tables.get_column(name, "new_code"))["MaxLength"] == 40
                assert "new_code" in {
                    col["LogicalName"] for col in await c.tables.list_columns(name, select=["LogicalName"])
                }
                rel = await c.tables.create_lookup_field(name, f"new_{tag}AccountId", "account")
                got = await c.tables.get_relationship(rel.relationship_schema_name)
                assert got is not None and got.referenced_entity == "account"
                mine = {r["SchemaName"] for r in await c.tables.list_table_relationships(name)}
                assert rel.relationship_schema_name in mine
                await c.tables.delete_relationship(rel.relationship_id)
                await c.tables.delete_alternate_key(name, key.metadata_id)
                await c.tables.delete(name)
                assert await c.tables.get(name) is None
                job = await c.records.delete("contact", ids)
                assert isinstance(job, str)
                assert len(await c.records.list("contact", filter=f"startswith(lastname,'{tag}')")) == 0
            finally:
                await c.aclose()

        asyncio.run(scenario(sb.http_url, "Http"))
        asyncio.run(scenario(sb.https_url, "Https"))


def test_async_files_batch_and_dataframe_over_http_and_https(tmp_path: Any) -> None:
    """The async client's file upload (Learn file-column-data), batch with a change set (execute-batch-operations)
    and dataframe helpers (bulk create, update, SQL read, delete), over http and https."""
    with SandboxServer(SandboxOptions(port=0)) as sb:
        import aiohttp.connector

        aiohttp.connector._SSL_CONTEXT_VERIFIED.load_verify_locations(cafile=str(sb.ca_bundle))
        note = tmp_path / "note.txt"
        note.write_bytes(b"async upload")

        async def scenario(base: str, tag: str) -> None:
            c = AsyncDataverseClient(base, AsyncSandboxCredential(sb))
            try:
                acc = await c.records.create("account", {"name": f"{tag} files"})
                await c.files.upload("account", acc, f"new_{tag}Doc", str(note))
                rows = [r for r in sb.rows("account") if r["accountid"] == acc]
                assert rows[0][f"new_{tag.lower()}doc_name"] == "note.txt"
                batch = c.batch.new()
                async with batch.changeset() as cs:
                    ref = cs.records.create("contact", {"lastname": f"{tag} in changeset"})
                    cs.records.create("account", {"name": f"{tag} bound", "primarycontactid@odata.bind": ref})
                batch.records.retrieve("account", acc, select=["name"])
                result = await batch.execute()
                assert [r.status_code for r in result.responses][:2] == [204, 204]
                assert result.responses[2].data["name"] == f"{tag} files"
                ids = await c.dataframe.create("contact", pd.DataFrame([{"lastname": f"{tag} frame"}]))
                await c.dataframe.update(
                    "contact", pd.DataFrame([{"contactid": ids.iloc[0], "jobtitle": "Clerk"}]), id_column="contactid"
                )
                df = await c.dataframe.sql(f"SELECT lastname, jobtitle FROM contact WHERE lastname = '{tag} frame'")
                assert list(df["jobtitle"]) == ["Clerk"]
                await c.dataframe.delete("contact", ids, use_bulk_delete=False)
            finally:
                await c.aclose()

        asyncio.run(scenario(sb.http_url, "Http"))
        asyncio.run(scenario(sb.https_url, "Https"))
