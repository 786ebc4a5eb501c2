"""FetchXML over the Web API: `GET <entityset>?fetchXml=<url-encoded FetchXML>`.

Learn "Use FetchXml to query data" and its reference (fetch, entity, attribute, all-attributes, order, filter,
condition, link-entity, value) and "Page results using FetchXml": `count`/`page` paging, the paging cookie returned
as `@Microsoft.Dynamics.CRM.fetchxmlpagingcookie` (a `<cookie pagenumber=... pagingcookie=...>` document whose
`pagingcookie` is URL-encoded twice) and `@Microsoft.Dynamics.CRM.morerecords` when the Prefer header asks for them,
neither on the last page; aggregates (`aggregate="true"`, count/countcolumn/sum/avg/min/max, `groupby`); columns
from link-entities named `alias.column`; null columns left out of each row, as the service writes FetchXML results.

Conditions are translated into the sandbox's OData filter language (the same compiled, cached predicates `$filter`
uses), so FetchXML operators and the `Microsoft.Dynamics.CRM.*` query functions share one implementation.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from connector.sandbox.errors import DvError
from connector.sandbox.records import FORMATTED, Records, annotation_wanted, etag, format_value
from connector.sandbox.schema import (
    BIGINT,
    BOOLEAN,
    CHOICE_TYPES,
    DATETIME,
    DECIMAL,
    DOUBLE,
    INTEGER,
    LOOKUP_TYPES,
    MONEY,
    UNIQUEID,
    Table,
)

Row = dict[str | None, dict[str, Any] | None]  # alias (None = the main entity) -> the record joined in
RowPredicate = Callable[[Row], bool]
CompileOData = Callable[[Table, str], Callable[[dict[str, Any]], bool]]

PAGE_LIMIT = 5000

# FetchXML condition operator -> the Microsoft.Dynamics.CRM query function that means the same (Learn "condition
# element" operator list and "Web API Query Function Reference").
_FUNCTIONS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "tomorrow": "Tomorrow",
    "last-seven-days": "Last7Days",
    "next-seven-days": "Next7Days",
    "this-week": "ThisWeek",
    "last-week": "LastWeek",
    "next-week": "NextWeek",
    "this-month": "ThisMonth",
    "last-month": "LastMonth",
    "next-month": "NextMonth",
    "this-year": "ThisYear",
    "last-year": "LastYear",
    "next-year": "NextYear",
    "eq-userid": "EqualUserId",
    "ne-userid": "NotEqualUserId",
}
_VALUE_FUNCTIONS = {
    "on": "On",
    "on-or-after": "OnOrAfter",
    "on-or-before": "OnOrBefore",
    **{f"last-x-{u}": f"LastX{u.title()}" for u in ("hours", "days", "weeks", "months", "years")},
    **{f"next-x-{u}": f"NextX{u.title()}" for u in ("hours", "days", "weeks", "months", "years")},
    **{f"olderthan-x-{u}": f"OlderThanX{u.title()}" for u in ("minutes", "hours", "days", "weeks", "months", "years")},
    "above": "Above",
    "eq-or-above": "AboveOrEqual",
    "under": "Under",
    "eq-or-under": "UnderOrEqual",
    "not-under": "NotUnder",
}
_COMPARE = {"eq": "eq", "ne": "ne", "neq": "ne", "gt": "gt", "ge": "ge", "lt": "lt", "le": "le"}
_TEXT = {
    "like": "like",
    "not-like": "like",
    "begins-with": "startswith",
    "not-begin-with": "startswith",
    "ends-with": "endswith",
    "not-end-with": "endswith",
}


def _bad(message: str) -> DvError:
    # Code 0x80041102 is FetchXML's "invalid query" family in the service; the exact code per case is not documented.
    return DvError(400, "0x80041102", message)


@dataclass
class Link:
    alias: str
    table: Table
    from_col: str  # column on the linked table
    to_col: str  # column on the parent
    parent: str | None  # alias of the parent (None = main entity)
    outer: bool
    attributes: list[tuple[str, str | None]] = field(default_factory=list)  # (column, alias)
    all_attributes: bool = False


@dataclass
class Aggregate:
    column: str
    alias: str
    func: str | None  # count | countcolumn | sum | avg | min | max; None = groupby
    entity: str | None = None
    distinct: bool = False
    dategrouping: str | None = None  # day | week | month | quarter | year (Learn "Aggregate data": Date grouping)


_DATE_GROUPS = ("day", "week", "month", "quarter", "year")


def _date_group(value: Any, how: str) -> Any:
    """A stored date or date-time -> the number Learn's date grouping answers (day of month, week of year, ...)."""
    if not isinstance(value, str):
        return None
    d = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if how == "day":
        return d.day
    if how == "week":
        return d.isocalendar()[1]
    if how == "month":
        return d.month
    if how == "quarter":
        return (d.month - 1) // 3 + 1
    return d.year


