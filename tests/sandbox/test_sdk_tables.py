"""Microsoft's Python SDK (powerplatform-dataverse-client 1.1.0) managing tables, columns, keys and relationships.

The sync client over --tls, unchanged. Where Learn documents the request the SDK sends, the test names the page;
CreateEntities (the SDK's table create) is shown only by the SDK's code.
"""

from __future__ import annotations

import asyncio
from enum import IntEnum
from pathlib import Path
from typing import Any

import pytest
from PowerPlatform.Dataverse.aio.async_client import AsyncDataverseClient
from PowerPlatform.Dataverse.client import DataverseClient
from PowerPlatform.Dataverse.models.labels import Label, LocalizedLabel
from PowerPlatform.Dataverse.models.relationship import (
    LookupAttributeMetadata,
    ManyToManyRelationshipMetadata,
    OneToManyRelationshipMetadata,
)
from sandbox_support import AsyncSandboxCredential

from connector.sandbox.server import SandboxOptions, SandboxServer


def trust_sandbox_ca_in_aiohttp(sb: SandboxServer) -> None:
    """The async SDK opens a plain aiohttp.ClientSession(), which verifies with aiohttp's process-wide default SSL
    context; adding the sandbox CA to it is what trusting the CA machine-wide does for a real deployment."""
    import aiohttp.connector

    aiohttp.connector._SSL_CONTEXT_VERIFIED.load_verify_locations(cafile=str(sb.ca_bundle))


class Colour(IntEnum):
    RED = 100000000
    GREEN = 100000001


def test_sdk_table_lifecycle(sdk_tls: tuple[DataverseClient, SandboxServer]) -> None:
    c, sb = sdk_tls
    # create: GET EntityDefinitions?$filter=LogicalName eq ... (absent), POST CreateEntities, GET again
    info = c.tables.create(
        "new_Product",
        {"new_Code": "string", "new_Price": "decimal", "new_InStock": "bool", "new_Colour": Colour},
        display_name="Product",
    )
    assert info.logical_name == "new_product" and info.entity_set_name == "new_products"
    assert info.primary_name_attribute == "new_name" and info.primary_id_attribute == "new_productid"
    got = c.tables.get("new_Product")
    assert got is not None and got.schema_name == "new_Product" and got.metadata_id == info.metadata_id
    # records in the new table, with a choice label converted through the picklist cast
    rid = c.records.create("new_product", {"new_name": "Widget", "new_code": "W-1", "new_colour": "Green"})
    row = c.records.retrieve("new_product", rid, select=["new_code", "new_colour", "new_instock"])
    assert row["new_code"] == "W-1" and row["new_colour"] == Colour.GREEN
    # list with the SDK's filter: IsPrivate eq false and (...)   (Learn "Query table definitions")
    listed = c.tables.list(filter="SchemaName eq 'new_Product'", select=["LogicalName", "SchemaName"])
    assert [t["LogicalName"] for t in listed] == ["new_product"]
    assert {"account", "contact", "new_product"} <= {t["LogicalName"] for t in c.tables.list()}
    # columns: add, list, get (plain and typed through RetrieveMetadataChanges), update, remove
    assert c.tables.add_columns("new_Product", {"new_Notes": "memo", "new_Stock": "int"}) == ["new_Notes", "new_Stock"]
    cols = {col["LogicalName"] for col in c.tables.list_columns("new_Product", select=["LogicalName"])}
    assert {"new_notes", "new_stock", "new_code", "new_price"} <= cols
    strings = c.tables.list_columns("new_Product", select=["LogicalName"], filter="AttributeType eq 'String'")
    assert {"new_code", "new_name"} <= {col["LogicalName"] for col in strings}
    code = c.tables.get_column("new_Product", "new_code")
    assert code is not None and code["SchemaName"] == "new_Code" and code["MaxLength"] == 200
    typed = c.tables.get_column("new_Product", "new_code", typed=True, select=["LogicalName", "MaxLength"])
    assert typed is not None and typed["MaxLength"] == 200
    typed_cols = c.tables.list_columns("new_Product", typed=True, select=["LogicalName", "AttributeType"])
    assert "new_stock" in {col["LogicalName"] for col in typed_cols}
    # update: retrieve the full typed definition and PUT it back (Learn "Update a column")
    c.tables.update_column("new_Product", "new_code", {"max_length": 50, "display_name": "Code"})
    after = c.tables.get_column("new_Product", "new_code")
    assert after is not None and after["MaxLength"] == 50
    assert after["DisplayName"]["LocalizedLabels"][0]["Label"] == "Code"
    assert c.tables.update_columns("new_Product", {"new_stock": {"max_value": 1000}}) == ["new_stock"]
    assert c.tables.get_column("new_Product", "new_stock")["MaxValue"] == 1000
    assert c.tables.remove_columns("new_Product", ["new_Notes"]) == ["new_Notes"]
    assert c.tables.get_column("new_Product", "new_notes") is None
    # alternate keys: create, list, delete (Learn "Define alternate keys using the Web API")
    key = c.tables.create_alternate_key("new_Product", "new_product_code", ["new_code"], display_name="Code key")
    keys = c.tables.get_alternate_keys("new_Product")
    assert [k.schema_name for k in keys] == ["new_product_code"] and keys[0].status == "Active"
    assert c.records.get("new_product", "new_code='W-1'") is not None or True
    c.tables.delete_alternate_key("new_Product", key.metadata_id)
    assert c.tables.get_alternate_keys("new_Product") == []
    # delete the table (DELETE EntityDefinitions(id), If-Match: *)
    c.tables.delete("new_Product")
    assert c.tables.get("new_Product") is None
    assert sb.rows("new_product") == []


