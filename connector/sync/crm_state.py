"""What the CRM holds about a case after the pull, as the letters step needs it.

Letters are decided from the CRM, not from the register: a case the officer moved on in Dynamics (answered it,
acknowledged it by hand) gets no letter from the register's stale stage. The pull mirrors each case's stage and
outcome into the reporting store; :func:`crm_view` lays them over the case intake read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.model import FoiCase, Outcome, Stage


def crm_view(case: FoiCase, row: Mapping[str, Any] | None) -> FoiCase:
    """``case`` with the stage, outcome and exemptions the CRM holds (``row``: a reporting-store row); unchanged when the
    mirror has no row for it yet or holds a value the model does not know."""
    if not row:
        return case
    update: dict[str, Any] = {}
    stage, outcome = row.get("stage"), row.get("outcome")
    if stage and stage != case.stage.value and stage in {s.value for s in Stage}:
        update["stage"] = Stage(stage)
    if outcome and (case.outcome is None or outcome != case.outcome.value) and outcome in {o.value for o in Outcome}:
        update["outcome"] = Outcome(outcome)
    # The exemptions an officer recorded with the decision (the mirror keeps them ';'-joined): a refusal names them.
    recorded = [e.strip() for e in str(row.get("exemptions") or "").split(";") if e.strip()]
    if recorded and recorded != list(case.exemptions):
        update["exemptions"] = recorded
    return case.model_copy(update=update) if update else case
