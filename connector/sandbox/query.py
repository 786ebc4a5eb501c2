"""Collection reads: $select/$filter/$orderby/$top/$count/$expand, paging with $skiptoken, and change tracking."""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from connector.sandbox import errors as E
from connector.sandbox.errors import DvError
from connector.sandbox.odata_filter import CompiledFilter, Context, FilterError, Scope, compile_query
from connector.sandbox.records import Records, annotation_wanted
from connector.sandbox.schema import (
    BIGINT,
    BOOLEAN,
    DATETIME,
    DECIMAL,
    DOUBLE,
    INTEGER,
    MEMO,
    MONEY,
    PICKLIST,
    STATE,
    STATUS,
    STRING,
    UNIQUEID,
    Table,
)

MAX_PAGE = 5000
CT_EXPIRED = "Version stamp associated with the client has expired. Please perform a full sync."


@dataclass
class Prefer:
    return_representation: bool = False
    annotations: str | None = None
    maxpagesize: int | None = None
    track_changes: bool = False
    continue_on_error: bool = False
    respond_async: bool = False
    applied: list[str] = field(default_factory=list)


def parse_prefer(values: list[str]) -> Prefer:
    """Parse one or more Prefer headers (comma lists; quoted values may contain commas)."""
    pref = Prefer()
    for header in values:
        for item in re.findall(r'(?:[^,"]|"[^"]*")+', header):
            item = item.strip()
            if not item:
                continue
            name, _, value = item.partition("=")
            name, value = name.strip(), value.strip()
            if name == "return" and value == "representation":
                pref.return_representation = True
            elif name == "odata.include-annotations":
                pref.annotations = value.strip('"')
            elif name == "odata.maxpagesize":
                try:
                    pref.maxpagesize = max(1, min(int(value), MAX_PAGE))
                except ValueError:
                    raise DvError(400, "0x80060888", f"The Prefer header value '{item}' is not valid.") from None
            elif name == "odata.track-changes":
                pref.track_changes = True
            elif name == "odata.continue-on-error":
                pref.continue_on_error = True
            elif name == "respond-async":
                pref.respond_async = True
    return pref


def parse_params(raw_query: str) -> dict[str, str]:
    return dict(parse_qsl(raw_query, keep_blank_values=True))


def parse_select(records: Records, table: Table, text: str | None) -> list[str] | None:
    if not text:
        return None
    cols = [c.strip() for c in text.split(",") if c.strip()]
    for c in cols:
        if not records.column_known(table, c):
            raise E.unknown_property(table.logical, c)
    return cols


def split_top_level(text: str) -> list[str]:
    parts, depth, buf = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(buf)
            buf = ""
        else:
            buf += ch
    if buf:
        parts.append(buf)
    return [p.strip() for p in parts if p.strip()]


def parse_expand(records: Records, table: Table, text: str | None) -> list[tuple[str, list[str] | None]]:
    if not text:
        return []
    out = []
    for part in split_top_level(text):
        m = re.fullmatch(r"(\w+)(?:\((.*)\))?", part)
        if not m:
            raise DvError(400, "0x80060888", f"Syntax error in $expand near '{part}'.")
        nav_name, inner = m.group(1), m.group(2) or ""
        nav = table.navs.get(nav_name)
        if nav is None:
            raise DvError(
                400,
                "0x0",
                f"Could not find a property named '{nav_name}' on type 'Microsoft.Dynamics.CRM.{table.logical}'.",
            )
        sub = None
        sm = re.search(r"\$select=([^;]*)", inner)
        if sm:
            sub = parse_select(records, records.tables[nav.target], sm.group(1))
        out.append((nav_name, sub))
    return out


def context_columns(select: list[str] | None, expand: list[tuple[str, list[str] | None]] | None = None) -> str:
    """The select list of a context URL as the service writes it: `(name,primarycontactid(fullname),Account_Tasks())`.

    Learn "Join tables using OData": `$metadata#accounts(name,primarycontactid(fullname),Account_Tasks(subject))`.
    """
    items = list(select or [])
    items += [f"{nav}({','.join(sub or [])})" for nav, sub in expand or []]
    return f"({','.join(items)})" if items else ""


def make_getter(records: Records, table: Table):  # type: ignore[no-untyped-def]
    def get(rec: dict[str, Any], path: str) -> Any:
        if "/" not in path:
            return rec.get(path)
        nav_name, rest = path.split("/", 1)
        nav = table.navs.get(nav_name)
        if nav is None or nav.kind != "single":
            return None
        rid = rec.get(f"_{nav.attribute}_value")
        if not rid:
            return None
        target = records.store.get(nav.target, rid)
        return target.get(rest) if target else None

    return get


