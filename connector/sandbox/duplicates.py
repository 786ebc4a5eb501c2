"""Duplicate detection on create and update, as `MSCRM.SuppressDuplicateDetection: false` asks for it.

Learn "Detect duplicate data using the Web API": with the header set to false, a create or update whose row matches
an existing row under a published duplicate rule (duplicaterule statecode Active / statuscode Published, its
duplicaterulecondition rows) is refused with `500` and code `0x80040333`, "A record was not created or updated
because a duplicate of the current record already exists."; without the header nothing is checked. Learn "Duplicate
rule tables" gives the condition operators modelled here: exact match (0), same first (1) or last (2) characters
(operatorparam), same date (3), and ignoreblankvalues.
"""

from __future__ import annotations

from typing import Any

from connector.sandbox.errors import DvError
from connector.sandbox.records import Records
from connector.sandbox.schema import LOOKUP_TYPES, Table

DUPLICATE = "A record was not created or updated because a duplicate of the current record already exists."


def _value(table: Table, rec: dict[str, Any], col: str) -> Any:
    attr = table.attributes.get(col)
    return rec.get(f"_{col}_value") if attr is not None and attr.type in LOOKUP_TYPES else rec.get(col)


def _same(op: int, param: int, a: Any, b: Any, case_sensitive: bool) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        if not case_sensitive:
            a, b = a.casefold(), b.casefold()
        if op == 1:
            return len(a) >= param and bool(a[:param] == b[:param])
        if op == 2:
            return len(a) >= param and bool(a[-param:] == b[-param:])
        if op == 3:
            return bool(a[:10] == b[:10])
    return bool(a == b)


def _rules(records: Records, base: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    store = records.store
    out = []
    for _, rule in store.scan("duplicaterule"):
        if rule.get("baseentityname") != base or rule.get("statecode") != 1:
            continue
        rid = rule["duplicateruleid"]
        conds = [
            c
            for _, c in store.scan_eq("duplicaterulecondition", "_regardingobjectid_value", rid)
            if c.get("_regardingobjectid_value") == rid
        ]
        if conds:
            out.append((rule, conds))
    return out


def check(records: Records, table: Table, rec: dict[str, Any]) -> None:
    """Raise the documented error when `rec` duplicates another row under a published rule."""
    if "duplicaterule" not in records.tables:
        return
    for rule, conds in _rules(records, table.logical):
        matching = records.tables.get(str(rule.get("matchingentityname") or ""))
        if matching is None:
            continue
        wanted = []
        for c in conds:
            v = _value(table, rec, str(c.get("baseattributename")))
            if v in (None, "") and c.get("ignoreblankvalues"):
                break  # a blank value never matches when the condition ignores blanks
            wanted.append((c, v))
        else:
            own = rec.get(table.primary_id)
            for _, other in records.store.scan(matching.logical):
                if other.get(matching.primary_id) == own:
                    continue
                if rule.get("excludeinactiverecords") and other.get("statecode") not in (None, 0):
                    continue
                if all(
                    _same(
                        int(c.get("operatorcode") or 0),
                        int(c.get("operatorparam") or 0),
                        v,
                        _value(matching, other, str(c.get("matchingattributename"))),
                        bool(rule.get("iscasesensitive")),
                    )
                    for c, v in wanted
                ):
                    raise DvError(500, "0x80040333", DUPLICATE)
