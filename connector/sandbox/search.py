"""Dataverse search: query, suggest and autocomplete, in the legacy 1.0 and the 2.0 forms.

Learn "Dataverse search (legacy)" (search/legacy): `POST /api/search/v1.0/query|suggest|autocomplete` with `search`,
`entities`, `filter` ("<table>:<OData filter>, ..."), `top` (query 50, at most 100; suggest 5), `skip`,
`returntotalrecordcount`, `searchmode` any|all, `orderby`, `facets`; answers `value` (rows with `@search.score`,
`@search.highlights` marked `{crmhit}...{/crmhit}`, `@search.entityname`, `@search.objectid`,
`@search.objecttypecode` and the columns), `facets`, `totalrecordcount` (-1 unless asked). Learn "Dataverse Search
query/suggest/autocomplete" (search/query etc.): `POST /api/search/v2.0/<op>` or the Web API messages
`searchquery`/`searchsuggest`/`searchautocomplete` answer `{"response": "<escaped JSON>"}` holding Error, Value
(Id, EntityName, ObjectTypeCode, Attributes, Highlights, Score), Facets, QueryContext and Count; `entities` is then a
JSON string of `{"name", "selectColumns", "searchColumns", "filter"}` objects.

The index is the sandbox's own rows, searched on the text columns of the searchable tables: words match whole or,
with a trailing `*`, by prefix; `"quoted phrases"` match as written; `-word` excludes; `+`/`|` are AND/OR as in the
simple syntax. Relevance is the number of matched terms (Azure Cognitive Search's scoring is not reproduced).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from connector.sandbox.errors import DvError
from connector.sandbox.records import Records
from connector.sandbox.schema import MEMO, STRING, Table

SEARCHABLE = ("account", "contact", "lead", "opportunity", "incident", "task", "email", "phonecall", "annotation")
HIT, END = "{crmhit}", "{/crmhit}"
Row = tuple[Table, dict[str, Any]]
Compile = Callable[[Table, str], Callable[[dict[str, Any]], bool]]


def _bad(message: str) -> DvError:
    return DvError(400, "0x80040203", message)


def _terms(text: str) -> list[tuple[str, bool, bool]]:
    """Simple syntax -> [(term, negated, prefix)]; phrases keep their spaces."""
    out = []
    for m in re.finditer(r'(-?)"([^"]+)"|(-?)([^\s"|+()]+)', text):
        if m.group(2):
            out.append((m.group(2).casefold(), bool(m.group(1)), False))
        else:
            word = m.group(4)
            prefix = word.endswith("*")
            word = word.rstrip("*").casefold()
            if word:
                out.append((word, bool(m.group(3)), prefix))
    return out


def _words(value: str) -> list[str]:
    return re.findall(r"\w+", value.casefold())


def _hits(value: str, term: str, prefix: bool) -> bool:
    if " " in term:
        return term in value.casefold()
    return any(w == term or (prefix and w.startswith(term)) for w in _words(value))


def _mark(value: str, term: str, prefix: bool) -> str:
    if " " in term:
        return re.sub(re.escape(term), lambda m: HIT + m.group(0) + END, value, flags=re.IGNORECASE)
    pattern = r"\b(" + re.escape(term) + (r"\w*" if prefix else "") + r")\b"
    return re.sub(pattern, lambda m: HIT + m.group(1) + END, value, flags=re.IGNORECASE)


def _stamp(value: Any) -> Any:
    """Learn's examples show dates as '10/9/2020 5:27 PM'."""
    if not isinstance(value, str):
        return value
    try:
        d = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return f"{d.month}/{d.day}/{d.year} {(d.hour % 12) or 12}:{d.minute:02d} {'AM' if d.hour < 12 else 'PM'}"