def make_known(records: Records, table: Table):  # type: ignore[no-untyped-def]
    def known(path: str) -> bool:
        if "/" in path:
            nav_name, rest = path.split("/", 1)
            nav = table.navs.get(nav_name)
            return bool(nav and nav.kind == "single" and records.column_known(records.tables[nav.target], rest))
        return records.column_known(table, path)

    return known


def make_kind(records: Records, table: Table):  # type: ignore[no-untyped-def]
    """Column -> the kind the filter compiler narrows by (see odata_filter.KindOf)."""

    def kind(path: str) -> str | None:
        if "/" in path:
            return None
        if path.startswith("_") and path.endswith("_value"):
            return "guid" if records.column_known(table, path) else None
        attr = table.attributes.get(path)
        if attr is None:
            return None
        return _KINDS.get(attr.type) if not (attr.type == DATETIME and attr.date_only) else "date"

    return kind


_KINDS = {
    STRING: "text",
    MEMO: "text",
    INTEGER: "integer",
    BIGINT: "integer",
    PICKLIST: "integer",
    STATE: "integer",
    STATUS: "integer",
    DECIMAL: "number",
    DOUBLE: "number",
    MONEY: "number",
    BOOLEAN: "bool",
    DATETIME: "datetime",
    UNIQUEID: "guid",
}


def _cookie(page: int, seq: int, offset: int, snapshot: int | None) -> str:
    cookie = f'<cookie pagenumber="{page}" pagingcookie="{seq}|{offset}|{"" if snapshot is None else snapshot}" istracking="{snapshot is not None}" />'
    return quote(cookie, safe="")


def _read_cookie(token: str) -> tuple[int, int, int, int | None]:
    text = unquote(token)
    m = re.search(r'pagenumber="(\d+)" pagingcookie="(\d+)\|(\d+)\|(\d*)"', text)
    if not m:
        raise DvError(400, "0x80060888", "The $skiptoken value is not valid; use the @odata.nextLink as returned.")
    snap = int(m.group(4)) if m.group(4) else None
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), snap


