"""Dead-letter retry, the selection stage: group the open dead letters by where their records came from, and pick
from a fresh read of that source the cases that answer them.

The orchestrator (:func:`connector.sync.job.retry_dead_letters`) reads each source (intake, or the register a
migration read) and runs a sync or a migration over just the chosen cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from connector.model import FoiCase
from connector.sync.mapping import TargetMapping, requester_ref
from connector.sync.state import DeadLetter


@dataclass(frozen=True)
class RetryGroup:
    """Dead letters from one origin: the sync's configured sources, or one migrated register."""

    kind: str  # "sync" or "migrate"
    source: Path | None
    source_mapping: Path | None
    letters: tuple[DeadLetter, ...]

    @property
    def from_register(self) -> bool:
        """A migration's dead letters are re-read from its register; the others from the configured sources."""
        return self.kind == "migrate" and self.source is not None


def group_dead_letters(letters: list[DeadLetter]) -> list[RetryGroup]:
    """One group per origin (kind, source, source mapping), in the order the letters first name it."""
    groups: dict[tuple[str, str | None, str | None], list[DeadLetter]] = {}
    for dl in letters:
        o = dl.origin
        groups.setdefault((o.get("kind", "sync"), o.get("source"), o.get("source_mapping")), []).append(dl)
    return [
        RetryGroup(kind, Path(source) if source else None, Path(mapping) if mapping else None, tuple(dls))
        for (kind, source, mapping), dls in groups.items()
    ]


def cases_to_retry(mapping: TargetMapping, group: RetryGroup, cases: list[FoiCase]) -> tuple[list[FoiCase], int]:
    """The source's cases behind the group's dead letters (the case itself, or the requester it failed on).

    -> (the cases, how many of the group's case dead letters are no longer in the source)."""
    case_keys = {dl.source_key for dl in group.letters if dl.table_name == mapping.table}
    refs = {dl.source_key for dl in group.letters if dl.table_name == mapping.contact.table}
    refs |= {str(dl.origin.get("reference")) for dl in group.letters}
    chosen = []
    for case in cases:
        try:
            key = mapping.source_key(case)
        except ValueError:
            key = case.reference
        if key in case_keys or case.reference in refs or requester_ref(case) in refs:
            chosen.append(case)
    found = {mapping.source_key(c) for c in chosen if _safe_key(mapping, c)} | {c.reference for c in chosen}
    missing = sum(1 for dl in group.letters if dl.table_name == mapping.table and dl.source_key not in found)
    return chosen, missing


def _safe_key(mapping: TargetMapping, case: FoiCase) -> bool:
    try:
        mapping.source_key(case)
        return True
    except ValueError:
        return False
