"""Many-to-many relationships: their definitions, the navigation properties on both sides, and associations.

Learn "Create and update table relationships using the Web API": a ManyToManyRelationshipMetadata names
Entity1LogicalName, Entity2LogicalName and an IntersectEntityName; each side gets a collection-valued navigation
property (by default named like the relationship). Learn "Associate and disassociate table rows using the Web API":
`POST accounts(id)/nav/$ref {"@odata.id": ...}` associates, `DELETE accounts(id)/nav(otherid)/$ref` (or
`nav/$ref?$id=...`) disassociates, `GET accounts(id)/nav` and `$expand=nav` read the related rows.
Associations live in the store as rows of the intersect table, one per pair, so they are transactional like rows.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

from connector.sandbox.schema import NavProperty, Table, label
from connector.sandbox.store import Store

N2N_RECORD = "__n2n__"  # custom_schema key under which the definitions are persisted


@dataclass
class ManyToMany:
    schema: str
    entity1: str
    entity2: str
    intersect: str
    nav1: str  # navigation property on entity1 (to entity2 rows)
    nav2: str  # navigation property on entity2 (to entity1 rows)
    custom: bool = True

    @property
    def metadata_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "foi-sync-sandbox/rel/" + self.schema))

    def to_metadata(self, tables: dict[str, Table]) -> dict[str, Any]:
        t1, t2 = tables.get(self.entity1), tables.get(self.entity2)
        return {
            "@odata.type": "#Microsoft.Dynamics.CRM.ManyToManyRelationshipMetadata",
            "MetadataId": self.metadata_id,
            "SchemaName": self.schema,
            "RelationshipType": "ManyToManyRelationship",
            "Entity1LogicalName": self.entity1,
            "Entity2LogicalName": self.entity2,
            "IntersectEntityName": self.intersect,
            "Entity1IntersectAttribute": t1.primary_id if t1 else "",
            "Entity2IntersectAttribute": t2.primary_id if t2 else "",
            "Entity1NavigationPropertyName": self.nav1,
            "Entity2NavigationPropertyName": self.nav2,
            "IsCustomRelationship": self.custom,
            "IsManaged": not self.custom,
            "Entity1AssociatedMenuConfiguration": {"Behavior": "UseLabel", "Label": label(self.entity2)},
            "Entity2AssociatedMenuConfiguration": {"Behavior": "UseLabel", "Label": label(self.entity1)},
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> ManyToMany:
        schema = str(body.get("SchemaName") or "")
        return cls(
            schema,
            str(body.get("Entity1LogicalName") or "").lower(),
            str(body.get("Entity2LogicalName") or "").lower(),
            str(body.get("IntersectEntityName") or schema).lower(),
            str(body.get("Entity1NavigationPropertyName") or schema),
            str(body.get("Entity2NavigationPropertyName") or schema),
        )


def add_navigation(tables: dict[str, Table], defs: dict[str, ManyToMany]) -> None:
    """Put each relationship's two collection-valued navigation properties on its tables (kind "n2n")."""
    for d in defs.values():
        if d.entity1 in tables:
            tables[d.entity1].navs[d.nav1] = NavProperty(d.nav1, "n2n", d.schema, d.entity2, d.schema)
        if d.entity2 in tables:
            tables[d.entity2].navs[d.nav2] = NavProperty(d.nav2, "n2n", d.schema, d.entity1, d.schema)


def save(store: Store, defs: dict[str, ManyToMany]) -> None:
    store.save_custom_table(N2N_RECORD, {"kind": "n2n", "items": [asdict(d) for d in defs.values()]})


def load(saved: dict[str, Any]) -> dict[str, ManyToMany]:
    return {d["schema"]: ManyToMany(**d) for d in saved.get("items", [])}


def _pair(d: ManyToMany, table: str, rid: str, other: str) -> tuple[str, str]:
    """(entity1 id, entity2 id) for a row of `table` and a row on the other side."""
    return (rid, other) if table == d.entity1 else (other, rid)


def associate(store: Store, d: ManyToMany, table: str, rid: str, other: str) -> None:
    e1, e2 = _pair(d, table, rid, other)
    if store.get(d.intersect, f"{e1}|{e2}") is None:
        store.insert(d.intersect, f"{e1}|{e2}", {"entity1id": e1, "entity2id": e2}, {})


def disassociate(store: Store, d: ManyToMany, table: str, rid: str, other: str) -> bool:
    e1, e2 = _pair(d, table, rid, other)
    if store.get(d.intersect, f"{e1}|{e2}") is None:
        return False
    store.delete(d.intersect, f"{e1}|{e2}")
    return True


def related_ids(store: Store, d: ManyToMany, table: str, rid: str) -> list[str]:
    """Ids on the other side associated with row `rid` of `table`."""
    mine, theirs = ("entity1id", "entity2id") if table == d.entity1 else ("entity2id", "entity1id")
    return [r[theirs] for _, r in store.scan_eq(d.intersect, mine, rid) if r.get(mine) == rid]
