"""Record semantics: addressing by id or alternate key, validation, binds, create/update/upsert/delete, output shape.

This is where the sandbox earns its keep: each rule here mirrors a documented Dataverse behaviour.
"""

from __future__ import annotations

import base64
import functools
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from connector.sandbox import errors as E
from connector.sandbox import relationships as n2n
from connector.sandbox.errors import DvError
from connector.sandbox.odata_filter import normalize_datetime
from connector.sandbox.relationships import ManyToMany
from connector.sandbox.schema import (
    BIGINT,
    BOOLEAN,
    CHOICE_TYPES,
    DATETIME,
    DECIMAL,
    DOUBLE,
    ENTITYNAME,
    IMAGE,
    INTEGER,
    LOOKUP,
    LOOKUP_TYPES,
    MEMO,
    MONEY,
    PARTYLIST,
    PROCESS_FLOWS,
    STATE,
    STATUS,
    STRING,
    UNIQUEID,
    Attribute,
    ProcessFlow,
    Table,
    build_navigation,
    flow_instance_table,
    process_seed_rows,
    single_nav_name,
    table_to_json,
)
from connector.sandbox.standard import BASE_CURRENCY_ID, standard_seed_rows
from connector.sandbox.store import DuplicateKey, Store

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
#: Characters Microsoft says make an alternate-key value unusable in a URL (Define alternate keys).
KEY_UNSAFE = set("/<>*%&:\\?+")
LOOKUP_TARGET = "__lt_"  # hidden per-lookup column holding the target table of a polymorphic lookup

FORMATTED = "@OData.Community.Display.V1.FormattedValue"
LOOKUPNAME = "@Microsoft.Dynamics.CRM.lookuplogicalname"
NAVPROP = "@Microsoft.Dynamics.CRM.associatednavigationproperty"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def etag(version: int) -> str:
    return f'W/"{version}"'


def split_paren(segment: str) -> tuple[str, str | None]:
    """'accounts(accountnumber='A(1)')' -> ('accounts', "accountnumber='A(1)'"), honouring quotes."""
    if "(" not in segment or not segment.endswith(")"):
        return segment, None
    i = segment.index("(")
    return segment[:i], segment[i + 1 : -1]


def parse_key_text(text: str) -> list[tuple[str | None, Any]]:
    """Parse the inside of a key segment: a bare GUID, or name=value pairs (strings quoted, '' escapes a quote)."""
    out: list[tuple[str | None, Any]] = []
    i, n = 0, len(text)
    while i < n:
        m = re.match(r"\s*([A-Za-z_][\w]*)\s*=\s*", text[i:])
        name = None
        if m:
            name = m.group(1)
            i += m.end()
        if i < n and text[i] == "'":
            j = i + 1
            buf = []
            while j < n:
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        buf.append("'")
                        j += 2
                        continue
                    break
                buf.append(text[j])
                j += 1
            if j >= n:
                raise DvError(400, "0x80060888", f"There is an unterminated literal in the key '{text}'.")
            value: Any = "".join(buf)
            i = j + 1
        else:
            j = i
            while j < n and text[j] != ",":
                j += 1
            raw = text[i:j].strip()
            if GUID_RE.match(raw):
                value = raw.lower()
            elif re.fullmatch(r"-?\d+", raw):
                value = int(raw)
            elif re.fullmatch(r"-?\d+\.\d+", raw):
                value = float(raw)
            elif raw in ("true", "false"):
                value = raw == "true"
            else:
                raise DvError(400, "0x80060888", f"Bad Request - Error in query syntax: key value '{raw}'.")
            i = j
        out.append((name, value))
        while i < n and text[i] in " ,":
            i += 1
    return out


@dataclass
class _Shape:
    table: Table
    required: list[Attribute]  # SystemRequired columns
    money: frozenset[str]  # money columns with a _base companion
    currency: bool  # has the transactioncurrencyid lookup (a table with money columns)


