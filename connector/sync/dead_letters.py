"""Dead-letter retry, the selection stage: which cases to push again for the open dead letters.

Each dead letter's record is re-read from the source it came from (the sync's configured sources, or the register a
migration read) and mapped with the current mapping; the orchestrator (:func:`connector.sync.job.retry_dead_letters`)
then runs a sync or a migration over just those cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from connector.config import Settings
from connector.model import FoiCase
from connector.sync.mapping import TargetMapping, requester_ref
from connector.sync.migration import read_migration_source
from connector.sync.state import DeadLetter


@dataclass
class RetryBatch:
    """Dead letters from one origin (the sync, or one migrated register) and the source cases that answer them."""

    kind: str  # "sync" or "migrate"
    source: Path | None
    source_mapping: Path | None
    letters: list[DeadLetter]
    cases: list[FoiCase]
    #: Dead letters of cases whose record is no longer in the source.
    not_in_source: int


def retry_batches(settings: Settings, mapping: TargetMapping, letters: list[DeadLetter]) -> list[RetryBatch]:
    """Group the dead letters by origin and re-read each origin's source once."""
    groups: dict[tuple[str, str | None, str | None], list[DeadLetter]] = {}
    for dl in letters:
        o = dl.origin
        groups.setdefault((o.get("kind", "sync"), o.get("source"), o.get("source_mapping")), []).append(dl)
    batches: list[RetryBatch] = []
    for (kind, source, source_mapping), dls in groups.items():
        mapping_path = Path(source_mapping) if source_mapping else None
        if kind == "migrate" and source:
            cases = read_migration_source(settings, Path(source), mapping_path).cases
        else:
            from connector.intake import run_intake

            cases = run_intake(settings).cases
        case_keys = {dl.source_key for dl in dls if dl.table_name == mapping.table}
        refs = {dl.source_key for dl in dls if dl.table_name == mapping.contact.table}
        refs |= {str(dl.origin.get("reference")) for dl in dls}
        chosen = []
        for case in cases:
            try:
                key = mapping.source_key(case)
            except ValueError:
                key = case.reference
            if key in case_keys or case.reference in refs or requester_ref(case) in refs:
                chosen.append(case)
        found = {mapping.source_key(c) for c in chosen if _safe_key(mapping, c)} | {c.reference for c in chosen}
        missing = sum(1 for dl in dls if dl.table_name == mapping.table and dl.source_key not in found)
        batches.append(RetryBatch(kind, Path(source) if source else None, mapping_path, dls, chosen, missing))
    return batches


def _safe_key(mapping: TargetMapping, case: FoiCase) -> bool:
    try:
        mapping.source_key(case)
        return True
    except ValueError:
        return False
