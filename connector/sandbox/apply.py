"""`$apply` aggregation (OData Data Aggregation), as Dataverse supports it.

Learn "Aggregate data using OData" (webapi/query/aggregate-data): `aggregate(<col> with sum|min|max|average|
countdistinct as <alias>, $count as <alias>)`, `groupby((<col>,...)[,aggregate(...)])` and `filter(<expr>)`, chained
with `/`; the response is a collection whose rows hold the grouped columns and the aliases. Filters use the same
compiled predicates as `$filter`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from connector.sandbox.errors import DvError
from connector.sandbox.query import split_top_level
from connector.sandbox.records import Records
from connector.sandbox.schema import Table

_METHODS = ("sum", "min", "max", "average", "countdistinct")


def _bad(message: str) -> DvError:
    return DvError(400, "0x80060888", message)


def _steps(text: str) -> list[tuple[str, str]]:
    """`filter(a)/groupby((b),aggregate(c))` -> [("filter", "a"), ("groupby", "(b),aggregate(c)")]."""
    out, depth, start, quoted = [], 0, 0, False
    for i, ch in enumerate(text + "/"):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and ch == "/" and depth == 0:
            part = text[start:i].strip()
            m = re.fullmatch(r"(\w+)\((.*)\)", part, re.DOTALL)
            if not m:
                raise _bad(f"The $apply transformation '{part}' is not valid.")
            out.append((m.group(1), m.group(2)))
            start = i + 1
    return out


def _aggregates(text: str, table: Table) -> list[tuple[str | None, str, str]]:
    """`revenue with sum as total, $count as n` -> [(column, method, alias)] (column None for $count)."""
    out: list[tuple[str | None, str, str]] = []
    for part in split_top_level(text):
        m = re.fullmatch(r"\s*(\$count|[\w/]+)(?:\s+with\s+(\w+))?\s+as\s+(\w+)\s*", part)
        if not m:
            raise _bad(f"The aggregate expression '{part.strip()}' is not valid.")
        col, method, alias = m.groups()
        if col == "$count":
            out.append((None, "count", alias))
            continue
        if method not in _METHODS:
            raise _bad(f"The aggregate method '{method}' is not supported ({', '.join(_METHODS)}).")
        _check(table, col)
        out.append((col, method, alias))
    return out


def _check(table: Table, col: str) -> None:
    name = col[1:-6] if col.startswith("_") and col.endswith("_value") else col
    if name not in table.attributes:
        raise DvError(
            400, "0x0", f"Could not find a property named '{col}' on type 'Microsoft.Dynamics.CRM.{table.logical}'."
        )


def _compute(method: str, values: list[Any], rows: int) -> Any:
    present = [v for v in values if v is not None]
    if method == "count":
        return rows
    if method == "countdistinct":
        return len(set(present))
    if not present:
        return None
    if method == "sum":
        return sum(present)
    if method == "average":
        return sum(present) / len(present)
    return min(present) if method == "min" else max(present)


def run_apply(
    records: Records, table: Table, text: str, compile_odata: Callable[[Table, str], Callable[[dict[str, Any]], bool]]
) -> dict[str, Any]:
    rows = [r for _, r in records.store.scan(table.logical)]
    result: list[dict[str, Any]] | None = None
    names: list[str] = []
    for name, arg in _steps(text):
        if result is not None:
            raise _bad("Nothing can follow groupby or aggregate in the sandbox's $apply.")
        if name == "filter":
            pred = compile_odata(table, arg)
            rows = [r for r in rows if pred(r)]
        elif name == "aggregate":
            totals = _aggregates(arg, table)
            result = [{alias: _compute(m, [r.get(c) for r in rows] if c else [], len(rows)) for c, m, alias in totals}]
            names = [a for _, _, a in totals]
        elif name == "groupby":
            parts = split_top_level(arg)
            cols_text = parts[0].strip()
            if not (cols_text.startswith("(") and cols_text.endswith(")")):
                raise _bad("groupby needs a parenthesised list of columns: groupby((col1,col2),...).")
            cols = [c.strip() for c in cols_text[1:-1].split(",") if c.strip()]
            for c in cols:
                _check(table, c)
            aggs: list[tuple[str | None, str, str]] = []
            if len(parts) > 1:
                m = re.fullmatch(r"\s*aggregate\((.*)\)\s*", parts[1], re.DOTALL)
                if not m:
                    raise _bad("groupby's second argument must be aggregate(...).")
                aggs = _aggregates(m.group(1), table)
            groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
            for r in rows:
                groups.setdefault(tuple(r.get(c) for c in cols), []).append(r)
            result = []
            for key in sorted(groups, key=lambda k: tuple((v is not None, str(v).casefold()) for v in k)):
                members = groups[key]
                item = dict(zip(cols, key, strict=True))
                for agg_col, meth, alias in aggs:
                    values = [r.get(agg_col) for r in members] if agg_col else []
                    item[alias] = _compute(meth, values, len(members))
                result.append(item)
            names = cols + [a for _, _, a in aggs]
        else:
            raise _bad(f"The $apply transformation '{name}' is not supported (filter, groupby, aggregate).")
    if result is None:
        raise _bad("$apply needs groupby or aggregate.")
    ctx = f"{records.api_base}$metadata#{table.entity_set}({','.join(names)})"
    return {"@odata.context": ctx, "value": result}