class FetchXml:
    """One parsed FetchXML query against one table, run over the store."""

    def __init__(self, records: Records, table: Table, text: str, compile_odata: CompileOData) -> None:
        self.records = records
        self.compile_odata = compile_odata
        if "<!" in text:  # no DTDs or entities: a FetchXML query never needs them (and they are the XML attacks)
            raise _bad("The FetchXml must not contain a DOCTYPE, ENTITY or other markup declaration.")
        try:
            root = ET.fromstring(text)  # noqa: S314 - declarations refused above
        except ET.ParseError as exc:
            raise _bad(f"The FetchXml is not well-formed XML: {exc}.") from None
        if root.tag != "fetch":
            raise _bad("The FetchXml must have <fetch> as its root element.")
        entity = root.find("entity")
        if entity is None or not entity.get("name"):
            raise _bad("The FetchXml <fetch> element needs an <entity name=...> child.")
        if entity.get("name") != table.logical:
            raise _bad(
                f"The entity name '{entity.get('name')}' in the FetchXml does not match the entity set "
                f"'{table.entity_set}' of the request ({table.logical})."
            )
        self.table = table
        self.count = self._int(root.get("count"), "count")
        self.page = self._int(root.get("page"), "page") or 1
        self.top = self._int(root.get("top"), "top")
        if self.top is not None and (self.count is not None or root.get("page")):
            raise _bad("The top attribute can't be specified with paging attribute page or count.")
        self.paging_cookie = root.get("paging-cookie")
        self.aggregate = root.get("aggregate") == "true"
        self.distinct = root.get("distinct") == "true"
        self.total_count = root.get("returntotalrecordcount") == "true"
        self.links: list[Link] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.all_attributes = entity.find("all-attributes") is not None
        self.aggregates: list[Aggregate] = []
        self.orders: list[tuple[str | None, str, bool]] = []  # (alias, column, descending)
        self.filters: list[RowPredicate] = []
        self._read_entity(entity, None, table)

    # ------------------------------------------------------------------ parsing
    @staticmethod
    def _int(raw: str | None, name: str) -> int | None:
        if raw is None:
            return None
        if not raw.isdigit() or int(raw) < 1:
            raise _bad(f"The {name} attribute must be a positive whole number, not '{raw}'.")
        return int(raw)

    def _column(self, table: Table, name: str | None, where: str) -> str:
        if not name or name not in table.attributes:
            raise _bad(f"'{table.logical}' entity doesn't contain attribute with Name = '{name}' ({where}).")
        return name

    def _read_entity(self, node: ET.Element, alias: str | None, table: Table) -> None:
        for child in node:
            if child.tag == "attribute":
                col = self._column(table, child.get("name"), "attribute")
                if self.aggregate:
                    agg = child.get("aggregate")
                    if not child.get("alias"):
                        raise _bad("An aggregate query needs an alias on every attribute.")
                    if agg is None and child.get("groupby") != "true":
                        raise _bad(f"Attribute '{col}' in an aggregate query needs aggregate= or groupby='true'.")
                    grouping = child.get("dategrouping")
                    if grouping is not None and grouping not in _DATE_GROUPS:
                        raise _bad(
                            f"The dategrouping '{grouping}' is not supported by the sandbox (day, week, month, "
                            "quarter, year; fiscal periods are not modelled)."
                        )
                    self.aggregates.append(
                        Aggregate(col, str(child.get("alias")), agg, alias, child.get("distinct") == "true", grouping)
                    )
                elif alias is None:
                    self.attributes.append((col, child.get("alias")))
                else:
                    self._link(alias).attributes.append((col, child.get("alias")))
            elif child.tag == "all-attributes":
                if alias is not None:
                    self._link(alias).all_attributes = True
            elif child.tag == "order":
                col_alias = child.get("alias")
                col = (
                    col_alias
                    if (self.aggregate and col_alias)
                    else self._column(table, child.get("attribute"), "order")
                )
                self.orders.append((alias, str(col), child.get("descending") == "true"))
            elif child.tag == "filter":
                self.filters.append(self._filter(child, alias, table))
            elif child.tag == "link-entity":
                self._read_link(child, alias, table)
            else:
                raise _bad(f"The element '{child.tag}' is not valid inside an entity in FetchXml.")

    def _link(self, alias: str) -> Link:
        return next(lk for lk in self.links if lk.alias == alias)

    def _read_link(self, node: ET.Element, parent_alias: str | None, parent: Table) -> None:
        name = node.get("name")
        table = self.records.tables.get(name or "")
        if table is None:
            raise _bad(f"The entity '{name}' in a link-entity does not exist.")
        from_col = self._column(table, node.get("from"), "link-entity from")
        to_col = self._column(parent, node.get("to"), "link-entity to")
        alias = node.get("alias") or f"{table.logical}{len(self.links) + 1}"
        link_type = node.get("link-type", "inner")
        if link_type not in ("inner", "outer"):
            raise _bad(f"The link-type '{link_type}' is not supported by the sandbox (inner and outer are).")
        self.links.append(Link(alias, table, from_col, to_col, parent_alias, link_type == "outer"))
        self._read_entity(node, alias, table)

    def _filter(self, node: ET.Element, alias: str | None, table: Table) -> RowPredicate:
        kind = node.get("type", "and")
        parts: list[RowPredicate] = []
        for child in node:
            if child.tag == "condition":
                parts.append(self._condition(child, alias, table))
            elif child.tag == "filter":
                parts.append(self._filter(child, alias, table))
            else:
                raise _bad(f"The element '{child.tag}' is not valid inside a filter in FetchXml.")
        if kind == "or":
            return lambda row: any(p(row) for p in parts) if parts else True
        return lambda row: all(p(row) for p in parts)

    def _condition(self, node: ET.Element, alias: str | None, table: Table) -> RowPredicate:
        target_alias = node.get("entityname") or alias
        if target_alias != alias:
            try:
                table = self._link(str(target_alias)).table
            except StopIteration:
                raise _bad(f"The condition names entityname '{target_alias}', which is no link-entity alias.") from None
        col = self._column(table, node.get("attribute"), "condition")
        op = node.get("operator") or ""
        values = [v.text or "" for v in node.findall("value")]
        if node.get("value") is not None:
            values.insert(0, str(node.get("value")))
        text = self._odata(table, col, op, values)
        pred = self.compile_odata(table, text)
        key = target_alias

        def test(row: Row) -> bool:
            rec = row.get(key)
            return rec is not None and pred(rec)

        return test

    def _odata(self, table: Table, col: str, op: str, values: list[str]) -> str:
        attr = table.attributes[col]
        prop = f"_{col}_value" if attr.type in LOOKUP_TYPES else col

        def lit(raw: str) -> str:
            return _literal(attr.type, raw)

        def one() -> str:
            if not values:
                raise _bad(f"The condition operator '{op}' on '{col}' needs a value.")
            return values[0]

        if op in _COMPARE:
            return f"{prop} {_COMPARE[op]} {lit(one())}"
        if op == "null":
            return f"{prop} eq null"
        if op == "not-null":
            return f"{prop} ne null"
        if op in _TEXT:
            raw = one()
            neg = op.startswith("not-")
            expr = _like(prop, raw) if _TEXT[op] == "like" else f"{_TEXT[op]}({prop},{_quote(raw)})"
            return f"not ({expr})" if neg else expr
        if op in ("contain-values", "not-contain-values"):
            fn = "ContainValues" if op == "contain-values" else "DoesNotContainValues"
            listed = ",".join(_quote(v) for v in values)
            return f"Microsoft.Dynamics.CRM.{fn}(PropertyName='{prop}',PropertyValues=[{listed}])"
        if op in ("in", "not-in", "between", "not-between"):
            if op.endswith("between") and len(values) != 2:
                raise _bad(f"The condition operator '{op}' on '{col}' needs exactly two values.")
            fn = {"in": "In", "not-in": "NotIn", "between": "Between", "not-between": "NotBetween"}[op]
            listed = ",".join(_quote(v.strip("{}")) for v in values)
            return f"Microsoft.Dynamics.CRM.{fn}(PropertyName='{prop}',PropertyValues=[{listed}])"
        if op in _FUNCTIONS:
            return f"Microsoft.Dynamics.CRM.{_FUNCTIONS[op]}(PropertyName='{prop}')"
        if op in _VALUE_FUNCTIONS:
            return f"Microsoft.Dynamics.CRM.{_VALUE_FUNCTIONS[op]}(PropertyName='{prop}',PropertyValue={_quote(one())})"
        raise _bad(f"The condition operator '{op}' is not supported by the foi-sync sandbox.")

    # ------------------------------------------------------------------ running
    def rows(self) -> list[Row]:
        store = self.records.store
        out: list[Row] = [{None: rec} for _, rec in store.scan(self.table.logical)]
        for link in self.links:
            joined: list[Row] = []
            index: dict[Any, list[dict[str, Any]]] = {}
            from_key = _stored(link.table, link.from_col)
            for _, rec in store.scan(link.table.logical):
                index.setdefault(_norm(rec.get(from_key)), []).append(rec)
            parent_table = self.table if link.parent is None else self._link(link.parent).table
            to_key = _stored(parent_table, link.to_col)
            for row in out:
                parent = row.get(link.parent)
                matches = index.get(_norm(parent.get(to_key)), []) if parent is not None else []
                if not matches:
                    if link.outer:
                        joined.append({**row, link.alias: None})
                    continue
                for m in matches:
                    joined.append({**row, link.alias: m})
            out = joined
        return [r for r in out if all(f(r) for f in self.filters)]

    def sort(self, rows: list[Row]) -> list[Row]:
        pk = self.table.primary_id
        rows.sort(key=lambda r: str((r[None] or {}).get(pk)))
        for alias, col, desc in reversed(self.orders):
            if self.aggregate:
                rows.sort(key=lambda r, c=col: _sortable((r[None] or {}).get(c)), reverse=desc)  # type: ignore[misc]
                continue
            table = self.table if alias is None else self._link(alias).table
            key = _stored(table, col)
            rows.sort(key=lambda r, a=alias, k=key: _sortable((r.get(a) or {}).get(k)), reverse=desc)  # type: ignore[misc]
        return rows

    def aggregate_rows(self, rows: list[Row]) -> list[dict[str, Any]]:
        groups: dict[tuple[Any, ...], list[Row]] = {}
        keys = [a for a in self.aggregates if a.func is None]
        for row in rows:
            sig = tuple(_norm(self._value(row, a)) for a in keys)
            groups.setdefault(sig, []).append(row)
        if not keys and not groups:
            groups[()] = []
        out: list[dict[str, Any]] = []
        for members in groups.values():
            item: dict[str, Any] = {}
            for a in self.aggregates:
                vals = [self._value(r, a) for r in members]
                present = [v for v in vals if v is not None]
                if a.distinct:
                    present = list(dict.fromkeys(present))
                if a.func is None:
                    item[a.alias] = vals[0] if vals else None
                elif a.func == "count":
                    item[a.alias] = len(members)
                elif a.func == "countcolumn":
                    item[a.alias] = len(present)
                elif a.func == "sum":
                    item[a.alias] = sum(present) if present else None
                elif a.func == "avg":
                    item[a.alias] = sum(present) / len(present) if present else None
                elif a.func == "min":
                    item[a.alias] = min(present) if present else None
                elif a.func == "max":
                    item[a.alias] = max(present) if present else None
                else:
                    raise _bad(f"The aggregate '{a.func}' is not valid (count, countcolumn, sum, avg, min, max).")
            out.append(item)
        for _alias, col, desc in reversed(self.orders):
            out.sort(key=lambda r, c=col: _sortable(r.get(c)), reverse=desc)  # type: ignore[misc]
        return out

    def _value(self, row: Row, a: Aggregate) -> Any:
        table = self.table if a.entity is None else self._link(a.entity).table
        rec = row.get(a.entity)
        value = rec.get(_stored(table, a.column)) if rec is not None else None
        return _date_group(value, a.dategrouping) if a.dategrouping else value

    def columns(self) -> list[tuple[str, str]]:
        """(stored column, name in the result) of the main entity."""
        t = self.table
        if self.all_attributes or not self.attributes:
            names = [(c, c) for c in self.records.default_columns(t)]
        else:
            names = [(_stored(t, c), alias or _stored(t, c)) for c, alias in self.attributes]
            # Learn "Page results using FetchXml": a money column brings its currency along in each row.
            money = any((a := t.attributes.get(c)) is not None and a.type == MONEY for c, _ in self.attributes)
            if money and "transactioncurrencyid" in t.attributes and "_transactioncurrencyid_value" not in dict(names):
                names.append(("_transactioncurrencyid_value", "_transactioncurrencyid_value"))
        if not any(s == t.primary_id for s, _ in names):
            names.append((t.primary_id, t.primary_id))
        return names

    def context_names(self) -> list[str]:
        """The selection as the service writes it in @odata.context: with a money column, the currency lookup and
        its navigation property (`...,annualincome,_transactioncurrencyid_value,transactioncurrencyid,contactid,
        transactioncurrencyid()`, Learn "Page results using FetchXml")."""
        names = [name for _, name in self.columns()]
        if "_transactioncurrencyid_value" in names and not (self.all_attributes or not self.attributes):
            at = names.index("_transactioncurrencyid_value") + 1
            names = [*names[:at], "transactioncurrencyid", *names[at:], "transactioncurrencyid()"]
        return names

    def shape(self, row: Row, annotations: str | None) -> dict[str, Any]:
        rec = row[None] or {}
        want_fmt = annotation_wanted(annotations, "OData.Community.Display.V1.FormattedValue")
        out: dict[str, Any] = {"@odata.etag": etag(int(rec.get("versionnumber") or 0))}
        for stored, name in self.columns():
            value = rec.get(stored)
            if value is None:
                continue  # FetchXML results leave null columns out
            out[name] = value
            if want_fmt:
                self._format(out, name, self.table, stored, value)
        for link in self.links:
            linked = row.get(link.alias)
            if linked is None:
                continue
            cols = (
                [(c, None) for c in self.records.default_columns(link.table)]
                if link.all_attributes
                else [(_stored(link.table, c), a) for c, a in link.attributes]
            )
            for stored, alias in cols:
                value = linked.get(stored)
                if value is None:
                    continue
                name = alias or f"{link.alias}.{stored}"
                out[name] = value
                if want_fmt:
                    self._format(out, name, link.table, stored, value)
        return out

    def _format(self, out: dict[str, Any], name: str, table: Table, stored: str, value: Any) -> None:
        if stored.startswith("_") and stored.endswith("_value"):
            attr = table.attributes.get(stored[1:-6])
            target = attr.targets[0] if attr and attr.targets else ""
            text = self.records.primary_name_of(target, value) if target else None
        else:
            attr = table.attributes.get(stored)
            text = format_value(attr, value) if attr is not None else None
        if text is not None:
            out[name + FORMATTED] = text


