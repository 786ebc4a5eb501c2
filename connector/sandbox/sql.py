"""Read-only SQL over the Web API: `GET <entityset>?sql=<SELECT ...>`.

Only the SDK's code shows this endpoint (powerplatform-dataverse-client 1.1.0 `client.query.sql`, which documents
the subset: SELECT [DISTINCT] [TOP n] columns FROM table [alias], INNER/LEFT JOIN ... ON a.x = b.y, WHERE with
= != > < >= <= LIKE IN NOT IN IS [NOT] NULL BETWEEN AND OR and parentheses, GROUP BY, ORDER BY, OFFSET/FETCH,
COUNT(*) SUM AVG MIN MAX; no SELECT *, subqueries, HAVING, UNION, CASE or functions). The statement is parsed with
sqlglot (T-SQL dialect) and rewritten as the equivalent FetchXML, so it runs on the same engine as `fetchXml=`.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

import sqlglot
from sqlglot import expressions as exp

from connector.sandbox.errors import DvError
from connector.sandbox.fetchxml import CompileOData, run_fetch
from connector.sandbox.records import Records
from connector.sandbox.schema import Table

_COMPARE = {exp.EQ: "eq", exp.NEQ: "ne", exp.GT: "gt", exp.GTE: "ge", exp.LT: "lt", exp.LTE: "le"}
_AGG = {exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max"}


def _bad(message: str) -> DvError:
    # The service's codes for SQL errors are not documented; 0x80040203 (invalid argument) is the sandbox's choice.
    return DvError(400, "0x80040203", message)


class _Translator:
    def __init__(self, records: Records, table: Table, select: exp.Select) -> None:
        self.records = records
        self.table = table
        self.select = select
        src = select.args.get("from") or select.args.get("from_")
        if not isinstance(src, exp.From) or not isinstance(src.this, exp.Table):
            raise _bad("The SQL statement needs FROM <table>.")
        if src.this.name.lower() != table.logical:
            raise _bad(f"The table '{src.this.name}' in FROM does not match the entity set of the request.")
        self.main_alias = (src.this.alias or src.this.name).lower()
        self.tables: dict[str, Table] = {self.main_alias: table, table.logical: table}
        self.links: list[tuple[str, Table, str, str, str, bool]] = []  # alias, table, from, to, parent alias, outer
        for join in select.args.get("joins") or []:
            self._join(join)

    def _join(self, join: exp.Join) -> None:
        target = join.this
        if not isinstance(target, exp.Table):
            raise _bad("Only tables can be joined.")
        other = self.records.tables.get(target.name.lower())
        if other is None:
            raise _bad(f"The table '{target.name}' does not exist.")
        side = (join.args.get("side") or "").upper()
        kind = (join.args.get("kind") or "").upper()
        if side in ("RIGHT", "FULL") or kind == "CROSS":
            raise _bad("Only INNER JOIN and LEFT JOIN are supported.")
        alias = (target.alias or target.name).lower()
        on = join.args.get("on")
        if not isinstance(on, exp.EQ) or not all(isinstance(x, exp.Column) for x in (on.this, on.expression)):
            raise _bad("A JOIN needs ON <alias>.<column> = <alias>.<column>.")
        left, right = on.this, on.expression
        if left.table.lower() == alias:
            left, right = right, left
        if right.table.lower() != alias:
            raise _bad(f"The ON clause must name a column of '{alias}'.")
        self.tables[alias] = other
        self.links.append((alias, other, right.name.lower(), left.name.lower(), left.table.lower(), side == "LEFT"))

    def _owner(self, col: exp.Column) -> str:
        alias = col.table.lower() if col.table else self.main_alias
        if alias not in self.tables:
            raise _bad(f"'{col.table}' is not a table or alias in the statement.")
        return self.main_alias if alias == self.table.logical else alias

    # ------------------------------------------------------------------ WHERE
    def condition(self, node: exp.Expression) -> str:
        if isinstance(node, exp.Paren):
            return self.condition(node.this)
        if isinstance(node, exp.And | exp.Or):
            kind = "and" if isinstance(node, exp.And) else "or"
            return f"<filter type='{kind}'>{self.condition(node.this)}{self.condition(node.expression)}</filter>"
        if isinstance(node, exp.Not):
            inner = node.this
            if isinstance(inner, exp.In):
                return self._cond(inner.this, "not-in", [self._lit(v) for v in inner.expressions])
            if isinstance(inner, exp.Is):
                return self._cond(inner.this, "not-null", [])
            if isinstance(inner, exp.Like):
                return self._cond(inner.this, "not-like", [self._lit(inner.expression)])
            if isinstance(inner, exp.Between):
                return self._cond(
                    inner.this, "not-between", [self._lit(inner.args["low"]), self._lit(inner.args["high"])]
                )
            raise _bad("NOT is supported before IN, LIKE, BETWEEN and IS NULL.")
        for cls, op in _COMPARE.items():
            if isinstance(node, cls):
                return self._cond(node.this, op, [self._lit(node.expression)])
        if isinstance(node, exp.Like):
            return self._cond(node.this, "like", [self._lit(node.expression)])
        if isinstance(node, exp.In):
            return self._cond(node.this, "in", [self._lit(v) for v in node.expressions])
        if isinstance(node, exp.Is):
            return self._cond(node.this, "null", [])
        if isinstance(node, exp.Between):
            return self._cond(node.this, "between", [self._lit(node.args["low"]), self._lit(node.args["high"])])
        raise _bad(f"The SQL condition '{node.sql()}' is not supported.")

    def _cond(self, col: exp.Expression, op: str, values: list[str]) -> str:
        if not isinstance(col, exp.Column):
            raise _bad("A condition must compare a column with values.")
        owner = self._owner(col)
        entity = "" if owner == self.main_alias else f" entityname={quoteattr(owner)}"
        vals = "".join(f"<value>{_xml(v)}</value>" for v in values)
        return f"<condition attribute={quoteattr(col.name.lower())} operator='{op}'{entity}>{vals}</condition>"

    @staticmethod
    def _lit(node: exp.Expression) -> str:
        if isinstance(node, exp.Literal):
            return str(node.this)
        if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
            return "-" + str(node.this.this)
        if isinstance(node, exp.Boolean):
            return "1" if node.this else "0"
        raise _bad(f"'{node.sql()}' is not a literal value.")

    # ------------------------------------------------------------------ the whole statement
    def fetch(self) -> tuple[str, list[tuple[str, str]]]:
        """-> (FetchXML, [(FetchXML result key, SQL output name)])."""
        sel = self.select
        groups = [g for g in (sel.args.get("group") or exp.Group()).expressions]
        aggregate = bool(groups) or any(
            isinstance(e.unalias(), exp.Count | exp.Sum | exp.Avg | exp.Min | exp.Max) for e in sel.expressions
        )
        attrs: dict[str, list[str]] = {}
        names: list[tuple[str, str]] = []
        for item in sel.expressions:
            node = item.unalias()
            out = item.alias_or_name
            if isinstance(node, exp.Star) or (isinstance(node, exp.Column) and isinstance(node.this, exp.Star)):
                raise _bad("SELECT * is not supported: name the columns.")
            func = None
            if isinstance(node, exp.Count):
                arg = node.this
                func = "count" if isinstance(arg, exp.Star) or arg is None else "countcolumn"
                col = None if func == "count" else arg
            elif type(node) in _AGG:
                func, col = _AGG[type(node)], node.this
            else:
                col = node
            if col is not None and not isinstance(col, exp.Column):
                raise _bad(f"'{item.sql()}' is not supported (columns and COUNT/SUM/AVG/MIN/MAX only).")
            owner = self._owner(col) if col is not None else self.main_alias
            column = col.name.lower() if col is not None else self.tables[owner].primary_id
            if (
                func is None
                and aggregate
                and not any(isinstance(g, exp.Column) and g.name.lower() == column for g in groups)
            ):
                raise _bad(f"Column '{column}' must appear in GROUP BY or in an aggregate.")
            alias = out if (item.alias or func) else None
            if func and not alias:
                alias = f"{func}_{column}"
            spec = f"<attribute name={quoteattr(column)}"
            if aggregate:
                alias = alias or column
                spec += f" alias={quoteattr(alias)}" + (f" aggregate='{func}'" if func else " groupby='true'")
            elif alias:
                spec += f" alias={quoteattr(alias)}"
            attrs.setdefault(owner, []).append(spec + "/>")
            key = alias or (column if owner == self.main_alias else f"{owner}.{column}")
            if not aggregate and not alias:
                attr = self.tables[owner].attributes.get(column)
                if attr is not None and attr.type in ("Lookup", "Customer", "Owner"):
                    key = f"_{column}_value" if owner == self.main_alias else f"{owner}._{column}_value"
            names.append((key, out.lower() if not item.alias else out))
        orders = ""
        for o in (sel.args.get("order") or exp.Order()).expressions:
            target = o.this
            desc = " descending='true'" if o.args.get("desc") else ""
            if isinstance(target, exp.Column) and aggregate:
                orders += f"<order alias={quoteattr(target.name)}{desc}/>"
            elif isinstance(target, exp.Column):
                if self._owner(target) != self.main_alias:
                    raise _bad("ORDER BY supports the columns of the FROM table.")
                orders += f"<order attribute={quoteattr(target.name.lower())}{desc}/>"
            else:
                raise _bad("ORDER BY supports column names.")
        where = sel.args.get("where")
        flt = f"<filter>{self.condition(where.this)}</filter>" if where is not None else ""
        head = "<fetch"
        if aggregate:
            head += " aggregate='true'"
        if sel.args.get("distinct"):
            head += " distinct='true'"
        limit = sel.args.get("limit")
        offset = sel.args.get("offset")
        if isinstance(limit, exp.Limit) and offset is None:
            head += f" top='{self._int(limit.expression)}'"
        elif isinstance(limit, exp.Fetch) or offset is not None:
            skip = self._int(offset.expression) if offset is not None else 0
            take = self._int(limit.args.get("count")) if isinstance(limit, exp.Fetch) else 5000
            if skip % take:
                raise _bad("OFFSET must be a multiple of the FETCH NEXT row count.")
            head += f" count='{take}' page='{skip // take + 1}'"
        linked = ""
        for alias, other, from_col, to_col, parent, outer in self.links:
            if parent not in (self.main_alias, self.table.logical):
                raise _bad("Joins must start from the FROM table.")
            inner_attrs = "".join(attrs.get(alias, []))
            kind = "outer" if outer else "inner"
            linked += (
                f"<link-entity name={quoteattr(other.logical)} from={quoteattr(from_col)} to={quoteattr(to_col)} "
                f"alias={quoteattr(alias)} link-type='{kind}'>{inner_attrs}</link-entity>"
            )
        main = "".join(attrs.get(self.main_alias, []))
        xml = f"{head}><entity name={quoteattr(self.table.logical)}>{main}{orders}{flt}{linked}</entity></fetch>"
        return xml, names

    @staticmethod
    def _int(node: Any) -> int:
        if isinstance(node, exp.Literal) and not node.is_string and str(node.this).isdigit():
            return int(node.this)
        raise _bad("TOP, OFFSET and FETCH need whole numbers.")


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def run_sql(records: Records, table: Table, text: str, compile_odata: CompileOData) -> dict[str, Any]:
    try:
        statements = sqlglot.parse(text, read="tsql")
    except sqlglot.errors.ParseError as exc:
        raise _bad(f"The SQL statement could not be parsed: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Select):
        raise _bad("Only a single read-only SELECT statement is supported.")
    select = statements[0]
    for unsupported in (exp.Subquery, exp.With, exp.Having, exp.Union, exp.Case, exp.Window):
        if select.find(unsupported) is not None:
            raise _bad(f"{unsupported.__name__} is not supported in the SQL subset.")
    xml, names = _Translator(records, table, select).fetch()
    body = run_fetch(records, table, xml, None, compile_odata)
    rows = []
    for row in body["value"]:
        rows.append({out: row.get(key) for key, out in names})
    return {"@odata.context": body["@odata.context"], "value": rows}