class Search:
    def __init__(self, records: Records, compile_odata: Compile) -> None:
        self.records = records
        self.compile_odata = compile_odata

    # ------------------------------------------------------------------ shared
    def _tables(
        self, entities: Any, version: str
    ) -> list[tuple[Table, list[str] | None, list[str] | None, str | None]]:
        """-> [(table, select columns, search columns, filter)] in scope."""
        if isinstance(entities, str) and entities.strip():
            try:
                entities = json.loads(entities)
            except json.JSONDecodeError:
                raise _bad("entities must be a JSON array (of table names or search entity objects).") from None
        picked: list[tuple[Table, list[str] | None, list[str] | None, str | None]] = []
        tables = self.records.tables
        if not entities:
            names = [t for t in SEARCHABLE if t in tables] + [
                t.logical for t in tables.values() if t.custom and not t.is_bpf and t.logical not in SEARCHABLE
            ]
            return [(tables[n], None, None, None) for n in names]
        for item in entities:
            spec = {"name": item} if isinstance(item, str) else item
            table = tables.get(str(spec.get("name") or "").lower())
            if table is None:
                raise _bad(f"The table '{spec.get('name')}' is not enabled for Dataverse search.")
            select, search_cols, flt = spec.get("selectColumns"), spec.get("searchColumns"), spec.get("filter")
            picked.append(
                (
                    table,
                    [str(c) for c in select] if isinstance(select, list) else None,
                    [str(c) for c in search_cols] if isinstance(search_cols, list) else None,
                    str(flt) if flt else None,
                )
            )
        return picked

    @staticmethod
    def _text_columns(table: Table) -> list[str]:
        return [
            a.logical for a in table.attributes.values() if a.type in (STRING, MEMO) and a.logical != "traversedpath"
        ]

    def _filters(self, text: Any) -> dict[str, str]:
        """`account:modifiedon ge 2020-04-27T00:00:00, incident: (prioritycode eq 1)` -> {table: filter}."""
        out: dict[str, str] = {}
        if not isinstance(text, str) or not text.strip():
            return out
        parts = re.split(r",\s*(?=\w+\s*:)", text.strip())
        for part in parts:
            name, sep, flt = part.partition(":")
            if not sep:
                raise _bad(f"A search filter names its table: '<table>:<filter>' (got '{part.strip()}').")
            out[name.strip().lower()] = flt.strip()
        return out

    def _rows(
        self, scope: list[tuple[Table, list[str] | None, list[str] | None, str | None]], filters: dict[str, str]
    ) -> list[tuple[Table, dict[str, Any], list[str] | None, list[str]]]:
        out = []
        for table, select, search_cols, own_filter in scope:
            flt = own_filter or filters.get(table.logical)
            pred = self.compile_odata(table, flt) if flt else None
            cols = search_cols or self._text_columns(table)
            for _, rec in self.records.store.scan(table.logical):
                if pred is None or pred(rec):
                    out.append((table, rec, select, cols))
        return out

    # ------------------------------------------------------------------ query
    def query(self, body: dict[str, Any], version: str) -> dict[str, Any]:
        text = body.get("search")
        if not isinstance(text, str) or not text or len(text) > 100:
            raise _bad("search is required: 1 to 100 characters.")
        options = body.get("options")
        mode = str(body.get("searchmode") or body.get("searchMode") or "any").lower()
        if isinstance(options, str) and "searchmodelall" in options.lower().replace(" ", ""):
            mode = "all"
        if isinstance(options, str) and '"searchmode"' in options.lower() and '"all"' in options.lower():
            mode = "all"
        terms = _terms(text)
        scope = self._tables(body.get("entities"), version)
        filters = self._filters(body.get("filter"))
        matched = []
        for table, rec, select, cols in self._rows(scope, filters):
            values: dict[str, str] = {c: str(rec[c]) for c in cols if isinstance(rec.get(c), str) and rec[c]}
            positives = [t for t in terms if not t[1]]
            found = [t for t in positives if any(_hits(v, t[0], t[2]) for v in values.values())]
            excluded = [t for t in terms if t[1] and any(_hits(v, t[0], t[2]) for v in values.values())]
            negs = [t for t in terms if t[1]]
            ok: bool
            if mode == "all":
                ok = len(found) == len(positives) and not excluded and bool(positives or negs)
            else:
                ok = bool(found) or (bool(negs) and len(excluded) < len(negs))
            if not ok:
                continue
            highlights: dict[str, list[str]] = {}
            for col, v in values.items():
                marked = v
                for term, neg, prefix in positives:
                    if not neg and _hits(v, term, prefix):
                        marked = _mark(marked, term, prefix)
                if marked != v:
                    highlights[col] = [marked]
            matched.append((float(len(found)) or 0.1, table, rec, select, cols, highlights))
        order = body.get("orderby") or []
        if isinstance(order, str):
            order = json.loads(order) if order.strip().startswith("[") else [order]
        matched.sort(key=lambda m: str(m[2].get("modifiedon") or ""), reverse=True)
        for clause in reversed(order or ["@search.score desc"]):
            col, _, direction = str(clause).partition(" ")
            desc = direction.strip().lower() == "desc"
            if col == "@search.score":
                matched.sort(key=lambda m: m[0], reverse=desc)
            else:
                matched.sort(key=lambda m, c=col: str(m[2].get(c) or ""), reverse=desc)  # type: ignore[misc]
        total = len(matched)
        top = min(int(body.get("top") or 50), 100)
        skip = int(body.get("skip") or 0)
        page = matched[skip : skip + top]
        want_count = bool(body.get("returntotalrecordcount") or body.get("count"))
        facets = self._facets(body.get("facets"), matched)
        if version == "1.0":
            value = [self._v1_item(score, t, rec, select, cols, hl) for score, t, rec, select, cols, hl in page]
            return {"value": value, "facets": facets, "totalrecordcount": total if want_count else -1}
        value2 = [
            {
                "Id": rec[t.primary_id],
                "EntityName": t.logical,
                "ObjectTypeCode": t.object_type_code,
                "Attributes": self._columns(t, rec, select, cols),
                "Highlights": hl,
                "Score": score,
            }
            for score, t, rec, select, cols, hl in page
        ]
        inner = {
            "Error": None,
            "Value": value2,
            "Facets": facets,
            "QueryContext": None,
            "Count": total if want_count else -1,
        }
        return {"response": json.dumps(inner)}

    def _columns(self, table: Table, rec: dict[str, Any], select: list[str] | None, cols: list[str]) -> dict[str, Any]:
        names = list(select) if select else [table.primary_name, *[c for c in cols if c != table.primary_name]]
        out = {n: rec.get(f"_{n}_value", rec.get(n)) for n in names}
        for stamp in ("createdon", "modifiedon"):
            out[stamp] = _stamp(rec.get(stamp))
        return out

    def _v1_item(
        self,
        score: float,
        table: Table,
        rec: dict[str, Any],
        select: list[str] | None,
        cols: list[str],
        hl: dict[str, list[str]],
    ) -> dict[str, Any]:
        owner = rec.get("_ownerid_value")
        item: dict[str, Any] = {
            "@search.score": score,
            "@search.highlights": hl,
            "@search.entityname": table.logical,
            "@search.objectid": rec[table.primary_id],
        }
        if owner:
            item["ownerid"] = owner
            item["owneridname"] = self.records.primary_name_of("systemuser", owner)
            item["@search.ownerid.logicalname"] = "systemuser"
        item["@search.objecttypecode"] = table.object_type_code
        item.update(self._columns(table, rec, select, cols))
        return item

    @staticmethod
    def _facets(spec: Any, matched: list[Any]) -> dict[str, list[dict[str, Any]]]:
        if isinstance(spec, str):
            spec = json.loads(spec) if spec.strip().startswith("[") else [spec]
        out: dict[str, list[dict[str, Any]]] = {}
        for item in spec or []:
            name = str(item).split(",")[0].strip()
            if name == "@search.entityname":
                counts: dict[str, int] = {}
                for m in matched:
                    counts[m[1].logical] = counts.get(m[1].logical, 0) + 1
                out[name] = [{"Type": "Value", "Value": k, "Count": v} for k, v in sorted(counts.items())]
            else:
                values: dict[Any, int] = {}
                for m in matched:
                    v = m[2].get(name, m[2].get(f"_{name}_value"))
                    if v is not None:
                        values[v] = values.get(v, 0) + 1
                out[name] = [{"Type": "Value", "Value": k, "Count": v} for k, v in values.items()]
        return out

    # ------------------------------------------------------------------ suggest and autocomplete
    def _primary_matches(self, body: dict[str, Any], version: str) -> list[tuple[Table, dict[str, Any], str]]:
        text = body.get("search")
        if not isinstance(text, str) or not (3 <= len(text) <= 100):
            raise _bad("search is required: 3 to 100 characters.")
        frag = text.casefold()
        out = []
        scope = self._tables(body.get("entities"), version)
        for table, rec, _select, _cols in self._rows(scope, self._filters(body.get("filter"))):
            name = rec.get(table.primary_name)
            if isinstance(name, str) and any(w.startswith(frag) for w in _words(name)):
                out.append((table, rec, name))
        return out

    def suggest(self, body: dict[str, Any], version: str) -> dict[str, Any]:
        frag = str(body.get("search") or "")
        hits = self._primary_matches(body, version)[: int(body.get("top") or 5)]

        def text(name: str) -> str:
            return re.sub(
                r"\b(" + re.escape(frag) + r")", lambda m: HIT + m.group(1) + END, name, count=1, flags=re.IGNORECASE
            )

        if version == "1.0":
            value = [
                {
                    "text": text(name),
                    "document": {
                        "@search.objectid": rec[t.primary_id],
                        "@search.entityname": t.logical,
                        "@search.objecttypecode": t.object_type_code,
                        t.primary_name: name,
                    },
                }
                for t, rec, name in hits
            ]
            return {"value": value}
        value2 = [
            {
                "Text": text(name),
                "Document": {
                    "Id": rec[t.primary_id],
                    "EntityName": t.logical,
                    "ObjectTypeCode": t.object_type_code,
                    "Attributes": {t.primary_name: name},
                },
            }
            for t, rec, name in hits
        ]
        return {"response": json.dumps({"Error": None, "Value": value2, "QueryContext": None})}

    def autocomplete(self, body: dict[str, Any], version: str) -> dict[str, Any]:
        frag = str(body.get("search") or "").casefold()
        word = next(
            (w for _, _, name in self._primary_matches(body, version) for w in _words(name) if w.startswith(frag)),
            None,
        )
        value = f"{HIT}{word}{END}" if word else ""
        if version == "1.0":
            return {"value": value}
        return {"response": json.dumps({"Error": None, "Value": value, "QueryContext": None})}