def _stored(table: Table, col: str) -> str:
    attr = table.attributes.get(col)
    return f"_{col}_value" if attr is not None and attr.type in LOOKUP_TYPES else col


def _norm(v: Any) -> Any:
    return v.casefold() if isinstance(v, str) else v


def _sortable(v: Any) -> tuple[int, Any]:
    if v is None:
        return (0, 0)
    if isinstance(v, str):
        return (1, v.casefold())
    return (1, v)


def _quote(raw: str) -> str:
    return "'" + raw.replace("'", "''") + "'"


def _literal(attr_type: str, raw: str) -> str:
    text = raw.strip()
    if attr_type in LOOKUP_TYPES or attr_type == UNIQUEID:
        return text.strip("{}").lower()
    if attr_type == BOOLEAN:
        return "true" if text.lower() in ("1", "true") else "false"
    if attr_type in (INTEGER, BIGINT) or attr_type in CHOICE_TYPES:
        if not re.fullmatch(r"-?\d+", text):
            raise _bad(f"The value '{raw}' is not a whole number.")
        return text
    if attr_type in (DECIMAL, DOUBLE, MONEY):
        if not re.fullmatch(r"-?\d+(\.\d+)?", text):
            raise _bad(f"The value '{raw}' is not a number.")
        return text
    if attr_type == DATETIME:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:\d{2})?)?", text):
            raise _bad(f"The value '{raw}' is not a date.")
        return text.replace(" ", "T")
    return _quote(raw)