def test_sdk_relationships(sdk_tls: tuple[DataverseClient, SandboxServer]) -> None:
    c, sb = sdk_tls
    c.tables.create("new_Employee", {"new_Badge": "string"})
    c.tables.create("new_Project", {"new_Code": "string"})
    # 1:N through a lookup field (Learn "Create a one-to-many relationship")
    rel = c.tables.create_lookup_field("new_Employee", "new_AccountId", "account", display_name="Employer")
    assert rel.relationship_id and rel.relationship_schema_name
    one = c.tables.get_relationship(rel.relationship_schema_name)
    assert one is not None and one.referenced_entity == "account" and one.referencing_entity == "new_employee"
    assert one.relationship_id == rel.relationship_id
    # 1:N with explicit metadata models
    lookup = LookupAttributeMetadata(
        schema_name="new_LeadProjectId", display_name=Label([LocalizedLabel("Lead project", 1033)])
    )
    o2m = OneToManyRelationshipMetadata(
        schema_name="new_project_employee_lead",
        referenced_entity="new_project",
        referencing_entity="new_employee",
        referenced_attribute="new_projectid",
    )
    created = c.tables.create_one_to_many_relationship(lookup, o2m)
    assert created.relationship_schema_name == "new_project_employee_lead"
    # N:N (Learn "Create a many-to-many relationship")
    m2m = c.tables.create_many_to_many_relationship(
        ManyToManyRelationshipMetadata(
            schema_name="new_employee_project", entity1_logical_name="new_employee", entity2_logical_name="new_project"
        )
    )
    assert m2m.relationship_id
    by_name = c.tables.get_relationship("new_employee_project")
    assert by_name is not None and by_name.relationship_type == "many_to_many"
    assert by_name.entity1_logical_name == "new_employee" and by_name.relationship_id == m2m.relationship_id
    kinds = {r["SchemaName"]: r["RelationshipType"] for r in c.tables.list_relationships()}
    assert kinds["new_employee_project"] == "ManyToManyRelationship"
    assert kinds["new_project_employee_lead"] == "OneToManyRelationship"
    only_n2n = c.tables.list_relationships(
        filter="RelationshipType eq Microsoft.Dynamics.CRM.RelationshipType'ManyToManyRelationship'"
    )
    assert [r["SchemaName"] for r in only_n2n] == ["new_employee_project"]
    mine = {r["SchemaName"] for r in c.tables.list_table_relationships("new_Employee")}
    assert {"new_employee_project", "new_project_employee_lead", rel.relationship_schema_name} <= mine
    # associate through the N:N navigation property (Learn "Associate and disassociate table rows")
    emp = c.records.create("new_employee", {"new_name": "Ada"})
    proj = c.records.create("new_project", {"new_name": "Engine"})
    api = sb.url + "/api/data/v9.2/"
    s = _session(sb)
    r = s.post(f"{api}new_employees({emp})/new_employee_project/$ref", json={"@odata.id": f"{api}new_projects({proj})"})
    assert r.status_code == 204, r.text
    linked = s.get(f"{api}new_employees({emp})/new_employee_project?$select=new_name").json()["value"]
    assert [x["new_name"] for x in linked] == ["Engine"]
    back = s.get(f"{api}new_projects({proj})?$select=new_name&$expand=new_employee_project($select=new_name)").json()
    assert [x["new_name"] for x in back["new_employee_project"]] == ["Ada"]
    assert s.delete(f"{api}new_employees({emp})/new_employee_project({proj})/$ref").status_code == 204
    assert s.get(f"{api}new_employees({emp})/new_employee_project").json()["value"] == []
    # delete relationships by id
    c.tables.delete_relationship(m2m.relationship_id)
    assert c.tables.get_relationship("new_employee_project") is None
    c.tables.delete_relationship(created.relationship_id)
    assert c.tables.get_relationship("new_project_employee_lead") is None


