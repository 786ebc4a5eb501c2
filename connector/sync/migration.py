"""Migration stages: read a historical register, and reconcile what the CRM holds with it afterwards.

Both are stages the orchestrator (:mod:`connector.sync.job`) calls; neither calls another stage.
"""

from __future__ import annotations

import contextlib
import queue
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from connector import odata
from connector.config import IntakeSource, Settings
from connector.model import FoiCase
from connector.sync.mapping import FieldMap, TargetMapping

if TYPE_CHECKING:  # intake is imported inside the function that runs it (startup cost of `foi-sync --help`)
    from connector.dataverse.client import DataverseClient
    from connector.intake.pipeline import IntakeResult, PendingIntake

SourceKind = Literal["csv", "xlsx", "json-folder", "eml-folder"]

_KINDS: dict[str, SourceKind] = {".csv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".json": "json-folder"}

#: From this many source cases, reconciliation streams the CRM table instead of asking for the keys in batches.
RECONCILE_SCAN_FROM = 5000


def read_migration_source(settings: Settings, source_path: Path, source_mapping: Path | None) -> IntakeResult:
    """A register file (or folder of emails) read through intake like any configured source."""
    return begin_migration_source(settings, source_path, source_mapping).finish()


def begin_migration_source(settings: Settings, source_path: Path, source_mapping: Path | None) -> PendingIntake:
    """:func:`read_migration_source` up to the cases (their references and requesters final); ``finish()`` routes,
    cross-references, grades and triages them."""
    from connector.intake.pipeline import begin_source

    kind: SourceKind = _KINDS.get(source_path.suffix.lower(), "eml-folder" if source_path.is_dir() else "csv")
    source = IntakeSource(name=source_path.stem, kind=kind, path=str(source_path), mapping=source_mapping)
    return begin_source(source, settings, mapping_path=source_mapping)


def reconcile(client: DataverseClient, mapping: TargetMapping, cases: list[FoiCase]) -> dict[str, Any]:
    """Counts per stage and per outcome in the source vs the CRM, over the source's own references."""
    key_col = mapping.alternate_key[0]
    stage = mapping.stage_field
    outcome = mapping.fields.get("outcome")
    select = [key_col] + [f.column for f in (stage, outcome) if f is not None]

    pages: queue.Queue[list[dict[str, Any]] | None] = queue.Queue()

    def scan() -> None:
        """The table page by page into ``pages``, then None (also when the read fails: the error is the future's)."""
        try:
            page: list[dict[str, Any]] = []
            for row in client.query(mapping.entity_set, select=select, page_size=5000):
                page.append(row)
                if len(page) == 5000:
                    pages.put(page)
                    page = []
            pages.put(page)
        finally:
            pages.put(None)

    crm: dict[str, dict[str, Any]] = {}
    keys: dict[str, FoiCase] = {}
    if len(cases) >= RECONCILE_SCAN_FROM:
        # A migration-sized source: one streamed pass over the table (5,000 rows a page) costs far fewer requests
        # than asking for the keys ~300 at a time. The pass starts first and the source's keys are worked out while
        # the CRM serves it; rows that are not the source's are dropped afterwards.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dv-reconcile") as pool:
            scanned = pool.submit(scan)
            keys = _source_keys(mapping, key_col, cases)
            while (rows := pages.get()) is not None:
                for row in rows:
                    k = str(row.get(key_col)).casefold()
                    if k in keys:
                        crm[k] = {c: row.get(c) for c in select}
            scanned.result()
    else:
        keys = _source_keys(mapping, key_col, cases)
        values = [str(mapping.alternate_key_values(c)[key_col]) for c in keys.values()]
        batches = list(odata.any_of_batches(key_col, values))
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="dv-reconcile") as pool:
            for found in pool.map(lambda f: list(client.query(mapping.entity_set, select=select, filter=f)), batches):
                for row in found:
                    crm[str(row[key_col]).casefold()] = row

    def labeller(spec: FieldMap) -> Callable[[Any], str]:
        reverse = {v: k for k, v in spec.choices.items()}
        return lambda value: str(reverse.get(value, value)) if value is not None else "(none)"

    out: dict[str, Any] = {"source": len(keys), "crm": len(crm)}
    match = len(crm) == len(keys)
    tallies: tuple[tuple[str, FieldMap | None, Callable[[FoiCase], str]], ...] = (
        ("by_stage", stage, lambda c: c.stage.value),
        ("by_outcome", outcome, lambda c: c.outcome.value if c.outcome else "(none)"),
    )
    for name, spec, getter in tallies:
        if spec is None:
            continue
        src = Counter(getter(c) for c in keys.values())
        label = labeller(spec)
        dst = Counter(label(row.get(spec.column)) for row in crm.values())
        table = {k: {"source": src.get(k, 0), "crm": dst.get(k, 0)} for k in sorted(set(src) | set(dst))}
        out[name] = table
        match = match and all(v["source"] == v["crm"] for v in table.values())
    missing = [c.reference for k, c in keys.items() if k not in crm]
    out["missing"] = len(missing)
    out["missing_examples"] = missing[:5]
    out["match"] = match
    return out


def _source_keys(mapping: TargetMapping, key_col: str, cases: list[FoiCase]) -> dict[str, FoiCase]:
    """{casefolded key value: case} for the cases whose key Dataverse can address."""
    keys: dict[str, FoiCase] = {}
    for case in cases:
        with contextlib.suppress(ValueError):
            keys[str(mapping.alternate_key_values(case)[key_col]).casefold()] = case
    return keys
