"""Unbound messages clients call besides CRUD: BulkDelete and RetrieveTotalRecordCount.

BulkDelete (Learn "BulkDelete Action"; Microsoft's Python SDK uses it to delete a list of ids) takes QueryExpressions
and answers `{"JobId": <guid>}`; the service runs the job asynchronously, the sandbox runs it before answering so a
client that polls the job finds it done. RetrieveTotalRecordCount (Learn "Count rows using OData") answers
`{"EntityRecordCountCollection": {"Count": n, "IsReadOnly": false, "Keys": [...], "Values": [...]}}`.
"""

from __future__ import annotations

import fnmatch
import uuid
from collections.abc import Callable
from typing import Any

from connector.sandbox.errors import DvError
from connector.sandbox.records import Records

Row = dict[str, Any]


def _values(cond: dict[str, Any]) -> list[Any]:
    out = []
    for v in cond.get("Values") or []:
        out.append(v.get("Value") if isinstance(v, dict) else v)
    return out


def _norm(v: Any) -> Any:
    return v.casefold() if isinstance(v, str) else v


def condition(cond: dict[str, Any]) -> Callable[[Row], bool]:
    """A ConditionExpression (AttributeName, Operator, Values) as a row predicate."""
    col = str(cond.get("AttributeName") or "").lower()
    op = str(cond.get("Operator") or "Equal")
    vals = [_norm(v) for v in _values(cond)]

    def get(r: Row) -> Any:
        v = r.get(col)
        if v is None:
            v = r.get(f"_{col}_value")
        return _norm(v)

    first = vals[0] if vals else None
    ops: dict[str, Callable[[Row], bool]] = {
        "Equal": lambda r: get(r) == first,
        "NotEqual": lambda r: get(r) != first,
        "In": lambda r: get(r) in vals,
        "NotIn": lambda r: get(r) not in vals,
        "Null": lambda r: get(r) is None,
        "NotNull": lambda r: get(r) is not None,
        "GreaterThan": lambda r: get(r) is not None and get(r) > first,
        "GreaterEqual": lambda r: get(r) is not None and get(r) >= first,
        "LessThan": lambda r: get(r) is not None and get(r) < first,
        "LessEqual": lambda r: get(r) is not None and get(r) <= first,
        "BeginsWith": lambda r: isinstance(get(r), str) and get(r).startswith(str(first)),
        "EndsWith": lambda r: isinstance(get(r), str) and get(r).endswith(str(first)),
        "Like": lambda r: isinstance(get(r), str) and fnmatch.fnmatchcase(get(r), _like(str(first))),
        "NotLike": lambda r: not (isinstance(get(r), str) and fnmatch.fnmatchcase(get(r), _like(str(first)))),
    }
    if op not in ops:
        raise DvError(400, "0x80040203", f"The condition operator '{op}' is not supported by the sandbox.")
    return ops[op]


def _like(pattern: str) -> str:
    return pattern.replace("[", "[[]").replace("%", "*").replace("_", "?")


def filter_expression(expr: dict[str, Any] | None) -> Callable[[Row], bool]:
    """A FilterExpression (FilterOperator And/Or, Conditions, Filters) as a row predicate."""
    if not expr:
        return lambda r: True
    parts = [condition(c) for c in expr.get("Conditions") or []]
    parts += [filter_expression(f) for f in expr.get("Filters") or []]
    if str(expr.get("FilterOperator") or "And") == "Or":
        return lambda r: any(p(r) for p in parts) if parts else True
    return lambda r: all(p(r) for p in parts)


def bulk_delete(records: Records, body: dict[str, Any]) -> tuple[str, int]:
    """Delete what each QueryExpression of QuerySet matches -> (JobId, rows deleted)."""
    query_set = body.get("QuerySet")
    if not isinstance(query_set, list) or not query_set:
        raise DvError(400, "0x80040203", "BulkDelete needs a non-empty QuerySet of QueryExpression objects.")
    plan: list[tuple[str, list[str]]] = []
    for q in query_set:
        name = str((q or {}).get("EntityName") or "")
        table = records.tables.get(name)
        if table is None:
            raise DvError(400, "0x80040217", f"The entity with a name = '{name}' was not found in the MetadataCache.")
        pred = filter_expression(q.get("Criteria"))
        ids = [r[table.primary_id] for _, r in records.store.scan(table.logical) if pred(r)]
        plan.append((name, ids))
    deleted = 0
    with records.store.transaction():
        for name, ids in plan:
            for rid in ids:
                if records.store.get(name, rid) is not None:  # a cascade may have taken it already
                    records.delete(records.tables[name], rid)
                    deleted += 1
    return str(uuid.uuid4()), deleted


def total_record_count(records: Records, names: list[str]) -> dict[str, Any]:
    keys, values = [], []
    for name in names:
        table = records.tables.get(name)
        if table is None:
            raise DvError(400, "0x80040217", f"The entity with a name = '{name}' was not found in the MetadataCache.")
        keys.append(name)
        values.append(records.store.count(table.logical))
    return {"Count": len(keys), "IsReadOnly": False, "Keys": keys, "Values": values}
