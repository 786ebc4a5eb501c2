"""Officers' triage overrides, read from the CRM before intake so that every later triage follows them.

``triage_override`` is a CRM-owned field (the connector sets it only when it creates a case, with no value): an officer
who decides that an "invalid" request is valid after all, or that a re-routed message is a request, sets it on the
case. Each sync reads the cases that have one (one query, ``foi_triageoverride ne null``) and hands them to intake as
``reference -> TriageOverride``, so the decision sticks: the stage, regime and clock follow the officer, not the
rules. See docs/triage.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from connector import odata
from connector.dataverse import DataverseClient
from connector.model import TriageOverride
from connector.sync.mapping import TargetMapping

log = logging.getLogger(__name__)


def read_triage_overrides(client: DataverseClient, mapping: TargetMapping) -> dict[str, TriageOverride]:
    """reference -> override for every case in the CRM whose officer set one (empty when the mapping has none)."""
    spec = mapping.fields.get("triage_override")
    ref = mapping.fields.get("reference") or mapping.fields.get("reference_key")
    if spec is None or ref is None or not spec.pull:
        return {}
    key = mapping.fields.get("reference_key")
    select = [c for c in dict.fromkeys([ref.read_column, key.read_column if key else None, spec.read_column]) if c]
    found: dict[str, str] = {}
    for row in client.query(mapping.entity_set, select=select, filter=odata.ne(spec.read_column, None)):
        values = mapping.from_crm(row)
        raw = values.get("triage_override")
        reference = values.get("reference") or values.get("reference_key")
        if raw is not None and reference:
            found[str(reference)] = str(raw)
    return as_overrides(found)


def override_of(mapping: TargetMapping, record: Mapping[str, Any]) -> tuple[str, str] | None:
    """(reference, override) of a case row as the CRM sent it, or None where its officer set none."""
    if "triage_override" not in mapping.fields:
        return None
    values = mapping.from_crm(record)
    raw = values.get("triage_override")
    reference = values.get("reference") or values.get("reference_key")
    return (str(reference), str(raw)) if raw is not None and reference else None


def as_overrides(found: Mapping[str, str]) -> dict[str, TriageOverride]:
    """reference -> override from the values the CRM holds; a value that is no known override is logged, ignored."""
    out: dict[str, TriageOverride] = {}
    for reference, raw in found.items():
        try:
            out[reference] = TriageOverride(raw)
        except ValueError:
            log.warning("a case has triage override %r, which is not a known override; ignored", raw)
    if out:
        log.info("triage: %d officer override(s) read from the CRM", len(out))
    return out
