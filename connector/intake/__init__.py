"""Intake: requests from registers, web forms, mailboxes and databases become validated ``FoiCase`` objects.

Contract: ``read_source``, ``run_intake``, ``IntakeResult`` (``.cases``, ``.rejects``, ``.write_rejects``) and
``Reject(source, row, field, reason)``.
"""

from __future__ import annotations

from connector.intake.pipeline import IntakeResult, normalize_source, read_source, run_intake
from connector.intake.rejects import Reject, write_rejects
from connector.intake.source_mapping import SourceMapping, load_source_mapping

__all__ = [
    "IntakeResult",
    "Reject",
    "SourceMapping",
    "load_source_mapping",
    "normalize_source",
    "read_source",
    "run_intake",
    "write_rejects",
]
