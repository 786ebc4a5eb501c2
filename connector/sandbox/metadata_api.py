"""EntityDefinitions, Attributes, Keys and RelationshipDefinitions: read, and create (so provisioning can be rehearsed)."""

from __future__ import annotations

import re
from typing import Any

from connector.sandbox import relationships as n2n
from connector.sandbox.errors import DvError
from connector.sandbox.odata_filter import FilterError, compile_filter
from connector.sandbox.optionsets import OptionSets
from connector.sandbox.query import parse_params, split_top_level
from connector.sandbox.records import Records, split_paren
from connector.sandbox.schema import (
    FILE,
    LOOKUP,
    MONEY,
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
from connector.sandbox.standard import add_money_companions

_LABEL_KEYS = ("DisplayName", "Description", "DisplayCollectionName")


def _label_text(value: Any) -> str | None:
    if isinstance(value, dict):
        loc = value.get("LocalizedLabels") or []
        if loc:
            label = loc[0].get("Label")
            return label if isinstance(label, str) else None
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
        self.option_sets = OptionSets(records.store, records.tables)
        self.cascades: dict[str, dict[str, Any]] = {}  # relationship SchemaName -> CascadeConfiguration set by PUT

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
        if _head == "RelationshipDefinitions":
            return self._get_relationships(key, segments[1:], params)
        if _head == "GlobalOptionSetDefinitions":
            return self._get_option_sets(key, segments[1:], params)
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
                keys = [
                    k
                    for k in keys
                    if (m and k["LogicalName"] == m.group(1).lower()) or k["MetadataId"] == sub_key.lower()
                ]
                if not keys:
                    raise DvError(404, "0x80040217", f"Could not find key {sub_key}.")
                return keys[0]
            return {"@odata.context": f"{base}$metadata#EntityDefinitions('{table.logical}')/Keys", "value": keys}
        if sub in ("ManyToOneRelationships", "OneToManyRelationships", "ManyToManyRelationships"):
            items = self._filter(self._relationships(table, sub), params.get("$filter"), params)
            ctx = f"{base}$metadata#EntityDefinitions({table.metadata_id})/{sub}"
            return {
                "@odata.context": ctx,
                "value": [self._select(i, params.get("$select"), ("MetadataId",)) for i in items],
            }
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
            elif name in ("ManyToOneRelationships", "OneToManyRelationships", "ManyToManyRelationships"):
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
                    glob = self.option_sets.items.get(attr.global_option_set or "")
                    md["GlobalOptionSet"] = self.option_sets.to_metadata(glob) if glob else None
        return md

    def _relationships(self, table: Table, kind: str) -> list[dict[str, Any]]:
        """OneToManyRelationshipMetadata from either side, with both navigation property names."""
        out: list[dict[str, Any]] = []
        if kind == "ManyToManyRelationships":
            return [
                d.to_metadata(self.tables) for d in self.records.n2n.values() if table.logical in (d.entity1, d.entity2)
            ]
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
        for item in out:
            if item["SchemaName"] in self.cascades:
                item["CascadeConfiguration"] = {**item["CascadeConfiguration"], **self.cascades[item["SchemaName"]]}
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
            "ManyToManyRelationships",
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
        if head == "GlobalOptionSetDefinitions":
            return f"{base}GlobalOptionSetDefinitions({self.option_sets.create(body)})"
        if head == "RelationshipDefinitions":
            if "ManyToMany" in str(body.get("@odata.type", "")):
                return self._create_many_to_many(body)
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
            if attr.type == FILE:  # Dataverse adds the file name column beside a file column
                table.attributes[f"{attr.logical}_name"] = Attribute(
                    f"{attr.logical}_name", STRING, read_only=True, custom=True
                )
            if attr.type == MONEY:  # and the base-currency companion (and currency columns) beside a money column
                add_money_companions(table)
                build_navigation(self.tables)
            self._persist(table)
            # The created item's URL keeps the table segment as the request wrote it (clients such as the SDK take
            # the first parenthesised GUID as the new item's id).
            return f"{base}{segments[0]}/Attributes({_attr_mid(table, attr)})"
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
            return f"{base}{segments[0]}/Keys({new_key.to_metadata(table.logical)['MetadataId']})"
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
        if odata_type.startswith("Complex"):  # CreateEntities (the SDK) sends ComplexStringAttributeMetadata etc.
            odata_type = odata_type[len("Complex") :]
        atype = body.get("AttributeType") or TYPE_FROM_METADATA.get(odata_type)
        if atype == "Virtual":  # file and image columns: AttributeType Virtual, AttributeTypeName FileType/ImageType
            type_name = str((body.get("AttributeTypeName") or {}).get("Value") or "")
            atype = {"FileType": FILE, "ImageType": "Image"}.get(type_name) or TYPE_FROM_METADATA.get(odata_type)
        if atype is None:
            raise DvError(400, "0x80040203", f"Unknown attribute type '{odata_type}'.")
        options = None
        global_name = None
        if atype in (PICKLIST, "MultiSelectPicklist"):
            opts = (body.get("OptionSet") or {}).get("Options") or []
            options = {int(o["Value"]): _label_text(o.get("Label")) or str(o["Value"]) for o in opts}
            bind = body.get("GlobalOptionSet@odata.bind")
            if isinstance(bind, str):
                found = self.option_sets.find(split_paren(bind.rstrip("/").split("/")[-1])[1] or "")
                global_name, options = found["name"], dict(found["options"])
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
            read_only=atype == FILE,  # file content goes through the file column requests, not JSON
            global_option_set=global_name,
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
            schema=schema,
            description=_label_text(body.get("Description")),
        )
        add_money_companions(table)
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
        rel = body.get("SchemaName") or f"{referenced}_{referencing}_{attr.logical}"
        attr.relationship = rel
        attr.referenced_nav = body.get("ReferencedEntityNavigationPropertyName") or None
        if any(r["SchemaName"] == rel for r in self.all_relationships()):
            raise DvError(400, "0x80044363", f"A relationship with the name {rel} already exists.")
        table.attributes[attr.logical] = attr
        build_navigation(self.tables)
        self._persist(table)
        return f"{self.records.api_base}RelationshipDefinitions({_mid_rel(rel)})"

    # ------------------------------------------------------------------ relationship definitions
    def all_relationships(self) -> list[dict[str, Any]]:
        """Every 1:N (each once, from its referenced side) and every N:N relationship definition."""
        out: dict[str, dict[str, Any]] = {}
        for t in self.tables.values():
            for r in self._relationships(t, "OneToManyRelationships"):
                out.setdefault(r["SchemaName"], r)
        for d in self.records.n2n.values():
            out.setdefault(d.schema, d.to_metadata(self.tables))
        return list(out.values())

    def _find_relationship(self, key: str) -> dict[str, Any]:
        m = re.fullmatch(r"SchemaName='([^']*)'", key)
        for r in self.all_relationships():
            if (m and r["SchemaName"].lower() == m.group(1).lower()) or r["MetadataId"] == key.lower():
                return r
        raise DvError(404, "0x80040217", f"Could not find a relationship with key {key}.")

    def _get_relationships(self, key: str | None, rest: list[str], params: dict[str, str]) -> dict[str, Any]:
        """GET RelationshipDefinitions[(id | SchemaName='x')][/Microsoft.Dynamics.CRM.<type cast>]."""
        base = self.records.api_base
        cast = rest[0].split(".")[-1] if rest else None
        if key is not None:
            item = self._find_relationship(key)
            if cast and not item["@odata.type"].endswith("." + cast):
                raise DvError(404, "0x80040217", f"Relationship {key} is not a {cast}.")
            body = self._select(item, params.get("$select"), ("MetadataId",))
            return {"@odata.context": f"{base}$metadata#RelationshipDefinitions/$entity", **body}
        items = self.all_relationships()
        if cast:
            items = [i for i in items if i["@odata.type"].endswith("." + cast)]
        items = self._filter(items, params.get("$filter"), params)
        return {
            "@odata.context": f"{base}$metadata#RelationshipDefinitions",
            "value": [self._select(i, params.get("$select"), ("MetadataId",)) for i in items],
        }

    def _get_option_sets(self, key: str | None, rest: list[str], params: dict[str, str]) -> dict[str, Any]:
        """GET GlobalOptionSetDefinitions[(id | Name='x')][/Microsoft.Dynamics.CRM.OptionSetMetadata]."""
        base = self.records.api_base
        cast = rest[0].split(".")[-1] if rest else None
        if cast and cast not in ("OptionSetMetadata", "OptionSetMetadataBase"):
            items: list[dict[str, Any]] = []  # no BooleanOptionSetMetadata sets are modelled
        else:
            items = [self.option_sets.to_metadata(i) for i in self.option_sets.items.values()]
        if key is not None:
            item = self.option_sets.to_metadata(self.option_sets.find(key))
            if cast and cast not in ("OptionSetMetadata", "OptionSetMetadataBase"):
                raise DvError(404, "0x80040217", f"Option set {key} is not a {cast}.")
            body = self._select(item, params.get("$select"), ("MetadataId",))
            return {"@odata.context": f"{base}$metadata#GlobalOptionSetDefinitions/$entity", **body}
        items = self._filter(items, params.get("$filter"), params)
        return {
            "@odata.context": f"{base}$metadata#GlobalOptionSetDefinitions",
            "value": [self._select(i, params.get("$select"), ("MetadataId",)) for i in items],
        }

    def option_message(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        out, changed = self.option_sets.message(name, body)
        for t in {t.logical: t for t in changed}.values():
            self._persist(t)
        return out

    def _update_relationship(self, rel: dict[str, Any], body: dict[str, Any]) -> None:
        """PUT RelationshipDefinitions(id): the cascade configuration and labels are what can change."""
        cascade = body.get("CascadeConfiguration")
        if isinstance(cascade, dict):
            self.records.store.save_custom_table(
                "__cascade__" + rel["SchemaName"], {"kind": "cascade", "name": rel["SchemaName"], "value": cascade}
            )
            self.cascades[rel["SchemaName"]] = dict(cascade)

    def _create_many_to_many(self, body: dict[str, Any]) -> str:
        d = n2n.ManyToMany.from_body(body)
        if not d.schema or d.entity1 not in self.tables or d.entity2 not in self.tables:
            raise DvError(
                400,
                "0x80040203",
                "A many-to-many relationship needs a SchemaName and existing Entity1LogicalName and Entity2LogicalName.",
            )
        if d.entity1 == d.entity2:
            raise DvError(400, "0x80040203", "The sandbox does not model self-referential many-to-many relationships.")
        if d.schema in self.records.n2n or any(r["SchemaName"] == d.schema for r in self.all_relationships()):
            raise DvError(400, "0x80044363", f"A relationship with the name {d.schema} already exists.")
        for table, nav in ((d.entity1, d.nav1), (d.entity2, d.nav2)):
            if nav in self.tables[table].navs:
                raise DvError(400, "0x80044363", f"A navigation property named {nav} already exists on {table}.")
        self.records.n2n[d.schema] = d
        n2n.add_navigation(self.tables, {d.schema: d})
        n2n.save(self.records.store, self.records.n2n)
        return f"{self.records.api_base}RelationshipDefinitions({d.metadata_id})"

    # ------------------------------------------------------------------ delete and update
    def delete(self, segments: list[str]) -> None:
        """DELETE EntityDefinitions(id) | .../Attributes(id) | .../Keys(id) | RelationshipDefinitions(id)."""
        head, key = split_paren(segments[0])
        if key is None:
            raise DvError(405, "", f"DELETE needs a single {head} item.")
        if head == "GlobalOptionSetDefinitions":
            self.option_sets.delete(key)
            return
        if head == "RelationshipDefinitions":
            self._delete_relationship(self._find_relationship(key))
            return
        table = self._table(key)
        if len(segments) == 1:
            if not table.custom:
                raise DvError(400, "0x80040203", f"The standard table {table.logical} cannot be deleted.")
            for d in [d for d in self.records.n2n.values() if table.logical in (d.entity1, d.entity2)]:
                self._delete_relationship(d.to_metadata(self.tables))
            for _, rec in list(self.records.store.scan(table.logical)):
                self.records.store.delete(table.logical, rec[table.primary_id])
            del self.tables[table.logical]
            for other in self.tables.values():  # lookups to the deleted table go with it
                for name in [n for n, a in other.attributes.items() if a.targets == [table.logical]]:
                    del other.attributes[name]
                    self._persist(other)
            build_navigation(self.tables)
            self.records.store.drop_custom_table(table.logical)
            self.records.schema_changed()
            return
        sub, sub_key = split_paren(segments[1])
        if sub_key is None:
            raise DvError(405, "", f"DELETE needs a single {sub} item.")
        if sub == "Attributes":
            attr = self._attribute_by_key(table, sub_key)
            if not attr.custom:
                raise DvError(400, "0x80040203", f"The standard column {attr.logical} cannot be deleted.")
            del table.attributes[attr.logical]
            table.keys = [k for k in table.keys if attr.logical not in k.attributes]
            build_navigation(self.tables)
            self._persist(table)
            return
        if sub == "Keys":
            m = re.fullmatch(r"LogicalName='([^']*)'", sub_key)
            keep = [
                k
                for k in table.keys
                if not (
                    (m and k.schema.lower() == m.group(1).lower())
                    or k.to_metadata(table.logical)["MetadataId"] == sub_key.lower()
                )
            ]
            if len(keep) == len(table.keys):
                raise DvError(404, "0x80040217", f"Could not find key {sub_key}.")
            for gone in [k for k in table.keys if k not in keep]:
                self.records.store.drop_key_index(table.logical, gone.schema)
            table.keys = keep
            self._persist(table)
            return
        raise DvError(405, "", f"DELETE is not supported on '{sub}'.")

    def _attribute_by_key(self, table: Table, key: str) -> Attribute:
        m = re.fullmatch(r"LogicalName='([^']*)'", key)
        for a in table.attributes.values():
            if (m and a.logical == m.group(1).lower()) or _attr_mid(table, a) == key.lower():
                return a
        raise DvError(404, "0x80040217", f"Could not find attribute {key} on {table.logical}.")

    def _delete_relationship(self, rel: dict[str, Any]) -> None:
        if rel["RelationshipType"] == "ManyToManyRelationship":
            d = self.records.n2n.pop(rel["SchemaName"])
            for t, nav in ((d.entity1, d.nav1), (d.entity2, d.nav2)):
                if t in self.tables:
                    self.tables[t].navs.pop(nav, None)
            for _, r in list(self.records.store.scan(d.intersect)):
                self.records.store.delete(d.intersect, f"{r['entity1id']}|{r['entity2id']}")
            n2n.save(self.records.store, self.records.n2n)
            return
        if not rel["IsCustomRelationship"]:
            raise DvError(400, "0x80040203", f"The standard relationship {rel['SchemaName']} cannot be deleted.")
        table = self.tables[rel["ReferencingEntity"]]
        table.attributes.pop(rel["ReferencingAttribute"], None)
        build_navigation(self.tables)
        self._persist(table)

    def put(self, segments: list[str], body: dict[str, Any]) -> None:
        """PUT EntityDefinitions(id) or .../Attributes(id): replace the definition's updatable properties.

        Learn "Create and update table definitions using the Web API" / "column definitions": PUT the whole
        definition (`MSCRM.MergeLabels: true` keeps other languages' labels; the sandbox has one language).
        """
        head, key = split_paren(segments[0])
        if head == "GlobalOptionSetDefinitions" and key is not None:
            self.option_sets.update(key, body)
            return
        if head == "RelationshipDefinitions" and key is not None:
            self._update_relationship(self._find_relationship(key), body)
            return
        if head != "EntityDefinitions" or key is None:
            raise DvError(405, "", f"PUT is not supported on '{head}'.")
        table = self._table(key)
        if len(segments) == 1:
            table.display = _label_text(body.get("DisplayName")) or table.display
            table.description = _label_text(body.get("Description")) or table.description
            self._persist(table)
            return
        sub, sub_key = split_paren(segments[1])
        if sub != "Attributes" or sub_key is None:
            raise DvError(405, "", f"PUT is not supported on '{segments[1]}'.")
        attr = self._attribute_by_key(table, sub_key)
        attr.display = _label_text(body.get("DisplayName")) or attr.display
        if "RequiredLevel" in body and attr.required != "SystemRequired":
            attr.required = (body.get("RequiredLevel") or {}).get("Value", attr.required)
        if attr.type in (STRING, "Memo") and isinstance(body.get("MaxLength"), int):
            attr.max_length = body["MaxLength"]
        for field_name, prop in (("min_value", "MinValue"), ("max_value", "MaxValue")):
            if isinstance(body.get(prop), int | float) and not isinstance(body.get(prop), bool):
                setattr(attr, field_name, body[prop])
        self._persist(table)

    def create_entities(self, body: dict[str, Any]) -> list[str]:
        """CreateEntities {"Entities": [ComplexEntityMetadata...]} (the SDK's table create) -> MetadataIds."""
        entities = body.get("Entities")
        if not isinstance(entities, list) or not entities:
            raise DvError(400, "0x80040203", "CreateEntities needs a non-empty Entities collection.")
        return [self._create_table(e).metadata_id for e in entities]

    def retrieve_metadata_changes(self, query: dict[str, Any]) -> dict[str, Any]:
        """RetrieveMetadataChanges(Query=@p1): an EntityQueryExpression -> {"EntityMetadata": [...], ...}.

        Learn "Query schema definitions" (Retrieve metadata changes): Criteria (MetadataConditionExpression:
        PropertyName, ConditionOperator Equals/NotEquals/In/NotIn, Value) and Properties.PropertyNames select tables
        and their properties; AttributeQuery does the same for their columns.
        """
        entities = [self._entity(t, None) for t in self.tables.values()]
        entities = [e for e in entities if _metadata_match(e, query.get("Criteria"))]
        aq = query.get("AttributeQuery")
        out = []
        for e in entities:
            table = self.tables[e["LogicalName"]]
            item = _pick(e, (query.get("Properties") or {}).get("PropertyNames"))
            wanted = (query.get("Properties") or {}).get("PropertyNames")
            if aq is not None and (not wanted or "Attributes" in wanted):
                attrs = [self._attribute(table, a, None) for a in table.attributes.values()]
                attrs = [a for a in attrs if _metadata_match(a, aq.get("Criteria"))]
                item["Attributes"] = [_pick(a, (aq.get("Properties") or {}).get("PropertyNames")) for a in attrs]
            out.append(item)
        return {
            "EntityMetadata": out,
            "ServerVersionStamp": f"{self.records.store.version}!sandbox",
            "DeletedMetadata": None,
        }

    def _persist(self, table: Table) -> None:
        self.records.store.save_custom_table(table.logical, table_to_json(table))
        self.records.schema_changed()


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
        "CascadeConfiguration": dict(DEFAULT_CASCADE),
    }