def _like(prop: str, pattern: str) -> str:
    """SQL LIKE with % at the ends -> contains/startswith/endswith (which take the same wildcards inside)."""
    lead, trail = pattern.startswith("%"), pattern.endswith("%") and len(pattern) > 1
    inner = pattern[1 if lead else 0 : len(pattern) - (1 if trail else 0)]
    if lead and trail:
        return f"contains({prop},{_quote(inner)})"
    if trail:
        return f"startswith({prop},{_quote(inner)})"
    if lead:
        return f"endswith({prop},{_quote(inner)})"
    return f"(startswith({prop},{_quote(inner)}) and endswith({prop},{_quote(inner)}))"


def paging_cookie_annotation(page: int, pk: str, first: str, last: str) -> str:
    """The documented `<cookie pagenumber="N+1" pagingcookie="<twice URL-encoded page cookie>" istracking="False" />`."""
    inner = f'<cookie page="{page}"><{pk} last="{{{last.upper()}}}" first="{{{first.upper()}}}" /></cookie>'
    encoded = quote(quote(inner, safe=""), safe="").lower()
    return f'<cookie pagenumber="{page + 1}" pagingcookie="{encoded}" istracking="False" />'


def cookie_last_id(cookie: str | None, pk: str) -> str | None:
    """The primary key value after which the next page starts, from a paging-cookie attribute value."""
    if not cookie:
        return None
    m = re.search(pk + r'\s+last="\{?([0-9A-Fa-f-]{36})\}?"', cookie)
    return m.group(1).lower() if m else None