class CollectionReader:
    def __init__(self, records: Records, ct_expiry_seconds: float | None, ct_min_version: list[int]) -> None:
        self.records = records
        self.ct_expiry_seconds = ct_expiry_seconds
        self.ct_min_version = ct_min_version
        self._filters: dict[tuple[str, str, tuple[tuple[str, str], ...]], CompiledFilter] = {}

    def read(
        self, table: Table, params: dict[str, str], pref: Prefer, url_path: str, user: str | None = None
    ) -> tuple[dict[str, Any], list[str]]:
        """-> (response body, Preference-Applied values)."""
        records = self.records
        applied: list[str] = []
        select = parse_select(records, table, params.get("$select"))
        expand = parse_expand(records, table, params.get("$expand"))
        annotations = pref.annotations
        if annotations:
            applied.append(f'odata.include-annotations="{annotations}"')
        for unsupported in ("$skip", "$search", "$format"):
            if unsupported in params:
                raise DvError(400, "0x80060888", f"The query parameter {unsupported} is not supported.")
        if "fetchXml" in params:
            from connector.sandbox.fetchxml import run_fetch

            fetched = run_fetch(
                records,
                table,
                params["fetchXml"],
                annotations,
                lambda t, text: self._compile(t, text, {}, user).predicate,
            )
            return fetched, applied
        if "sql" in params:
            from connector.sandbox.sql import run_sql

            answer = run_sql(records, table, params["sql"], lambda t, text: self._compile(t, text, {}, user).predicate)
            return answer, applied
        for view in ("savedQuery", "userQuery"):
            if view in params:
                return self._view(table, view, params[view], annotations, user), applied
        if "$apply" in params:
            from connector.sandbox.apply import run_apply

            return (
                run_apply(records, table, params["$apply"], lambda t, text: self._compile(t, text, {}, user).predicate),
                applied,
            )
        for missing in ("$apply",):
            # Real Dataverse supports these; the sandbox does not, and answering with every row instead would be
            # a silent wrong answer. Simplification, listed in docs/sandbox.md.
            if missing in params:
                raise DvError(
                    400, "0x80060888", f"The query parameter {missing} is not supported by the foi-sync sandbox."
                )
        tracking = pref.track_changes or "$deltatoken" in params
        if tracking:
            for opt in ("$filter", "$orderby", "$expand", "$top"):
                if opt in params:
                    raise DvError(
                        400,
                        "0x80060888",
                        f'The "{opt}" query parameter isn\'t supported when Change Tracking is enabled.',
                    )
            return self._track(table, params, pref, url_path, select, annotations, applied)
        aliases = {k[1:]: v for k, v in params.items() if k.startswith("@")}
        compiled = self._compile(table, params["$filter"], aliases, user) if params.get("$filter") else None
        predicate = compiled.predicate if compiled else None
        orderby = self._orderby(table, params.get("$orderby"))
        page_size = pref.maxpagesize or MAX_PAGE
        if pref.maxpagesize:
            applied.append(f"odata.maxpagesize={pref.maxpagesize}")
        top = None
        if "$top" in params:
            try:
                top = int(params["$top"])
            except ValueError:
                raise DvError(400, "0x80060888", "The $top value must be an integer.") from None
            if pref.maxpagesize is None:
                page_size = min(top, MAX_PAGE)
        page, after_seq, offset = 1, 0, 0
        if "$skiptoken" in params:
            page, after_seq, offset, _ = _read_cookie(params["$skiptoken"])
        rows: list[dict[str, Any]] = []
        more = False
        sql = compiled.sql if compiled else None

        # A plain `$select` page (no filter, order, expansion or annotations) needs only the selected values.
        columns = [*select, table.primary_id] if select and not (expand or annotations or compiled or orderby) else None

        def source(after: int = 0) -> Any:
            # The predicate still decides; the compiled SQL condition only narrows the rows it has to look at.
            if sql is not None:
                return records.store.scan_where(table.logical, sql.where, sql.params, sql.indexed, after)
            if columns is not None:
                return records.store.scan_columns(table.logical, columns, after)
            return records.store.scan(table.logical, after)

        if orderby:
            matched = [r for _, r in source() if predicate is None or predicate(r)]
            for col, desc in reversed(orderby):
                matched.sort(key=_sort_key(col), reverse=desc)
            rows = matched[offset : offset + page_size]
            more = len(matched) > offset + page_size
            last_seq, next_offset = 0, offset + page_size
        else:
            last_seq = after_seq
            for seq, r in source(after_seq):
                if predicate is not None and not predicate(r):
                    continue
                if len(rows) == page_size:
                    more = True
                    break
                rows.append(r)
                last_seq = seq
            next_offset = 0
        if top is not None and pref.maxpagesize is None:
            more = False
        ctx = self._context(table, select, expand=expand)
        body: dict[str, Any] = {"@odata.context": ctx}
        total = -1
        if params.get("$count") == "true":
            total = sum(1 for _, r in source() if predicate is None or predicate(r))
            body["@odata.count"] = min(total, MAX_PAGE)
        # Learn "Count rows using OData": with these annotations asked for, over 5,000 matching rows read
        # totalrecordcount 5000 and totalrecordcountlimitexceeded true; without $count, -1 and false.
        if annotation_wanted(annotations, "Microsoft.Dynamics.CRM.totalrecordcount"):
            body["@Microsoft.Dynamics.CRM.totalrecordcount"] = min(total, MAX_PAGE)
        if annotation_wanted(annotations, "Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"):
            body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = total > MAX_PAGE
        body["value"] = [records.represent(table, r, select, annotations, expand) for r in rows]
        if more:
            next_params = {k: v for k, v in params.items() if k != "$skiptoken"}
            next_params["$skiptoken"] = unquote(_cookie(page + 1, last_seq, next_offset, None))
            body["@odata.nextLink"] = self._link(url_path, next_params)
        return body, applied

    def _view(self, table: Table, kind: str, view_id: str, annotations: str | None, user: str | None) -> dict[str, Any]:
        """Learn "Retrieve and execute predefined queries": run a system (savedquery) or personal (userquery) view."""
        from connector.sandbox.fetchxml import run_fetch

        logical = kind.lower()
        row = self.records.store.get(logical, view_id.strip("{}").lower()) if logical in self.records.tables else None
        if row is None:
            raise E.record_not_found(logical, view_id)
        if row.get("returnedtypecode") != table.logical or not row.get("fetchxml"):
            raise DvError(
                400,
                "0x80040203",
                f"The {logical} {view_id} returns {row.get('returnedtypecode')} rows, not {table.logical} rows.",
            )
        return run_fetch(
            self.records,
            table,
            str(row["fetchxml"]),
            annotations,
            lambda t, text: self._compile(t, text, {}, user).predicate,
        )

    def _compile(self, table: Table, text: str, aliases: dict[str, str], user: str | None) -> CompiledFilter:
        """Each distinct filter is parsed once; filters that use the clock or the caller are compiled per request."""
        key = (table.logical, text, tuple(sorted(aliases.items())))
        hit = self._filters.get(key)
        if hit is not None:
            return hit
        records = self.records
        try:
            compiled = compile_query(
                text,
                make_getter(records, table),
                make_known(records, table),
                aliases,
                make_kind(records, table),
                Context(
                    user_id=user,
                    hierarchy=lambda fn, rid: hierarchy_ids(records, table, fn, rid),
                    lambda_scope=lambda nav: lambda_scope(records, table, nav),
                ),
            )
        except FilterError as exc:
            if exc.property:
                raise E.unknown_property(table.logical, exc.property.split("/")[0]) from None
            raise DvError(400, "0x80060888", str(exc)) from None
        if not compiled.volatile:
            if len(self._filters) >= 512:
                self._filters.clear()
            self._filters[key] = compiled
        return compiled

    def _orderby(self, table: Table, text: str | None) -> list[tuple[str, bool]]:
        if not text:
            return []
        out = []
        for part in text.split(","):
            bits = part.strip().split()
            if not bits:
                continue
            col = bits[0]
            if not self.records.column_known(table, col):
                raise E.unknown_property(table.logical, col)
            out.append((col, len(bits) > 1 and bits[1].lower() == "desc"))
        return out

    def _context(
        self,
        table: Table,
        select: list[str] | None,
        suffix: str = "",
        expand: list[tuple[str, list[str] | None]] | None = None,
    ) -> str:
        return f"{self.records.api_base}$metadata#{table.entity_set}{context_columns(select, expand)}{suffix}"

    def _link(self, url_path: str, params: dict[str, str]) -> str:
        root = self.records.api_base.split("/api/data/")[0]
        return root + url_path + "?" + urlencode(params, quote_via=quote, safe="$,'()=@")

    def _track(
        self,
        table: Table,
        params: dict[str, str],
        pref: Prefer,
        url_path: str,
        select: list[str] | None,
        annotations: str | None,
        applied: list[str],
    ) -> tuple[dict[str, Any], list[str]]:
        records = self.records
        store = records.store
        applied.append("odata.track-changes")
        page_size = pref.maxpagesize or MAX_PAGE
        if pref.maxpagesize:
            applied.append(f"odata.maxpagesize={pref.maxpagesize}")
        page, after_seq, offset, snapshot = 1, 0, 0, None
        if "$skiptoken" in params:
            page, after_seq, offset, snapshot = _read_cookie(params["$skiptoken"])
        since: int | None = None
        if "$deltatoken" in params:
            since = self._check_token(params["$deltatoken"])
        if snapshot is None:
            snapshot = store.version
        body: dict[str, Any] = {}
        items: list[dict[str, Any]] = []
        more = False
        if since is None:
            body["@odata.context"] = self._context(table, select)
            last_seq = after_seq
            for seq, r in store.scan(table.logical, after_seq):
                if len(items) == page_size:
                    more = True
                    break
                items.append(records.represent(table, r, select, annotations))
                last_seq = seq
            next_seq, next_offset = last_seq, 0
        else:
            body["@odata.context"] = self._context(table, select, "/$delta")
            changed = store.changed_since(table.logical, since)
            deleted = store.deleted_since(table.logical, since)
            all_items: list[dict[str, Any]] = [records.represent(table, r, select, annotations) for r in changed]
            all_items += [
                {
                    "@odata.context": f"{records.api_base}$metadata#{table.entity_set}/$deletedEntity",
                    "id": rid,
                    "reason": "deleted",
                }
                for rid in deleted
            ]
            items = all_items[offset : offset + page_size]
            more = len(all_items) > offset + page_size
            next_seq, next_offset = 0, offset + page_size
        body["value"] = items
        base_params = {k: v for k, v in params.items() if k not in ("$skiptoken", "$deltatoken")}
        if more:
            nxt = dict(base_params)
            if "$deltatoken" in params:
                nxt["$deltatoken"] = params["$deltatoken"]
            nxt["$skiptoken"] = unquote(_cookie(page + 1, next_seq, next_offset, snapshot))
            body["@odata.nextLink"] = self._link(url_path, nxt)
        else:
            stamp = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime())
            dl = dict(base_params)
            dl["$deltatoken"] = f"{snapshot}!{stamp}"
            body["@odata.deltaLink"] = self._link(url_path, dl)
        return body, applied

    def _check_token(self, token: str) -> int:
        m = re.fullmatch(r"(\d+)!(\d{2})/(\d{2})/(\d{4}) (\d{2}):(\d{2}):(\d{2})", unquote(token))
        if not m:
            raise DvError(
                400, "0x80060888", "The $deltatoken value is not valid; use the @odata.deltaLink as returned."
            )
        issued = calendar.timegm(
            (
                int(m.group(4)),
                int(m.group(2)),
                int(m.group(3)),
                int(m.group(5)),
                int(m.group(6)),
                int(m.group(7)),
                0,
                0,
                0,
            )
        )
        if int(m.group(1)) < self.ct_min_version[0] or (
            # The stamp is truncated to the second, so the token may be up to a second younger than it reads: it
            # expires only once it is surely older than the configured time.
            self.ct_expiry_seconds is not None and time.time() - (issued + 1) > self.ct_expiry_seconds
        ):
            # The SDK's ExpiredVersionStamp (-2147204270 = 0x80044352); status 400 and hex in a Web API body are
            # UNCONFIRMED, the message is the service's.
            raise DvError(400, "0x80044352", CT_EXPIRED)
        return int(m.group(1))