#: A new 1:N relationship's cascade behaviour unless the request sets one (Learn "Configure table relationship
#: cascading behavior": parental relationships cascade, referential ones default to these).
DEFAULT_CASCADE = {
    "Assign": "NoCascade",
    "Archive": "NoCascade",
    "Delete": "RemoveLink",
    "Merge": "NoCascade",
    "Reparent": "NoCascade",
    "RollupView": "NoCascade",
    "Share": "NoCascade",
    "Unshare": "NoCascade",
}


def _attr_mid(table: Table, attr: Attribute) -> str:
    return str(attr.to_metadata(table.logical)["MetadataId"])


def _mid_rel(name: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, "foi-sync-sandbox/rel/" + name))


def _pick(item: dict[str, Any], names: list[str] | None) -> dict[str, Any]:
    if not names:
        return dict(item)
    keep = set(names) | {"MetadataId", "@odata.type"}
    return {k: v for k, v in item.items() if k in keep}


def _metadata_match(item: dict[str, Any], criteria: dict[str, Any] | None) -> bool:
    """A MetadataFilterExpression (FilterOperator And/Or, Conditions) against one metadata item."""
    if not criteria:
        return True
    results = []
    for c in criteria.get("Conditions") or []:
        actual = item.get(str(c.get("PropertyName") or ""))
        raw = c.get("Value")
        value = raw.get("Value") if isinstance(raw, dict) else raw
        op = str(c.get("ConditionOperator") or "Equals")
        norm = actual.lower() if isinstance(actual, str) else actual
        values = value if isinstance(value, list) else [value]
        values = [v.lower() if isinstance(v, str) else v for v in values]
        if op == "Equals":
            results.append(norm == values[0])
        elif op == "NotEquals":
            results.append(norm != values[0])
        elif op == "In":
            results.append(norm in values)
        elif op == "NotIn":
            results.append(norm not in values)
        else:
            raise DvError(400, "0x80040203", f"The metadata condition operator '{op}' is not supported by the sandbox.")
    results += [_metadata_match(item, f) for f in criteria.get("Filters") or []]
    if str(criteria.get("FilterOperator") or "And") == "Or":
        return any(results) if results else True
    return all(results)
