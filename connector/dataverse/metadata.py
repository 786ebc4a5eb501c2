"""EntityDefinitions reader with a cache: tables, columns, choice options, alternate keys (and their index status).

One table at a time (``EntityDefinitions(LogicalName='x')``), never the whole org: peers that expand every
table's attributes in one call run out of memory on large environments.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from connector import odata

if TYPE_CHECKING:
    from connector.dataverse.transport import Transport

CHOICE_CASTS = ("PicklistAttributeMetadata", "StateAttributeMetadata", "StatusAttributeMetadata")


class ColumnMetadata(BaseModel):
    logical_name: str
    schema_name: str = ""
    type: str
    max_length: int | None = None
    required: str = "None"
    valid_for_create: bool = True
    valid_for_update: bool = True
    targets: list[str] = Field(default_factory=list)
    options: dict[int, str] | None = None
    min_value: float | None = None
    max_value: float | None = None

    @property
    def is_choice(self) -> bool:
        return self.options is not None

    def option_value(self, label: str) -> int | None:
        """Choice label -> value (case-insensitive), or None."""
        for value, text in (self.options or {}).items():
            if text.casefold() == label.casefold():
                return value
        return None


class KeyMetadata(BaseModel):
    schema_name: str
    logical_name: str
    attributes: list[str]
    status: str = "Active"  # Pending | InProgress | Active | Failed

    @property
    def active(self) -> bool:
        return self.status == "Active"


class NavigationProperty(BaseModel):
    name: str
    attribute: str
    target: str
    kind: str  # "single" (lookup on this table) | "collection"


class TableMetadata(BaseModel):
    logical_name: str
    entity_set: str
    primary_id: str
    primary_name: str | None = None
    change_tracking: bool = False
    attributes: dict[str, ColumnMetadata] = Field(default_factory=dict)
    keys: list[KeyMetadata] = Field(default_factory=list)
    navigation: dict[str, NavigationProperty] = Field(default_factory=dict)

    def key_for(self, columns: list[str] | set[str]) -> KeyMetadata | None:
        wanted = set(columns)
        return next((k for k in self.keys if set(k.attributes) == wanted), None)

    def lookup_navs(self, attribute: str) -> list[str]:
        """Navigation property names for a lookup column (customer lookups have one per target table)."""
        return [n.name for n in self.navigation.values() if n.kind == "single" and n.attribute == attribute]


class MetadataReader:
    """``client.metadata``: cached reads of table definitions (cache lifetime ``ttl_seconds``)."""

    def __init__(self, transport: Transport, ttl_seconds: float = 3600.0) -> None:
        self._t = transport
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, TableMetadata]] = {}
        self._sets: dict[str, str] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._sets.clear()

    def export(self) -> dict[str, TableMetadata]:
        """logical name -> definition of every table read so far (stored with a cached mapping check)."""
        with self._lock:
            return {logical: meta for logical, (_, meta) in self._cache.items()}

    def prime(self, tables: Iterable[TableMetadata]) -> None:
        """Seed the cache with definitions read earlier, so a run whose check is cached reads no metadata.

        Tables already cached are kept (they are at least as fresh); primed ones age from now like a fresh read.
        """
        now = time.monotonic()
        with self._lock:
            for meta in tables:
                self._cache.setdefault(meta.logical_name, (now, meta))
                self._sets.setdefault(meta.entity_set, meta.logical_name)

    def table(self, logical_name: str, *, refresh: bool = False) -> TableMetadata:
        with self._lock:
            hit = self._cache.get(logical_name)
        if hit and not refresh and time.monotonic() - hit[0] < self._ttl:
            return hit[1]
        meta = self._load(logical_name)
        with self._lock:
            self._cache[logical_name] = (time.monotonic(), meta)
            self._sets[meta.entity_set] = logical_name
        return meta

    def logical_name_for_set(self, entity_set: str) -> str:
        with self._lock:
            if entity_set in self._sets:
                return self._sets[entity_set]
        q = f"$select=LogicalName,EntitySetName&$filter={odata.eq('EntitySetName', entity_set)}"
        rows = self._t.json("GET", "EntityDefinitions", query=q).get("value", [])
        if not rows:
            raise LookupError(f"no Dataverse table has the entity set '{entity_set}' (names are case-sensitive)")
        logical = str(rows[0]["LogicalName"])
        with self._lock:
            self._sets[entity_set] = logical
        return logical

    def table_for_set(self, entity_set: str) -> TableMetadata:
        return self.table(self.logical_name_for_set(entity_set))

    def _load(self, logical_name: str) -> TableMetadata:
        path = f"EntityDefinitions(LogicalName={odata.literal(odata.name(logical_name))})"
        q = (
            "$select=LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,ChangeTrackingEnabled"
            "&$expand=Attributes,Keys,ManyToOneRelationships,OneToManyRelationships"
        )
        # The definition and its choice columns' option sets are four independent reads: sent together, a
        # table's metadata costs one round trip instead of four (a first run reads six tables).
        with ThreadPoolExecutor(max_workers=1 + len(CHOICE_CASTS), thread_name_prefix="dv-metadata") as pool:
            first = pool.submit(self._t.json, "GET", path, query=q)
            casts = [
                pool.submit(
                    self._t.json,
                    "GET",
                    f"{path}/Attributes/Microsoft.Dynamics.CRM.{cast}",
                    query="$select=LogicalName&$expand=OptionSet,GlobalOptionSet",
                )
                for cast in CHOICE_CASTS
            ]
            md = first.result()
            cast_rows = [f.result().get("value", []) for f in casts]
        options: dict[str, dict[int, str]] = {}
        for rows in cast_rows:
            for row in rows:
                opts = (row.get("OptionSet") or {}).get("Options") or (row.get("GlobalOptionSet") or {}).get("Options")
                options[row["LogicalName"]] = {int(o["Value"]): _label(o.get("Label")) for o in opts or []}
        attrs: dict[str, ColumnMetadata] = {}
        for a in md.get("Attributes", []):
            name = a["LogicalName"]
            attrs[name] = ColumnMetadata(
                logical_name=name,
                schema_name=a.get("SchemaName") or "",
                type=a.get("AttributeType") or "",
                max_length=a.get("MaxLength"),
                required=(a.get("RequiredLevel") or {}).get("Value") or "None",
                valid_for_create=a.get("IsValidForCreate", True),
                valid_for_update=a.get("IsValidForUpdate", True),
                targets=a.get("Targets") or [],
                options=options.get(name),
                min_value=a.get("MinValue"),
                max_value=a.get("MaxValue"),
            )
        keys = [
            KeyMetadata(
                schema_name=k.get("SchemaName") or "",
                logical_name=k.get("LogicalName") or "",
                attributes=k.get("KeyAttributes") or [],
                status=str(k.get("EntityKeyIndexStatus") or "Active"),
            )
            for k in md.get("Keys", [])
        ]
        navs: dict[str, NavigationProperty] = {}
        for r in md.get("ManyToOneRelationships", []):
            name = r.get("ReferencingEntityNavigationPropertyName")
            if name:
                navs[name] = NavigationProperty(
                    name=name, attribute=r["ReferencingAttribute"], target=r["ReferencedEntity"], kind="single"
                )
        for r in md.get("OneToManyRelationships", []):
            name = r.get("ReferencedEntityNavigationPropertyName")
            if name:
                navs[name] = NavigationProperty(
                    name=name, attribute=r["ReferencingAttribute"], target=r["ReferencingEntity"], kind="collection"
                )
        return TableMetadata(
            logical_name=md["LogicalName"],
            entity_set=md["EntitySetName"],
            primary_id=md["PrimaryIdAttribute"],
            primary_name=md.get("PrimaryNameAttribute"),
            change_tracking=bool(md.get("ChangeTrackingEnabled")),
            attributes=attrs,
            keys=keys,
            navigation=navs,
        )


def _label(label: Any) -> str:
    if isinstance(label, dict):
        user = label.get("UserLocalizedLabel") or {}
        if user.get("Label"):
            return str(user["Label"])
        loc = label.get("LocalizedLabels") or []
        if loc:
            return str(loc[0].get("Label") or "")
    return ""
