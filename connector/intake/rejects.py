"""Rejected records: where the bad row is, which field, and what to do about it. Never requester data."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from pydantic.dataclasses import dataclass

from connector.cells import neutralise


@dataclass(frozen=True)
class Reject:
    """One bad row. ``source`` is the source name (plus ``/file`` for folder sources), ``row`` the line or record.

    A validated dataclass, so ``Reject("register", 12, "received_at", "...")`` works as the contract writes it.
    """

    source: str
    row: int | None
    field: str | None
    reason: str

    def line(self) -> str:
        where = self.source + (f" row {self.row}" if self.row is not None else "")
        return f"{where}: {self.field or '(record)'}: {self.reason}"


REJECT_COLUMNS = ("source", "row", "field", "reason")


def write_rejects(rejects: Iterable[Reject], path: Path) -> Path:
    """CSV with a header and one line per bad row (several problems in a row are joined with ' | ').

    Text cells are neutralised like the reports' (:mod:`connector.cells`): a reason quotes the offending value and a
    source name comes from config, so a cell beginning with ``=``, ``+``, ``-``, ``@``, tab or CR opens as text.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(REJECT_COLUMNS)
        for rej in rejects:
            row = "" if rej.row is None else rej.row
            writer.writerow([neutralise(rej.source), row, neutralise(rej.field or ""), neutralise(rej.reason)])
    return path


def prune_rejects(folder: Path, keep: int) -> list[Path]:
    """Keep the newest ``keep`` rejects reports (``rejects-*.csv``) in ``folder`` and delete the older ones, so a job
    that runs every 15 minutes does not fill the disk; 0 keeps them all. Returns what was deleted."""
    if keep <= 0 or not folder.is_dir():
        return []
    reports = sorted(folder.glob("rejects-*.csv"), key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
    gone = reports[keep:]
    for old in gone:
        old.unlink(missing_ok=True)
    return gone