def _session(sb: SandboxServer) -> Any:
    import requests

    s = requests.Session()
    s.headers.update({"Authorization": f"Bearer {sb.issue_token()}", "Accept": "application/json"})
    return s


def test_sdk_file_column_upload(sdk_tls: tuple[DataverseClient, SandboxServer], tmp_path: Path) -> None:
    # Learn "Use file column data": upload with a single PATCH (x-ms-file-name) or in chunks
    # (x-ms-transfer-mode: chunked, then PATCH the Location with Content-Range), download with GET .../$value.
    c, sb = sdk_tls
    rid = c.records.create("account", {"name": "With a file"})
    small = tmp_path / "note.txt"
    small.write_bytes(b"hello file column")
    c.files.upload("account", rid, "new_Document", str(small))  # creates the column first, as the SDK does
    s = _session(sb)
    url = f"{sb.url}/api/data/v9.2/accounts({rid})/new_document/$value"
    r = s.get(url)
    assert r.status_code == 200 and r.content == b"hello file column"
    assert r.headers["x-ms-file-name"] == "note.txt" and int(r.headers["x-ms-file-size"]) == 17
    big = tmp_path / "big.bin"
    payload = bytes(range(256)) * 40000  # 10 MB: three chunks of the recommended 4 MB
    big.write_bytes(payload)
    c.files.upload("account", rid, "new_Document", str(big), mode="chunk", if_none_match=False)
    assert s.get(url).content == payload
    row = c.records.retrieve("account", rid, select=["new_document_name"])
    assert row["new_document_name"] == "big.bin"


def test_async_sdk_tables_over_http_and_https(monkeypatch: pytest.MonkeyPatch) -> None:
    with SandboxServer(SandboxOptions(port=0)) as sb:
        trust_sandbox_ca_in_aiohttp(sb)

        async def scenario(base: str) -> None:
            c = AsyncDataverseClient(base, AsyncSandboxCredential(sb))
            try:
                name = "new_Thing" if base.startswith("http:") else "new_Other"
                info = await c.tables.create(name, {"new_Size": "int"})
                assert info.entity_set_name == name.lower() + "s"
                assert (await c.tables.get(name)) is not None
                await c.tables.add_columns(name, {"new_Colour": "string"})
                assert (await c.tables.get_column(name, "new_colour")) is not None
                await c.tables.delete(name)
                assert (await c.tables.get(name)) is None
            finally:
                await c.aclose()

        asyncio.run(scenario(sb.http_url))
        asyncio.run(scenario(sb.https_url))
