"""The sync's letters stage: which pushed cases get letters, and pushing them (connector/letters does the rest).

A stage: it reads the state and the pull's mirror, calls :func:`connector.letters.push_letters` and says what
happened; the orchestrator (:mod:`connector.sync.job`) records that in the run report.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from connector.config import Settings
from connector.dataverse import DataverseClient
from connector.letters import LetterTarget, LetterType, push_letters
from connector.reporting import ReportingStore
from connector.sync.check import metadata_shaped
from connector.sync.crm_state import crm_view
from connector.sync.mapping import TargetMapping, requester_ref
from connector.sync.plan import Plan
from connector.sync.state import StateStore

log = logging.getLogger(__name__)


@dataclass
class LettersOutcome:
    """What the letters stage did: counts for the run report, failures as codes (no requester data)."""

    counts: Counter[str] = field(default_factory=Counter)
    #: "letters.<code>" -> how many letters failed with it.
    failed_codes: Counter[str] = field(default_factory=Counter)
    #: A failure looked like a stale mapping check (the next run checks the mapping live again).
    metadata_suspect: bool = False

    @property
    def failed(self) -> int:
        return sum(self.failed_codes.values())


def push_case_letters(
    client: DataverseClient, settings: Settings, mapping: TargetMapping, state: StateStore, plan: Plan
) -> LettersOutcome:
    """Letters due on the plan's cases that the state knows landed in the CRM, decided with the CRM's own stage."""
    m = mapping
    known = state.records(m.table)
    contacts = state.records(m.contact.table)
    with ReportingStore(settings.report.store_path) as store:
        mirror = store.rows([st.dataverse_id.lower() for st in known.values()])
    waived = state.waived_letters()
    targets = []
    keys: dict[str, str] = {}
    for rec in plan.cases:
        st = known.get(rec.source_key)
        if rec.case is None or st is None or rec.action == "reject":
            continue
        contact = contacts.get(requester_ref(rec.case))
        keys[rec.case.reference] = rec.source_key
        targets.append(
            LetterTarget(
                case=rec.case,
                case_id=st.dataverse_id,
                contact_id=contact.dataverse_id if contact else None,
                regarding_entity_set=m.entity_set,
                regarding_nav=m.regarding_nav_email or "regardingobjectid_incident_email",
                crm_case=crm_view(rec.case, mirror.get(st.dataverse_id.lower())),
                waived=frozenset(LetterType(t) for t in waived.get(rec.source_key, ())),
            )
        )
    # Letters the state saw land (and finish) in an earlier run cost no request; deterministic ids with
    # If-None-Match stay the backstop for everything else.
    result = push_letters(client, settings, targets, done=state.letters_done)
    if result.done:
        state.mark_letters((marker, keys.get(ref, ref)) for ref, marker in result.done)
    out = LettersOutcome()
    out.counts["letters_known"] = result.known
    out.counts["letters_stopped_by_crm"] = result.crm_stopped
    out.counts["letters_created"] = result.created
    out.counts["letters_sent"] = result.sent
    out.counts["letters_failed"] = len(result.failed)
    # Letters held back until the officer records what they need (a recipient, the exemption relied on).
    for skipped in result.skipped:
        out.counts[f"letters_waiting_{skipped.code}"] += 1
        log.warning(
            "letter waiting for the case in the CRM",
            extra={"reference": skipped.reference, "letter": skipped.letter_type, "code": skipped.code},
        )
    out.failed_codes.update(f"letters.{f.code or 'failed'}" for f in result.failed)
    out.metadata_suspect = any(metadata_shaped(f.code, f.message) for f in result.failed)
    return out
