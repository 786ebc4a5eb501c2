"""EntityDefinitions, Attributes, Keys and RelationshipDefinitions: read, and create (so provisioning can be rehearsed)."""

from __future__ import annotations

import re
from typing import Any

from connector.sandbox.errors import DvError
from connector.sandbox.odata_filter import FilterError, compile_filter
from connector.sandbox.query import parse_params, split_top_level
from connector.sandbox.records import Records, split_paren
from connector.sandbox.schema import (
    LOOKUP,
    PICKLIST,
    STRING,
    TYPE_FROM_METADATA,
    Attribute,
    Key,
    Table,
    build_navigation,
    single_nav_name,
    table_to_json,
)

_LABEL_KEYS = ("DisplayName", "Description", "DisplayCollectionName")


def _label_text(value: Any) -> str | None:
    if isinstance(value, dict):
        loc = value.get("LocalizedLabels") or []
        if loc:
            return loc[0].get("Label")
    return None


def _dict_get(rec: dict[str, Any], path: str) -> Any:
    cur: Any = rec
    for part in path.split("/"):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


class MetadataApi:
    def __init__(self, records: Records) -> None:
        self.records = records

    @property
    def tables(self) -> dict[str, Table]:
        return self.records.tables

    def _table(self, key_text: str) -> Table:
        m = re.fullmatch(r"LogicalName='([^']*)'", key_text)
        if m:
            t = self.tables.get(m.group(1))
        else:
            t = next((t for t in self.tables.values() if t.metadata_id == key_text.lower()), None)
        if t is None:
            raise DvError(404, "0x80040217", f"Could not find an entity with key {key_text}.")
        return t

    # ------------------------------------------------------------------ read
    def get(self, segments: list[str], raw_query: str) -> dict[str, Any]:
        params = parse_params(raw_query)
        base = self.records.api_base
        _head, key = split_paren(segments[0])
        if key is None:
            items = [self._entity(t, params.get("$expand")) for t in self.tables.values()]
            items = self._filter(items, params.get("$filter"), params)
            return {
                "@odata.context": f"{base}$metadata#EntityDefinitions",
                "value": [self._select(i, params.get("$select"), always=("MetadataId",)) for i in items],
            }
        table = self._table(key)
        if len(segments) == 1:
            body = self._select(self._entity(table, params.get("$expand")), params.get("$select"), ("MetadataId",))
            sel = params.get("$select")
            body = {"@odata.context": f"{base}$metadata#EntityDefinitions{f'({sel})' if sel else ''}/$entity", **body}
            return body
        sub, sub_key = split_paren(segments[1])
        cast = segments[2] if len(segments) > 2 else None
        if sub == "Attributes":
            attrs = list(table.attributes.values())
            if sub_key is not None:
                m = re.fullmatch(r"LogicalName='([^']*)'", sub_key)
                name = m.group(1) if m else None
                attrs = [a for a in attrs if a.logical == name or _attr_mid(table, a) == sub_key.lower()]
                if not attrs:
                    raise DvError(404, "0x80040217", f"Could not find attribute {sub_key} on {table.logical}.")
            if cast is None and sub_key is None and len(segments) > 2:
                cast = segments[2]
            if cast:
                type_name = cast.split(".")[-1]
                attrs = [a for a in attrs if a.to_metadata(table.logical)["@odata.type"].endswith("." + type_name)]
            items = [self._attribute(table, a, params.get("$expand")) for a in attrs]
            items = self._filter(items, params.get("$filter"), params)
            items = [self._select(i, params.get("$select"), ("MetadataId",)) for i in items]
            if sub_key is not None:
                if not items:
                    raise DvError(404, "0x80040217", f"Attribute {sub_key} is not of type {cast}.")
                return items[0]
            return {
                "@odata.context": f"{base}$metadata#EntityDefinitions('{table.logical}')/Attributes",
                "value": items,
            }
        if sub == "Keys":
            keys = [k.to_metadata(table.logical) for k in table.keys]
            if sub_key is not None:
                m = re.fullmatch(r"LogicalName='([^']*)'", sub_key)
                keys = [k for k in keys if m and k["LogicalName"] == m.group(1).lower()]
                if not keys:
                    raise DvError(404, "0x80040217", f"Could not find key {sub_key}.")
                return keys[0]
            return {"@odata.context": f"{base}$metadata#EntityDefinitions('{table.logical}')/Keys", "value": keys}
        if sub in ("ManyToOneRelationships", "OneToManyRelationships"):
            return {"value": self._relationships(table, sub)}
        raise DvError(404, "0x8006088a", f"Resource not found for the segment '{sub}'.")

    def _entity(self, table: Table, expand: str | None) -> dict[str, Any]:
        md = table.to_metadata()
        for part in split_top_level(expand or ""):
            name = part.split("(")[0]
            inner = part[len(name) + 1 : -1] if "(" in part else ""
            sub_params = dict(p.split("=", 1) for p in inner.split(";") if "=" in p)
            if name == "Attributes":
                md["Attributes"] = [
                    self._select(self._attribute(table, a, None), sub_params.get("$select"), ("MetadataId",))
                    for a in table.attributes.values()
                ]
            elif name == "Keys":
                md["Keys"] = [
                    self._select(k.to_metadata(table.logical), sub_params.get("$select"), ("MetadataId",))
                    for k in table.keys
                ]
            elif name in ("ManyToOneRelationships", "OneToManyRelationships"):
                md[name] = self._relationships(table, name)
            else:
                raise DvError(400, "0x0", f"Could not find a property named '{name}' on type 'EntityMetadata'.")
        return md

    def _attribute(self, table: Table, attr: Attribute, expand: str | None) -> dict[str, Any]:
        md = attr.to_metadata(table.logical)
        md["IsPrimaryId"] = attr.logical == table.primary_id
        md["IsPrimaryName"] = attr.logical == table.primary_name
        if expand and attr.options is not None:
            for part in split_top_level(expand):
                name = part.split("(")[0]
                if name == "OptionSet":
                    md["OptionSet"] = attr.option_set(table.logical)
                elif name == "GlobalOptionSet":
                    md["GlobalOptionSet"] = None
        return md

    def _relationships(self, table: Table, kind: str) -> list[dict[str, Any]]:
        """OneToManyRelationshipMetadata from either side, with both navigation property names."""
        out = []
        for nav in table.navs.values():
            if kind == "ManyToOneRelationships" and nav.kind == "single":
                referenced = self.tables.get(nav.target)
                out.append(
                    _relationship(
                        nav.relationship,
                        referenced_entity=nav.target,
                        referenced_attribute=referenced.primary_id if referenced else "",
                        referencing_entity=table.logical,
                        referencing_attribute=nav.attribute,
                        referenced_nav=nav.relationship,
                        referencing_nav=nav.name,
                        custom=table.custom or table.attributes[nav.attribute].custom,
                    )
                )
            if kind == "OneToManyRelationships" and nav.kind == "collection":
                child = self.tables.get(nav.target)
                attr = child.attributes.get(nav.attribute) if child else None
                out.append(
                    _relationship(
                        nav.relationship,
                        referenced_entity=table.logical,
                        referenced_attribute=table.primary_id,
                        referencing_entity=nav.target,
                        referencing_attribute=nav.attribute,
                        referenced_nav=nav.name,
                        referencing_nav=single_nav_name(child, attr, table.logical) if child and attr else "",
                        custom=bool(child and (child.custom or (attr is not None and attr.custom))),
                    )
                )
        return out

    @staticmethod
    def _select(item: dict[str, Any], select: str | None, always: tuple[str, ...] = ()) -> dict[str, Any]:
        if not select:
            return item
        names = {s.strip() for s in select.split(",")} | set(always)
        keep = {k: v for k, v in item.items() if k in names or k == "@odata.type"}
        for k in (
            "Attributes",
            "Keys",
            "OptionSet",
            "GlobalOptionSet",
            "ManyToOneRelationships",
            "OneToManyRelationships",
        ):
            if k in item:
                keep[k] = item[k]
        return keep

    @staticmethod
    def _filter(items: list[dict[str, Any]], text: str | None, params: dict[str, str]) -> list[dict[str, Any]]:
        if not text:
            return items
        aliases = {k[1:]: v for k, v in params.items() if k.startswith("@")}
        try:
            pred = compile_filter(text, _dict_get, aliases=aliases)
        except FilterError as exc:
            raise DvError(400, "0x80060888", str(exc)) from None
        return [i for i in items if pred(i)]

    # ------------------------------------------------------------------ create
    def post(self, segments: list[str], body: dict[str, Any]) -> str:
        """-> the OData-EntityId of what was created."""
        base = self.records.api_base
        head, key = split_paren(segments[0])
        if head == "RelationshipDefinitions":
            return self._create_relationship(body)
        if key is None:
            table = self._create_table(body)
            return f"{base}EntityDefinitions({table.metadata_id})"
        table = self._table(key)
        sub = segments[1] if len(segments) > 1 else ""
        if sub == "Attributes":
            attr = self._attribute_from_body(table.logical, body)
            if attr.logical in table.attributes:
                raise DvError(
                    400, "0x80044363", f"An attribute with the name {attr.logical} already exists on {table.logical}."
                )
            table.attributes[attr.logical] = attr
            self._persist(table)
            return f"{base}EntityDefinitions({table.metadata_id})/Attributes({_attr_mid(table, attr)})"
        if sub == "Keys":
            attrs = body.get("KeyAttributes") or []
            schema = body.get("SchemaName")
            if not schema or not attrs:
                raise DvError(400, "0x80040203", "An entity key needs SchemaName and KeyAttributes.")
            for a in attrs:
                if a not in table.attributes:
                    raise DvError(400, "0x80040203", f"Key attribute '{a}' does not exist on {table.logical}.")
            if len(table.keys) >= 10:
                raise DvError(400, "0x80060893", "A table can have at most 10 alternate keys.")
            new_key = Key(schema, list(attrs), status="Active")
            self._check_existing_unique(table, new_key)
            table.keys.append(new_key)
            self._persist(table)
            return (
                f"{base}EntityDefinitions({table.metadata_id})/Keys({new_key.to_metadata(table.logical)['MetadataId']})"
            )
        raise DvError(405, "0x80060888", f"POST is not supported on '{sub}'.")

    def _check_existing_unique(self, table: Table, key: Key) -> None:
        """Building a key index over duplicate data fails in Dataverse (status Failed); mirror that."""
        seen: set[str] = set()
        for _, rec in self.records.store.scan(table.logical):
            vals = [rec.get(a) for a in key.attributes]
            if any(v is None for v in vals):
                continue
            sig = repr([v.casefold() if isinstance(v, str) else v for v in vals])
            if sig in seen:
                key.status = "Failed"
                return
            seen.add(sig)
        store = self.records.store
        for _, rec in store.scan(table.logical):
            store._index_keys(
                table.logical,
                rec[table.primary_id],
                {**self.records.key_values(table, rec), key.schema: [rec.get(a) for a in key.attributes]},
            )

    def _attribute_from_body(self, table: str, body: dict[str, Any]) -> Attribute:
        schema = body.get("SchemaName")
        if not schema:
            raise DvError(400, "0x80040203", "An attribute needs a SchemaName.")
        odata_type = str(body.get("@odata.type", "")).split(".")[-1]
        atype = body.get("AttributeType") or TYPE_FROM_METADATA.get(odata_type)
        if atype is None:
            raise DvError(400, "0x80040203", f"Unknown attribute type '{odata_type}'.")
        options = None
        if atype == PICKLIST:
            opts = (body.get("OptionSet") or {}).get("Options") or []
            options = {int(o["Value"]): _label_text(o.get("Label")) or str(o["Value"]) for o in opts}
        required = (body.get("RequiredLevel") or {}).get("Value", "None")
        fmt = body.get("Format") or (body.get("DateTimeBehavior") or {}).get("Value")
        return Attribute(
            logical=schema.lower(),
            type=atype,
            max_length=body.get("MaxLength") if atype in (STRING, "Memo") else None,
            required=required,
            options=options,
            schema=schema,
            display=_label_text(body.get("DisplayName")),
            date_only=fmt == "DateOnly",
            min_value=body.get("MinValue"),
            max_value=body.get("MaxValue"),
            custom=True,
        )

    def _create_table(self, body: dict[str, Any]) -> Table:
        schema = body.get("SchemaName")
        if not schema or "_" not in schema:
            raise DvError(
                400, "0x80040203", "A custom table needs a SchemaName with a publisher prefix, e.g. foi_Case."
            )
        logical = schema.lower()
        if logical in self.tables:
            raise DvError(400, "0x80044363", f"An entity with the name {logical} already exists.")
        attrs_body = body.get("Attributes") or []
        primary = next((a for a in attrs_body if a.get("IsPrimaryName")), None)
        if primary is None:
            raise DvError(400, "0x80040203", "A new table needs one attribute with IsPrimaryName true.")
        pid = logical + "id"
        from connector.sandbox.schema import _common

        cols: dict[str, Attribute] = {pid: Attribute(pid, "Uniqueidentifier")}
        cols.update(_common(logical))
        from connector.sandbox.schema import STATE, STATE_ACTIVE, STATUS

        cols["statecode"] = Attribute("statecode", STATE, options=dict(STATE_ACTIVE))
        cols["statuscode"] = Attribute(
            "statuscode", STATUS, options={1: "Active", 2: "Inactive"}, status_state={1: 0, 2: 1}
        )
        for a in attrs_body:
            attr = self._attribute_from_body(logical, a)
            cols[attr.logical] = attr
        entity_set = body.get("EntitySetName") or (logical + ("es" if logical.endswith("s") else "s"))
        otc = 10000 + len([t for t in self.tables.values() if t.custom])
        table = Table(
            logical,
            entity_set,
            pid,
            primary.get("SchemaName", "").lower(),
            cols,
            [],
            is_activity=bool(body.get("IsActivity")),
            custom=True,
            object_type_code=otc,
            display=_label_text(body.get("DisplayName")),
            ownership=body.get("OwnershipType") or "UserOwned",
        )
        self.tables[logical] = table
        build_navigation(self.tables)
        self._persist(table)
        return table

    def _create_relationship(self, body: dict[str, Any]) -> str:
        referenced = body.get("ReferencedEntity")
        referencing = body.get("ReferencingEntity")
        lookup = body.get("Lookup") or {}
        if referenced not in self.tables or referencing not in self.tables or not lookup.get("SchemaName"):
            raise DvError(
                400,
                "0x80040203",
                "A one-to-many relationship needs existing ReferencedEntity and ReferencingEntity and a Lookup.",
            )
        table = self.tables[referencing]
        attr = Attribute(
            lookup["SchemaName"].lower(),
            LOOKUP,
            targets=[referenced],
            schema=body.get("ReferencingEntityNavigationPropertyName") or lookup["SchemaName"],
            display=_label_text(lookup.get("DisplayName")),
            required=(lookup.get("RequiredLevel") or {}).get("Value", "None"),
            custom=True,
        )
        table.attributes[attr.logical] = attr
        build_navigation(self.tables)
        rel = body.get("SchemaName") or f"{referenced}_{referencing}_{attr.logical}"
        nav = table.navs.get(attr.schema_name)
        if nav is not None:
            nav.relationship = rel
        coll_name = body.get("ReferencedEntityNavigationPropertyName")
        if coll_name:
            target = self.tables[referenced]
            generic = f"{referenced}_{referencing}_{attr.logical}"
            if generic in target.navs:
                n = target.navs.pop(generic)
                n.name = coll_name
                target.navs[coll_name] = n
        self._persist(table)
        return f"{self.records.api_base}RelationshipDefinitions({_mid_rel(rel)})"

    def _persist(self, table: Table) -> None:
        self.records.store.save_custom_table(table.logical, table_to_json(table))


def _relationship(
    schema: str,
    *,
    referenced_entity: str,
    referenced_attribute: str,
    referencing_entity: str,
    referencing_attribute: str,
    referenced_nav: str,
    referencing_nav: str,
    custom: bool,
) -> dict[str, Any]:
    return {
        "@odata.type": "#Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata",
        "MetadataId": _mid_rel(schema),
        "SchemaName": schema,
        "RelationshipType": "OneToManyRelationship",
        "ReferencedEntity": referenced_entity,
        "ReferencedAttribute": referenced_attribute,
        "ReferencingEntity": referencing_entity,
        "ReferencingAttribute": referencing_attribute,
        "ReferencedEntityNavigationPropertyName": referenced_nav,
        "ReferencingEntityNavigationPropertyName": referencing_nav,
        "IsCustomRelationship": custom,
    }


def _attr_mid(table: Table, attr: Attribute) -> str:
    return attr.to_metadata(table.logical)["MetadataId"]


def _mid_rel(name: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, "foi-sync-sandbox/rel/" + name))