class Records:
    def __init__(self, tables: dict[str, Table], store: Store, base_url_ref: list[str]) -> None:
        self.tables = tables
        self.store = store
        self._base = base_url_ref  # [api base URL], kept in a list so the server can set it after binding
        self.n2n: dict[str, ManyToMany] = {}  # many-to-many relationships by SchemaName
        self._shapes: dict[str, _Shape] = {}
        self._sets: dict[str, Table] | None = None
        self._seed_processes()
        self._seed_standard()

    def _shape(self, table: Table) -> _Shape:
        """Per-table facts every write needs, computed once per schema (cleared by schema_changed)."""
        shape = self._shapes.get(table.logical)
        if shape is None or shape.table is not table:
            attrs = table.attributes
            shape = _Shape(
                table,
                [a for a in attrs.values() if a.required == "SystemRequired"],
                frozenset(a.logical for a in attrs.values() if a.type == MONEY and f"{a.logical}_base" in attrs),
                (c := attrs.get("transactioncurrencyid")) is not None and c.type == LOOKUP,
            )
            self._shapes[table.logical] = shape
        return shape

    def schema_changed(self) -> None:
        """A table, column or key definition changed: forget the per-table facts."""
        self._shapes.clear()
        self._sets = None

    def _seed_standard(self) -> None:
        """The base currency and the default duplicate detection rules (once per database, fixed ids)."""
        if "transactioncurrency" not in self.tables or self.store.get("transactioncurrency", BASE_CURRENCY_ID):
            return
        with self.store.transaction():
            for logical, rid, body in standard_seed_rows():
                if self.store.get(logical, rid) is None:
                    self.create(self.tables[logical], body, "", rid=rid)

    def _seed_processes(self) -> None:
        """The seeded business process flow definition and its stages (once per database, fixed ids)."""
        if "processstage" not in self.tables or "workflow" not in self.tables:
            return
        with self.store.transaction():
            for logical, rid, body in process_seed_rows():
                if self.store.get(logical, rid) is None:
                    self.create(self.tables[logical], body, "", rid=rid)

    # ------------------------------------------------------------------ business process flows
    def _flow_rules(self, table: Table, current: dict[str, Any] | None, values: dict[str, Any]) -> None:
        """Microsoft (business-process-flows-code): an instance starts at the first stage unless traversedpath
        lists the stages up to a later one; a stage change moves only to the next or previous stage; a flow is
        finished (statuscode 2) only at its last stage. The service's error code for a bad move is UNCONFIRMED."""
        flow = PROCESS_FLOWS.get(table.logical) or (self._defined_flow(table) if table.is_bpf else None)
        if flow is None:
            return
        order = flow.stage_ids
        bad_move = "0x80040203"
        stage = values.get("activestageid")
        if "activestageid" in values and stage is None:
            raise DvError(400, bad_move, "The active stage of a business process flow instance cannot be cleared.")
        new_id = stage[1] if isinstance(stage, tuple) else None
        if new_id is not None and new_id not in order:
            raise DvError(
                400, bad_move, f"The stage {new_id} does not belong to the business process flow '{flow.name}'."
            )
        path = values.get("traversedpath")
        if current is None:
            new_id = new_id or order[0]
            values["activestageid"] = ("processstage", new_id)
            values["processid"] = ("workflow", flow.workflow_id)
            values.setdefault("bpf_name", flow.name)
            if order.index(new_id) > 0:
                steps = [x for x in str(path or "").lower().split(",") if x]
                if not steps or steps[-1] != new_id:
                    raise DvError(
                        400,
                        bad_move,
                        "To start a business process flow instance at a later stage, set traversedpath to the "
                        "comma-separated ids of the stages up to and including the active stage.",
                    )
            elif path is None:
                values["traversedpath"] = new_id
            values["activestagestartedon"] = now_iso()
        elif new_id is not None:
            old_id = current.get("_activestageid_value")
            if new_id != old_id:
                if old_id in order and abs(order.index(new_id) - order.index(old_id)) != 1:
                    raise DvError(
                        400,
                        bad_move,
                        "Invalid stage transition: a business process flow instance moves only to the next or the "
                        "previous stage.",
                    )
                values["activestagestartedon"] = now_iso()
                if path is None:
                    steps = [x for x in str(current.get("traversedpath") or "").split(",") if x]
                    steps = steps[: steps.index(new_id) + 1] if new_id in steps else [*steps, new_id]
                    values["traversedpath"] = ",".join(steps)
        if values.get("statuscode") == 2:
            active = new_id or (current or {}).get("_activestageid_value")
            if active != order[-1]:
                raise DvError(400, bad_move, "A business process flow can be finished only at its last stage.")
            values.setdefault("completedon", now_iso())

    def _defined_flow(self, table: Table) -> ProcessFlow | None:
        """A flow defined through the Web API: its workflow row (uniquename = the table) and its processstage rows,
        in the order they were created."""
        for _, wf in self.store.scan_eq("workflow", "uniquename", table.logical):
            if wf.get("category") == 4 and str(wf.get("uniquename", "")).lower() == table.logical:
                wid = wf["workflowid"]
                stages = tuple(
                    (st["processstageid"], str(st.get("stagename") or ""), int(st.get("stagecategory") or 0))
                    for _, st in self.store.scan_eq("processstage", "_processid_value", wid)
                    if st.get("_processid_value") == wid
                )
                primary = str(wf.get("primaryentity") or "")
                return ProcessFlow(
                    wid, str(wf.get("name")), table.logical, table.logical, table.entity_set, f"bpf_{primary}id", stages
                )
        return None

    def _activate_flow(self, wf: dict[str, Any]) -> None:
        """business-process-flows-code: activating a definition (workflow category 4, statecode Activated) creates
        the custom table that holds its instances, named by the definition's uniquename."""
        name = str(wf.get("uniquename") or "")
        if not name:
            # Learn: the uniquename is derived from the name with the solution publisher's prefix ("new_").
            name = "new_" + re.sub(r"[^a-z0-9]", "", str(wf.get("name") or "").lower())
            wf["uniquename"] = name
        logical = name.lower()
        primary = str(wf.get("primaryentity") or "")
        if primary not in self.tables:
            raise DvError(400, "0x80040203", f"The business process flow's primaryentity '{primary}' is not a table.")
        wid = wf["workflowid"]
        stages = [st for _, st in self.store.scan_eq("processstage", "_processid_value", wid)]
        if not any(st.get("_processid_value") == wid for st in stages):
            raise DvError(
                400,
                "0x80040203",
                "A business process flow needs at least one stage before it is activated: create processstage rows "
                "whose processid is this workflow.",
            )
        if logical in self.tables:
            return
        otc = 10000 + len([t for t in self.tables.values() if t.custom])
        table = flow_instance_table(logical, primary, str(wf.get("name") or logical), otc)
        self.tables[logical] = table
        build_navigation(self.tables)
        self.store.save_custom_table(logical, table_to_json(table))
        self.schema_changed()

    # ------------------------------------------------------------------ lookups of tables
    @property
    def api_base(self) -> str:
        return self._base[0]

    def _set_index(self) -> dict[str, Table]:
        """Entity set name -> table; schema_changed() (every table create/delete) drops it, and a count check
        catches any other change of the tables dict."""
        index = self._sets
        if index is None or len(index) != len(self.tables):
            index = self._sets = {t.entity_set: t for t in self.tables.values()}
        return index

    def by_set(self, entity_set: str) -> Table:
        table = self._set_index().get(entity_set)
        if table is None:
            raise E.not_found_segment(entity_set)
        return table

    def has_set(self, entity_set: str) -> bool:
        return entity_set in self._set_index()

    # ------------------------------------------------------------------ addressing
    def resolve_key(self, table: Table, key_text: str) -> tuple[str | None, dict[str, Any] | None]:
        """-> (record id or None, alternate-key values used) for a key segment; validates the key shape."""
        parts = parse_key_text(key_text)
        if len(parts) == 1 and parts[0][0] in (None, table.primary_id):
            rid = parts[0][1]
            if not isinstance(rid, str) or not GUID_RE.match(rid):
                raise DvError(400, "0x80060888", f"Bad Request - Error in query syntax: '{key_text}' is not a GUID.")
            return rid.lower(), None
        # A lookup column in a key is addressed by its lookup-property name: accounts(_primarycontactid_value=<guid>).
        names = {(n[1:-6] if n.startswith("_") and n.endswith("_value") else n): v for n, v in parts if n}
        for value in names.values():
            if isinstance(value, str) and KEY_UNSAFE & set(value):
                bad = sorted(KEY_UNSAFE & set(value))[0]
                raise DvError(
                    400,
                    "0x80060891",
                    f"A potentially dangerous Request.Path value was detected from the client ({bad}). "
                    "Alternate key values containing / < > * % & : \\ ? + cannot be used to address a record.",
                )
        for key in table.keys:
            if set(key.attributes) == set(names) and len(names) == len(parts):
                if key.status != "Active":
                    raise DvError(
                        400,
                        "0x80060892",
                        f"The entity key '{key.schema}' on '{table.logical}' is not active (status {key.status}).",
                    )
                values = [names[a] for a in key.attributes]
                return self.store.find_by_key(table.logical, key.schema, values), names
        raise DvError(
            400,
            "0x80060888",
            f"The key in the request URI is not valid for resource 'Microsoft.Dynamics.CRM.{table.logical}'. Ensure "
            "that the names and number of key properties match the declared or alternate key properties for the "
            f"resource 'Microsoft.Dynamics.CRM.{table.logical}'.",
        )

    def resolve_url(self, url: str) -> tuple[Table, str]:
        """An @odata.bind / @odata.id value -> (table, existing record id)."""
        path = url
        if "/api/data/" in path:
            path = path.split("/api/data/", 1)[1].split("/", 1)[1]
        path = path.lstrip("/")
        set_name, key_text = split_paren(unquote(path))
        table = self.by_set(set_name)
        if key_text is None:
            raise DvError(400, "0x80060888", f"The URL '{url}' does not address a single record.")
        rid, alt = self.resolve_key(table, key_text)
        if rid is None or self.store.get(table.logical, rid) is None:
            if alt is not None:
                raise E.key_not_found(table.logical)
            raise E.record_not_found(table.logical, str(rid))
        return table, rid

    # ------------------------------------------------------------------ values
    def check_value(self, table: Table, attr: Attribute, value: Any) -> Any:
        t = attr.type
        if value is None:
            if attr.required == "SystemRequired" and attr.logical != table.primary_id:
                raise E.validation(
                    f"The '{attr.logical}' attribute of the '{table.logical}' entity is SystemRequired and cannot be null.",
                    "0x80040203",
                )
            return None

        def bad(edm: str) -> DvError:
            return E.payload_error(
                table.entity_set,
                f"Cannot convert the literal '{str(value)[:100]}' to the expected type '{edm}'.",
            )

        if t in (STRING, MEMO, ENTITYNAME):
            if not isinstance(value, str):
                raise bad("Edm.String")
            if attr.max_length is not None and len(value) > attr.max_length:
                raise E.validation(
                    f"The length of the '{attr.logical}' attribute of the '{table.logical}' entity exceeded the "
                    f"maximum allowed length of '{attr.max_length}'."
                )
            return value
        if t in (INTEGER, BIGINT) or t in CHOICE_TYPES:
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad("Edm.Int32" if t != BIGINT else "Edm.Int64")
            if t in CHOICE_TYPES and value not in (attr.options or {}):
                accepted = ",".join(str(v) for v in (attr.options or {}))
                raise E.validation(
                    f"The value {value} of '{attr.logical}' on record of type '{table.logical}' is outside the valid "
                    f"range. Accepted Values: {accepted}",
                    "0x8004431a",
                )
            self._range(table, attr, value)
            return value
        if t in (DECIMAL, DOUBLE, MONEY):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad("Edm.Decimal" if t != DOUBLE else "Edm.Double")
            self._range(table, attr, value)
            return value
        if t == BOOLEAN:
            if not isinstance(value, bool):
                raise bad("Edm.Boolean")
            return value
        if t == DATETIME:
            if not isinstance(value, str):
                raise bad("Edm.DateTimeOffset")
            try:
                if attr.date_only:
                    return datetime.fromisoformat(value[:10]).date().isoformat()
                return normalize_datetime(value if "T" in value else value + "T00:00:00Z")
            except ValueError:
                raise bad("Edm.DateTimeOffset") from None
        if t == UNIQUEID:
            if not isinstance(value, str) or not GUID_RE.match(value):
                raise bad("Edm.Guid")
            return value.lower()
        if t == IMAGE:  # Learn "Use image column data": set an image column with base64 bytes in JSON
            if not isinstance(value, str):
                raise bad("Edm.Binary")
            try:
                base64.b64decode(value, validate=True)
            except ValueError:
                raise bad("Edm.Binary") from None
            return value
        if t == "MultiSelectPicklist":
            # Learn "Multi-select choice columns": the Web API sends the chosen values as one string, "1,9,5".
            if not isinstance(value, str):
                raise bad("Edm.String")
            try:
                chosen = [int(v) for v in value.split(",") if v.strip()]
            except ValueError:
                raise bad("Edm.String") from None
            for v in chosen:
                if v not in (attr.options or {}):
                    accepted = ",".join(str(o) for o in attr.options or {})
                    raise E.validation(
                        f"The value {v} of '{attr.logical}' on record of type '{table.logical}' is outside the valid "
                        f"range. Accepted Values: {accepted}",
                        "0x8004431a",
                    )
            return ",".join(str(v) for v in dict.fromkeys(chosen)) or None
        if t == "ManagedProperty":  # BooleanManagedProperty: {"Value": true|false, "CanBeChanged": ...}
            if not isinstance(value, dict) or not isinstance(value.get("Value"), bool):
                raise bad("Microsoft.Dynamics.CRM.BooleanManagedProperty")
            return {"Value": value["Value"], "CanBeChanged": value.get("CanBeChanged", True)}
        raise E.payload_error(table.entity_set, f"The property '{attr.logical}' cannot be set directly.")

    def _range(self, table: Table, attr: Attribute, value: float) -> None:
        if (attr.min_value is not None and value < attr.min_value) or (
            attr.max_value is not None and value > attr.max_value
        ):
            raise E.validation(
                f"The value {value} of '{attr.logical}' on record of type '{table.logical}' is outside the valid "
                f"range [{attr.min_value}, {attr.max_value}].",
                "0x8004431a",
            )

    # ------------------------------------------------------------------ body parsing
    def parse_body(
        self, table: Table, body: dict[str, Any]
    ) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any] | list[dict[str, Any]]]], list[tuple[str, list[str]]]]:
        """-> (column values incl. lookups, deep inserts [(nav, body)], collection binds [(nav, urls)])."""
        values: dict[str, Any] = {}
        deep: list[tuple[str, Any]] = []
        coll_binds: list[tuple[str, list[str]]] = []
        for key, value in body.items():
            if key.startswith("@odata.") or key.startswith("@"):
                continue
            if key.endswith("@odata.bind"):
                nav_name = key[: -len("@odata.bind")]
                nav = table.navs.get(nav_name)
                if nav is None:
                    raise E.payload_error(
                        table.entity_set,
                        f"An undeclared property '{nav_name}' which only has property annotations in the payload but "
                        "no property value was found in the payload. In OData, only declared navigation properties "
                        "and declared named streams can be represented as properties without values.",
                    )
                if nav.kind in ("collection", "n2n"):
                    if not isinstance(value, list):
                        raise E.payload_error(table.entity_set, f"A collection was expected for '{nav_name}'.")
                    coll_binds.append((nav_name, value))
                    continue
                lookup_attr = table.attributes[nav.attribute]
                if value is None:
                    values[nav.attribute] = None
                    continue
                if not isinstance(value, str):
                    raise E.payload_error(table.entity_set, f"The value of '{key}' must be a URL.")
                target, rid = self.resolve_url(value)
                if target.logical not in lookup_attr.targets:
                    raise E.payload_error(
                        table.entity_set,
                        f"'{target.logical}' is not a valid target for the navigation property '{nav_name}'.",
                    )
                values[nav.attribute] = (target.logical, rid)
                continue
            if "@" in key:
                continue  # instance annotations on properties (e.g. FormattedValue echoed back) are ignored
            nav = table.navs.get(key)
            if nav is not None and isinstance(value, dict | list):
                deep.append((key, value))
                continue
            attr = table.attributes.get(key)
            if attr is None or attr.type in LOOKUP_TYPES or attr.type == PARTYLIST:
                if key.startswith("_") and key.endswith("_value"):
                    raise E.payload_error(
                        table.entity_set,
                        f"The property '{key}' is a read-only lookup property; set the lookup with "
                        f"'<navigation property>@odata.bind'.",
                    )
                # Web API client errors: "Invalid property '{name}' was found in entity ..." 400, code 0x0.
                raise DvError(
                    400,
                    "0x0",
                    "An error occurred while validating input parameters: Microsoft.Crm.CrmException: Invalid "
                    f"property '{key}' was found in entity 'Microsoft.Dynamics.CRM.{table.logical}'. ---> "
                    "Microsoft.OData.ODataException: Does not support untyped value in non-open type.",
                )
            if attr.read_only and key not in ("overriddencreatedon",):
                continue  # Dataverse ignores values for columns that are not valid for create/update
            values[key] = self.check_value(table, attr, value)
        return values, deep, coll_binds

    # ------------------------------------------------------------------ storage form
    @staticmethod
    def apply_values(rec: dict[str, Any], values: dict[str, Any]) -> None:
        for k, v in values.items():
            if isinstance(v, tuple):
                rec[f"_{k}_value"] = v[1]
                rec[LOOKUP_TARGET + k] = v[0]
            elif k in rec and v is None and f"_{k}_value" in rec:
                rec.pop(f"_{k}_value", None)
            else:
                rec[k] = v
            if v is None:
                rec.pop(f"_{k}_value", None)
                rec.pop(LOOKUP_TARGET + k, None)

    def key_values(self, table: Table, rec: dict[str, Any]) -> dict[str, list[Any]]:
        out = {}
        for key in table.keys:
            vals = []
            for a in key.attributes:
                attr = table.attributes.get(a)
                vals.append(rec.get(f"_{a}_value") if attr and attr.type in LOOKUP_TYPES else rec.get(a))
            out[key.schema] = vals
        return out

    def _defaults(self, table: Table, rec: dict[str, Any], caller: str) -> None:
        attrs = table.attributes
        if "statecode" in attrs and rec.get("statecode") is None:
            rec["statecode"] = 0
        if "statuscode" in attrs and rec.get("statuscode") is None:
            st = attrs["statuscode"]
            state = rec.get("statecode", 0)
            rec["statuscode"] = next(
                (v for v, s in (st.status_state or {}).items() if s == state), next(iter(st.options or {1: ""}))
            )
        if "ownerid" in attrs and not rec.get("_ownerid_value"):
            rec["_ownerid_value"] = caller  # a user: the owner lookup's first target, so no target is stored
        if caller and "createdby" in attrs and not rec.get("_createdby_value"):
            rec["_createdby_value"] = caller
            rec["_modifiedby_value"] = caller
        if table.is_activity:
            rec["activitytypecode"] = table.logical
        if table.logical == "incident" and not rec.get("ticketnumber"):
            rec["ticketnumber"] = "CAS-" + uuid.uuid4().hex[:5].upper() + "-" + uuid.uuid4().hex[:6].upper()
        if "fullname" in attrs and ("firstname" in attrs and "lastname" in attrs):
            rec["fullname"] = " ".join(x for x in (rec.get("firstname"), rec.get("lastname")) if x) or None
        if table.logical == "annotation":
            rec["isdocument"] = bool(rec.get("documentbody"))
            if rec.get(LOOKUP_TARGET + "objectid"):
                rec["objecttypecode"] = rec[LOOKUP_TARGET + "objectid"]

    def _money_base(self, table: Table, rec: dict[str, Any], values: dict[str, Any]) -> None:
        """Learn "Currency columns": a row of a table with money columns has a currency from creation (the base
        currency unless one is bound; Learn's FetchXML paging example shows it on rows without money values), the
        currency's exchange rate, and each `<column>_base` = value / exchange rate."""
        money = self._shape(table).money
        if "transactioncurrencyid" not in values and money.isdisjoint(values):
            if not rec.get("_transactioncurrencyid_value"):  # a new row: the base currency, rate 1
                rec["_transactioncurrencyid_value"] = BASE_CURRENCY_ID
                rec["exchangerate"] = 1.0
            return  # no money written: nothing to convert (the common case, kept cheap for bulk loads)
        if not rec.get("_transactioncurrencyid_value"):
            rec["_transactioncurrencyid_value"] = BASE_CURRENCY_ID
        currency_id = rec["_transactioncurrencyid_value"]
        # The base currency's rate is always 1 (Learn transactioncurrency: "exchange rate ... base currency").
        currency = {} if currency_id == BASE_CURRENCY_ID else self.store.get("transactioncurrency", currency_id) or {}
        rate = float(currency.get("exchangerate") or 1.0)
        rec["exchangerate"] = rate
        for m in money:
            value = rec.get(m)
            rec[f"{m}_base"] = None if value is None else round(value / rate, 4)

    def _check_status(self, table: Table, rec: dict[str, Any]) -> None:
        st = table.attributes.get("statuscode")
        if st is None or not st.status_state or rec.get("statuscode") is None:
            return
        expected = st.status_state.get(rec["statuscode"])
        if expected is not None and rec.get("statecode") is not None and expected != rec["statecode"]:
            raise DvError(
                400,
                "0x80040203",
                f"{rec['statuscode']} is not a valid status code for state code {table.logical}State "
                f"{rec['statecode']} on {table.logical}.",
            )

    # ------------------------------------------------------------------ operations
    def create(
        self,
        table: Table,
        body: dict[str, Any],
        caller: str,
        rid: str | None = None,
        key_values: dict[str, Any] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        values, deep, coll_binds = self.parse_body(table, body)
        if rid is None:
            given = values.pop(table.primary_id, None)
            rid = given or str(uuid.uuid4())
        else:
            values.pop(table.primary_id, None)
        self._flow_rules(table, None, values)
        if table.logical == "incident" and values.get("statecode") == 1:
            raise DvError(
                400,
                "0x80040203",
                "This message can not be used to set the state of Case to Resolved. In order to set state of Case "
                "to Resolved, use the CloseIncidentRequest message instead.",
            )
        rec: dict[str, Any] = {table.primary_id: rid}
        for k, v in (key_values or {}).items():
            if k not in values:
                values[k] = self.check_value(table, table.attributes[k], v)
        self.apply_values(rec, values)
        if self._shape(table).currency:
            self._money_base(table, rec, values)
        stamp = now_iso()
        rec["createdon"] = rec.get("overriddencreatedon") or stamp
        rec["modifiedon"] = stamp
        self._defaults(table, rec, caller)
        self._check_status(table, rec)
        for attr in self._shape(table).required:
            if attr.logical not in (table.primary_id, "ownerid"):
                present = rec.get(f"_{attr.logical}_value") if attr.type in LOOKUP_TYPES else rec.get(attr.logical)
                if present is None:
                    raise E.validation(
                        f"The '{attr.logical}' attribute of the '{table.logical}' entity is SystemRequired and must "
                        "be provided when the record is created.",
                        "0x80040203",
                    )
        try:
            version = self.store.insert(table.logical, rid, rec, self.key_values(table, rec))
        except DuplicateKey as dup:
            if dup.keyname == "primary":
                raise DvError(412, "0x80040237", "Cannot insert duplicate key.") from None
            raise DvError(
                412,
                "0x80060892",
                f"A record that has the attribute values {self._key_desc(table, dup.keyname, rec)} already exists. "
                f"The entity key {dup.keyname} requires that this set of attributes contains unique values. Select "
                "unique values and try again.",
            ) from None
        if table.logical == "workflow" and rec.get("category") == 4 and rec.get("statecode") == 1 and caller:
            self._activate_flow(rec)
            version = self.store.replace(table.logical, rid, rec, None)
        if deep or coll_binds:
            self._after_write(table, rid, deep, coll_binds, caller)
            return rid, self.store.get(table.logical, rid) or rec
        rec["versionnumber"] = version  # what a re-read would return, without the re-read
        return rid, rec

    def _key_desc(self, table: Table, keyname: str, rec: dict[str, Any]) -> str:
        key = next((k for k in table.keys if k.schema == keyname), None)
        return ", ".join(key.attributes) if key else keyname

    def _after_write(
        self, table: Table, rid: str, deep: list[tuple[str, Any]], coll_binds: list[tuple[str, list[str]]], caller: str
    ) -> None:
        for nav_name, payload in deep:
            nav = table.navs[nav_name]
            child_table = self.tables[nav.target]
            if nav.kind == "n2n":
                for item in payload if isinstance(payload, list) else [payload]:
                    if not isinstance(item, dict):
                        raise E.payload_error(table.entity_set, "An object was expected in the collection.")
                    child_id, _ = self.create(child_table, item, caller)
                    n2n.associate(self.store, self.n2n[nav.attribute], table.logical, rid, child_id)
            elif nav.kind == "collection":
                items = payload if isinstance(payload, list) else [payload]
                for item in items:
                    _, _child = self._child_with_parent(child_table, nav.attribute, table, rid, item, caller)
            else:
                if not isinstance(payload, dict):
                    raise E.payload_error(table.entity_set, f"An object was expected for '{nav_name}'.")
                child_id, _ = self.create(child_table, payload, caller)
                rec = self.store.get(table.logical, rid) or {}
                self.apply_values(rec, {nav.attribute: (child_table.logical, child_id)})
                self.store.replace(table.logical, rid, rec, self.key_values(table, rec))
        for nav_name, urls in coll_binds:
            nav = table.navs[nav_name]
            for url in urls:
                self.associate_collection(table, rid, nav_name, url)

    def _child_with_parent(
        self, child_table: Table, attr: str, parent: Table, parent_id: str, item: dict[str, Any], caller: str
    ) -> tuple[str, dict[str, Any]]:
        if not isinstance(item, dict):
            raise E.payload_error(child_table.entity_set, "An object was expected in the collection.")
        rid, rec = self.create(child_table, item, caller)
        self.apply_values(rec, {attr: (parent.logical, parent_id)})
        self.store.replace(child_table.logical, rid, rec, self.key_values(child_table, rec))
        return rid, rec

    def associate_collection(self, table: Table, rid: str, nav_name: str, url: str) -> None:
        nav = table.navs[nav_name]
        child_table, child_id = self.resolve_url(url)
        if child_table.logical != nav.target:
            raise E.payload_error(table.entity_set, f"'{url}' is not a {nav.target} record.")
        if nav.kind == "n2n":
            n2n.associate(self.store, self.n2n[nav.attribute], table.logical, rid, child_id)
            return
        rec = self.store.get(child_table.logical, child_id) or {}
        self.apply_values(rec, {nav.attribute: (table.logical, rid)})
        rec["modifiedon"] = now_iso()
        self.store.replace(child_table.logical, child_id, rec, self.key_values(child_table, rec))

    def update(
        self,
        table: Table,
        rid: str,
        body: dict[str, Any],
        caller: str,
        strip_keys: dict[str, Any] | None = None,
        existing: dict[str, Any] | None = None,
        allow_state: bool = False,
    ) -> dict[str, Any]:
        rec = dict(existing) if existing is not None else self.store.get(table.logical, rid)
        if rec is None:
            raise E.record_not_found(table.logical, rid)
        old_keys = self.key_values(table, rec)
        values, deep, coll_binds = self.parse_body(table, body)
        values.pop(table.primary_id, None)
        for k in strip_keys or {}:
            values.pop(k, None)
        self._flow_rules(table, rec, values)
        if table.logical == "incident" and values.get("statecode") == 1 and not allow_state:
            # Dataverse refuses to resolve a case with Update/SetState; CloseIncident is the documented message.
            # Error code UNCONFIRMED (the message is the service's).
            raise DvError(
                400,
                "0x80040203",
                "This message can not be used to set the state of Case to Resolved. In order to set state of Case "
                "to Resolved, use the CloseIncidentRequest message instead.",
            )
        self.apply_values(rec, values)
        rec["modifiedon"] = now_iso()
        if caller and "modifiedby" in table.attributes:
            rec["_modifiedby_value"] = caller
        if self._shape(table).currency:
            self._money_base(table, rec, values)
        if "statecode" in values and "statuscode" not in values and "statuscode" in table.attributes:
            st = table.attributes["statuscode"]
            rec["statuscode"] = next(
                (v for v, s in (st.status_state or {}).items() if s == rec["statecode"]), rec.get("statuscode")
            )
        if "firstname" in values or "lastname" in values:
            self._defaults(table, rec, caller)
        self._check_status(table, rec)
        if table.logical == "workflow" and rec.get("category") == 4 and values.get("statecode") == 1:
            self._activate_flow(rec)
        new_keys = self.key_values(table, rec)
        try:
            version = self.store.replace(table.logical, rid, rec, new_keys if new_keys != old_keys else None)
        except DuplicateKey as dup:
            raise DvError(
                412,
                "0x80060892",
                f"A record that has the attribute values {self._key_desc(table, dup.keyname, rec)} already exists. "
                f"The entity key {dup.keyname} requires that this set of attributes contains unique values.",
            ) from None
        if deep or coll_binds:
            self._after_write(table, rid, deep, coll_binds, caller)
            return self.store.get(table.logical, rid) or rec
        rec["versionnumber"] = version
        return rec

    def delete(self, table: Table, rid: str) -> None:
        if self.store.get(table.logical, rid) is None:
            raise E.record_not_found(table.logical, rid)
        self.store.delete(table.logical, rid)
        # Cascade: activity parties and notes go with their parent, as Dataverse's cascade-delete does.
        for child in ("activityparty", "annotation"):
            ct = self.tables.get(child)
            if ct is None:
                continue
            col = "_activityid_value" if child == "activityparty" else "_objectid_value"
            for _, r in list(self.store.scan_eq(child, col, rid)):
                if r.get(col) == rid:
                    self.store.delete(child, r[ct.primary_id])

    # ------------------------------------------------------------------ output
    def represent(
        self,
        table: Table,
        rec: dict[str, Any],
        select: list[str] | None,
        annotations: str | None,
        expand: list[tuple[str, list[str] | None]] | None = None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"@odata.etag": etag(int(rec.get("versionnumber") or 0))}
        want_fmt = annotation_wanted(annotations, "OData.Community.Display.V1.FormattedValue")
        want_lookup = annotation_wanted(annotations, "Microsoft.Dynamics.CRM.lookuplogicalname")
        want_nav = annotation_wanted(annotations, "Microsoft.Dynamics.CRM.associatednavigationproperty")
        names = select if select else self.default_columns(table)
        if not (want_fmt or want_lookup or want_nav):
            # No annotations asked for (the common bulk read): the values are the stored ones.
            for name in names:
                out[name] = rec.get(name)
            names = []
        for name in names:
            if name.startswith("_") and name.endswith("_value"):
                col = name[1:-6]
                attr = table.attributes.get(col)
                value = rec.get(name)
                out[name] = value
                if value is not None and attr is not None:
                    target = rec.get(LOOKUP_TARGET + col) or (attr.targets[0] if attr.targets else "")
                    if want_fmt:
                        out[name + FORMATTED] = self.primary_name_of(target, value)
                    if want_nav:
                        tt = self.tables.get(target)
                        out[name + NAVPROP] = single_nav_name(table, attr, target) if tt else col
                    if want_lookup:
                        out[name + LOOKUPNAME] = target
                continue
            value = rec.get(name)
            out[name] = value
            attr = table.attributes.get(name)
            if want_fmt and value is not None and attr is not None:
                formatted = format_value(attr, value)
                if formatted is not None:
                    out[name + FORMATTED] = formatted
        out[table.primary_id] = rec.get(table.primary_id)
        for nav_name, sub_select in expand or []:
            nav = table.navs[nav_name]
            target = self.tables[nav.target]
            if nav.kind == "single":
                rid = rec.get(f"_{nav.attribute}_value")
                tgt_name = rec.get(LOOKUP_TARGET + nav.attribute) or nav.target
                child = self.store.get(tgt_name, rid) if rid and tgt_name == nav.target else None
                out[nav_name] = self.represent(target, child, sub_select, annotations) if child else None
            elif nav.kind == "n2n":
                ids = n2n.related_ids(self.store, self.n2n[nav.attribute], table.logical, rec[table.primary_id])
                rows = [self.store.get(target.logical, i) for i in ids]
                out[nav_name] = [self.represent(target, r, sub_select, annotations) for r in rows if r]
            else:
                col = f"_{nav.attribute}_value"
                rid = rec[table.primary_id]
                out[nav_name] = [
                    self.represent(target, r, sub_select, annotations)
                    for _, r in self.store.scan_eq(target.logical, col, rid)
                    if r.get(col) == rid
                ]
        return out

    def default_columns(self, table: Table) -> list[str]:
        cols = []
        for attr in table.attributes.values():
            if attr.type == PARTYLIST:
                continue
            cols.append(f"_{attr.logical}_value" if attr.type in LOOKUP_TYPES else attr.logical)
        return cols

    def column_known(self, table: Table, name: str) -> bool:
        if name.startswith("_") and name.endswith("_value"):
            attr = table.attributes.get(name[1:-6])
            return attr is not None and attr.type in LOOKUP_TYPES
        attr = table.attributes.get(name)
        return attr is not None and attr.type not in LOOKUP_TYPES and attr.type != PARTYLIST

    def primary_name_of(self, table_name: str, rid: str) -> str | None:
        t = self.tables.get(table_name)
        if t is None:
            return None
        rec = self.store.get(t.logical, rid)
        return rec.get(t.primary_name) if rec else None


@functools.lru_cache(maxsize=256)
def annotation_wanted(pref: str | None, name: str) -> bool:
    if not pref:
        return False
    for item in pref.split(","):
        item = item.strip().strip('"')
        if item == "*" or item == name or (item.endswith("*") and name.startswith(item[:-1])):
            return True
    return False


def format_value(attr: Attribute, value: Any) -> str | None:
    if attr.type in CHOICE_TYPES or attr.type in (STATE, STATUS):
        return (attr.options or {}).get(value)
    if attr.type == "MultiSelectPicklist" and isinstance(value, str):
        return "; ".join((attr.options or {}).get(int(v), v) for v in value.split(",") if v)
    if attr.type == BOOLEAN:
        return "Yes" if value else "No"
    if attr.type == DATETIME and isinstance(value, str):
        try:
            d = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return d.strftime("%d/%m/%Y") if attr.date_only else d.strftime("%d/%m/%Y %H:%M")
    if attr.type == MONEY:
        return f"£{value:,.2f}"
    if attr.type in (INTEGER, BIGINT, DECIMAL, DOUBLE):
        return f"{value:,}"
    return None