def lambda_scope(records: Records, table: Table, nav_name: str) -> Scope | None:
    """The related table of a collection-valued navigation property (1:N or N:N), for any/all."""
    from connector.sandbox import relationships as n2n

    nav = table.navs.get(nav_name)
    if nav is None or nav.kind not in ("collection", "n2n"):
        return None
    target = records.tables[nav.target]
    store = records.store

    def related(rec: dict[str, Any]) -> list[dict[str, Any]]:
        rid = rec.get(table.primary_id)
        if nav.kind == "n2n":
            ids = n2n.related_ids(store, records.n2n[nav.attribute], table.logical, str(rid))
            return [r for r in (store.get(target.logical, i) for i in ids) if r]
        col = f"_{nav.attribute}_value"
        return [r for _, r in store.scan_eq(target.logical, col, str(rid)) if r.get(col) == rid]

    return Scope(make_known(records, target), make_kind(records, target), make_getter(records, target), related)


def hierarchy_ids(records: Records, table: Table, fn: str, rid: str) -> set[str]:
    """Learn "Query hierarchical data": Above/AboveOrEqual (the row's ancestors), Under/UnderOrEqual/NotUnder (its
    descendants) along the table's self-referencing parent lookup (account.parentaccountid, ...)."""
    parent = next(
        (
            a.logical
            for a in table.attributes.values()
            if a.type == "Lookup" and a.targets == [table.logical] and a.logical != "masterid"
        ),
        None,
    )
    if parent is None:
        raise DvError(400, "0x80040203", f"The table {table.logical} has no hierarchical relationship.")
    col = f"_{parent}_value"
    rows = {r[table.primary_id]: r.get(col) for _, r in records.store.scan(table.logical)}
    out: set[str] = set()
    if fn in ("Above", "AboveOrEqual"):
        seen, cur = set(), rows.get(rid)
        while cur and cur not in seen:
            seen.add(cur)
            out.add(cur)
            cur = rows.get(cur)
    else:
        children: dict[str, list[str]] = {}
        for child, up in rows.items():
            if up:
                children.setdefault(up, []).append(child)
        todo = list(children.get(rid, []))
        while todo:
            nxt = todo.pop()
            if nxt not in out:
                out.add(nxt)
                todo.extend(children.get(nxt, []))
    if fn in ("AboveOrEqual", "UnderOrEqual", "NotUnder"):
        out.add(rid)  # NotUnder: neither the row nor any row under it
    return out


def _sort_key(col: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
    """Nulls first ascending (last descending), as Dataverse orders them."""

    def key(r: dict[str, Any]) -> tuple[bool, Any]:
        return (r.get(col) is not None, _sortable(r.get(col)))

    return key


def _sortable(v: Any) -> Any:
    if isinstance(v, str):
        return (1, v.casefold())
    if v is None:
        return (0, 0)
    return (0, v)