def run_fetch(
    records: Records,
    table: Table,
    text: str,
    annotations: str | None,
    compile_odata: CompileOData,
) -> dict[str, Any]:
    """-> the response body of `GET <set>?fetchXml=...`."""
    q = FetchXml(records, table, text, compile_odata)
    rows = q.sort(q.rows())
    base = records.api_base
    body: dict[str, Any] = {}
    if q.aggregate:
        values = q.aggregate_rows(rows)
        names = ",".join(a.alias for a in q.aggregates)
        body["@odata.context"] = f"{base}$metadata#{table.entity_set}({names})"
        body["value"] = values
        return body
    if q.distinct:
        seen: set[str] = set()
        unique: list[Row] = []
        for r in rows:
            sig = repr(
                sorted((k, v) for k, v in q.shape(r, None).items() if k != "@odata.etag" and k != table.primary_id)
            )
            if sig not in seen:
                seen.add(sig)
                unique.append(r)
        rows = unique
    total = len(rows)
    if q.top is not None:
        page_rows, more = rows[: q.top], False
    else:
        size = min(q.count or PAGE_LIMIT, PAGE_LIMIT)
        start = (q.page - 1) * size
        after = cookie_last_id(q.paging_cookie, table.primary_id)
        if after is not None:
            ids = [str((r[None] or {}).get(table.primary_id)) for r in rows]
            if after in ids:
                start = ids.index(after) + 1
        page_rows = rows[start : start + size]
        more = len(rows) > start + size
    cols = ",".join(q.context_names())
    body["@odata.context"] = f"{base}$metadata#{table.entity_set}({cols})"
    if q.total_count and annotation_wanted(annotations, "Microsoft.Dynamics.CRM.totalrecordcount"):
        body["@Microsoft.Dynamics.CRM.totalrecordcount"] = min(total, PAGE_LIMIT)
        body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = total > PAGE_LIMIT
    if more and page_rows and annotation_wanted(annotations, "Microsoft.Dynamics.CRM.fetchxmlpagingcookie"):
        pk = table.primary_id
        body["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"] = paging_cookie_annotation(
            q.page, pk, str((page_rows[0][None] or {}).get(pk)), str((page_rows[-1][None] or {}).get(pk))
        )
    if more and annotation_wanted(annotations, "Microsoft.Dynamics.CRM.morerecords"):
        body["@Microsoft.Dynamics.CRM.morerecords"] = True
    body["value"] = [q.shape(r, annotations) for r in page_rows]
    return body
