"""Target mapping files: which Dataverse table holds FOI cases, which column holds each case field, and who owns it.

CRM admins edit these TOML files (``mappings/target-*.toml``), so every mistake gets a message that names the file,
the key and the fix. The model is the single translation between :class:`FoiCase` and a CRM row, both ways:
``to_crm`` builds the payload the push sends, ``from_crm`` turns a pulled row back into case-field values.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from connector import model, odata, tomlfile
from connector.errors import MappingError
from connector.model import INVALID_REASONS, FoiCase, Stage, TriageOutcome

FieldType = Literal["string", "memo", "choice", "date", "datetime", "integer", "boolean", "lookup"]
Owner = Literal["connector", "crm"]

#: Case fields a target mapping may map, with what they hold. Derived deadline fields come from the deadline engine.
CASE_FIELDS: dict[str, str] = {
    "reference": "the council's FOI reference as written (e.g. FOI/2024/0123)",
    "reference_key": "key-safe form of the reference (FOI-2024-0123), for the alternate key",
    "title": "reference and subject, for the table's primary name column",
    "regime": "foia | eir | foisa | eisr | sar",
    "channel": "email | web_form | post | phone | social | whatdotheyknow",
    "stage": "received ... closed, internal_review, ico_complaint",
    "received_at": "date and time the request arrived (UTC)",
    "received_date": "the Europe/London date of receipt",
    "subject": "short subject of the request",
    "request_text": "full text of the request",
    "service_area": "service area the request is routed to",
    "assigned_team": "team that answers it (lookup by name or text)",
    "assigned_officer": "officer that answers it (text)",
    "outcome": "granted_in_full, partially_withheld, ...",
    "exemptions": "exemption codes joined with ', ' (s40(2), reg12(4)(b) ...)",
    "responded_at": "date and time the response was sent (UTC)",
    "responded_date": "the Europe/London date of the response",
    "review_outcome": "internal review outcome",
    "complaint_outcome": "ICO/SIC complaint outcome",
    "review_requested_date": "date the internal review was requested (latest internal_review_requested event)",
    "review_completed_date": "date the internal review was completed (latest internal_review_completed event)",
    "complaint_date": "date the ICO/SIC complaint was lodged (latest complaint_lodged event)",
    "extension": "pit | eir | sar: the extension claimed (latest extension_* event)",
    "extended_until": "the new decision date the requester was told when extending (s.17(2), reg 7, Art 12(3))",
    "clarification_requested_date": "date clarification was requested (latest clarification_requested event)",
    "clarification_received_date": "date clarification arrived; restarts the clock (latest event)",
    "fee_notice_date": "date a fees notice was issued (latest fee_notice_issued event)",
    "fee_paid_date": "date the fee was paid (latest fee_paid event)",
    "requester": "lookup to the requester's contact",
    "requester_type": "member_of_public, journalist, ...",
    "source_system": "system the case came from",
    "source_id": "id of the case in that system",
    "wdtk_request_id": "WhatDoTheyKnow request number",
    "related_references": "related requests, 'REF (relation)' joined with '; '",
    "related_requests": "related requests as an officer reads them: one line per request, what the relation means",
    "related_case": "lookup to the earliest related case (a repeat first), found by its reference's alternate key",
    "other_arrivals": "other arrivals of the same request merged into this case (source and row, no personal data)",
    "grade_explanation": "why the case got its priority grade: the score and every reason",
    "triage": "request | invalid | business_as_usual (connector/intake/triage.py)",
    "triage_status": "how the triage reads to an officer: 'invalid: no address for correspondence', 'rerouted', ...",
    "triage_explanation": "why triage decided what it did, citing the law (FOIA s.8, EIR reg 5, ...)",
    "triage_override": "the officer's override (as_request, as_foi, as_eir, as_sar, as_invalid, as_business_as_usual)",
    "case_type": "information_request | service_request (business as usual is re-routed as a service request)",
    "transfer_to": "the authority that holds the information (transfer notices)",
    "transfer_contact": "how to reach that authority (transfer notices)",
    "decision_reasons": "the officer's reasons for a refusal: exemptions and public interest (quoted in notices)",
    "due_date": "statutory due date (deadline engine)",
    "extended_due_date": "extended due date, when extended (deadline engine)",
    "effective_due_date": "the due date that applies today (extended if extended)",
    "rag_status": "green | amber | red (deadline engine, refreshed daily; empty once closed)",
    "priority_grade": "p1_urgent | p2_high | p3_normal | p4_routine | closed (intake's grade, refreshed daily)",
    "days_remaining": "working days left to the effective due date",
}

#: Contact (requester) fields a contact mapping may map. Personal data: never logged, hashed in state.
CONTACT_FIELDS: dict[str, str] = {
    "requester_ref": "pseudonymous requester reference derived from email (or name + address)",
    "first_name": "first word(s) of the name",
    "last_name": "last word of the name (the whole name when it is one word)",
    "full_name": "the name as given",
    "email": "email address",
    "postal_address": "postal address",
    "postcode": "UK postcode",
    "organisation": "organisation the requester writes for",
    "requester_type": "member_of_public, journalist, ...",
}

#: Fields whose value depends on today's date (refreshed daily by the scheduled job).
DEADLINE_FIELDS = {
    "due_date",
    "extended_due_date",
    "effective_due_date",
    "rag_status",
    "priority_grade",
    "days_remaining",
}

_LOGICAL = re.compile(r"^[a-z_][a-z0-9_]*$")
_NAV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class MappingValueError(ValueError):
    """One case cannot be mapped (unmapped choice label, value too long). Never carries the personal data itself."""

    def __init__(self, code: str, field: str, message: str) -> None:
        self.code = code
        self.field = field
        super().__init__(message)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class FieldMap(_Model):
    """One case field -> one CRM column (or navigation property for lookups)."""

    column: str = Field(description="logical name of the column (lookups: the lookup column, e.g. customerid)")
    type: FieldType = "string"
    owner: Owner = Field(
        default="connector",
        description="connector: the connector keeps it current; crm: set once on create, then CRM users own it",
    )
    max_length: int | None = Field(default=None, ge=1, le=1_048_576)
    on_too_long: Literal["reject", "truncate"] = "reject"
    required: bool = False
    #: choice: case value -> CRM option value.
    choices: dict[str, int] = Field(default_factory=dict)
    #: choice: labels used when provisioning the option set (default: the case value in words).
    labels: dict[str, str] = Field(default_factory=dict)
    #: lookup: navigation property used in @odata.bind (case-sensitive), e.g. customerid_contact.
    nav: str | None = None
    #: lookup: table on the other side.
    target: str | None = None
    target_entity_set: str | None = None
    #: lookup resolved by name: column on the target table matched against the case value (e.g. name).
    match_column: str | None = None
    on_missing: Literal["skip", "reject"] = "skip"
    push: bool = True
    pull: bool = True
    display_name: str | None = None

    @field_validator("column", "match_column")
    @classmethod
    def _logical(cls, value: str | None) -> str | None:
        if value is not None and not _LOGICAL.match(value):
            raise ValueError(
                f"'{value}' is not a Dataverse logical name; use the lower-case logical name (e.g. foi_duedate)"
            )
        return value

    @field_validator("nav")
    @classmethod
    def _navname(cls, value: str | None) -> str | None:
        if value is not None and not _NAV.match(value):
            raise ValueError(f"'{value}' is not a navigation property name (letters, digits and _ only)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FieldMap:
        if self.type == "choice" and self.push and not self.choices:
            raise ValueError("a choice field needs a [choices] table mapping each case value to a CRM option value")
        if self.type == "lookup":
            if not self.nav or not self.target:
                raise ValueError("a lookup field needs nav (navigation property, e.g. customerid_contact) and target")
        elif self.nav or self.match_column:
            raise ValueError("nav and match_column are only for type = 'lookup'; remove them or change the type")
        if self.type in ("string", "memo") and self.max_length is None:
            self.max_length = 100 if self.type == "string" else 100_000
        dup = _duplicates(self.choices.values())
        if dup:
            raise ValueError(f"choice option value(s) {dup} are used for more than one case value; make each unique")
        return self

    @property
    def payload_key(self) -> str:
        return f"{self.nav}@odata.bind" if self.type == "lookup" else self.column

    @property
    def read_column(self) -> str:
        """The name of the column in a GET response (lookups come back as ``_<column>_value``)."""
        return f"_{self.column}_value" if self.type == "lookup" else self.column


def _duplicates(values: Any) -> list[Any]:
    seen: set[Any] = set()
    return sorted({v for v in values if v in seen or seen.add(v)})  # type: ignore[func-returns-value]


class ContactMapping(_Model):
    """Requesters become contacts, upserted by an alternate key before the cases that point at them."""

    table: str = "contact"
    entity_set: str = "contacts"
    primary_id: str = "contactid"
    alternate_key: list[str] = Field(default_factory=lambda: ["foi_requesterref"], min_length=1)
    alternate_key_name: str = "foi_contact_requesterref"
    key_source: Literal["requester_ref", "email"] = "requester_ref"
    #: Before creating a contact, look for one that already has the email (made by a CRM user) and reuse it.
    adopt_existing_by_email: bool = True
    email_column: str = "emailaddress1"
    fields: dict[str, FieldMap] = Field(default_factory=dict)

    @field_validator("fields")
    @classmethod
    def _known(cls, value: dict[str, FieldMap]) -> dict[str, FieldMap]:
        for name, spec in value.items():
            if name not in CONTACT_FIELDS and spec.push:
                raise ValueError(
                    f"unknown contact field '{name}'; use one of {', '.join(CONTACT_FIELDS)} (or set push = false)"
                )
        return value

    def key_value(self, requester_ref: str, email: str | None) -> dict[str, Any]:
        value = requester_ref if self.key_source == "requester_ref" else (email or "").strip().lower()
        if not value:
            raise MappingValueError(
                "no_contact_key",
                "contact.key_source",
                "the requester has no email, and the contact mapping is keyed by email; "
                "set contact.key_source = 'requester_ref' or add an email in the source",
            )
        return {self.alternate_key[0]: value}


class ReminderGate(_Model):
    """A reminder task at a stage gate: N working days before the due date (negative: after it)."""

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    working_days_before: int = Field(ge=-60, le=60)
    subject: str = Field(default="{reference}: {gate_text} (due {due})", max_length=200)


class Reminders(_Model):
    enabled: bool = True
    gates: list[ReminderGate] = Field(
        default_factory=lambda: [
            ReminderGate(name="due_in_5", working_days_before=5, subject="{reference}: due in 5 working days ({due})"),
            ReminderGate(name="due_today", working_days_before=0, subject="{reference}: due today ({due})"),
            ReminderGate(name="overdue", working_days_before=-1, subject="{reference}: OVERDUE (was due {due})"),
        ]
    )
    entity_set: str = "tasks"
    regarding_nav: str | None = "regardingobjectid_incident_task"
    #: Assign the task to the case's team (teams looked up by name); otherwise it stays with the application user.
    assign_to_team: bool = True


class Timeline(_Model):
    """Stage changes are written as a note on the case: the audit trail CRM users see on the timeline."""

    stage_notes: bool = True
    #: Audit notes (connector/sync/audit.py): creation, routing decision, regime change, grade change and the names
    #: of other pushed fields that changed. Never requester data.
    audit_notes: bool = True
    #: Audit notes for `foi-sync migrate` too (one note per migrated case: off by default for large backlogs).
    audit_on_migrate: bool = False
    note_entity_set: str = "annotations"
    note_regarding_nav: str | None = "objectid_incident"


class BusinessProcessFlow(_Model):
    """Optional: move a business process flow's active stage with the case stage (Microsoft: BPF instances)."""

    entity_set: str = Field(description="the BPF table's entity set, e.g. foi_foirequestprocesses")
    case_nav: str = Field(description="navigation property from the BPF row to the case, e.g. bpf_incidentid")
    case_lookup_column: str = Field(description="lookup column for filtering, e.g. bpf_incidentid")
    #: case stage -> processstage id (GUID). Several case stages may share one process stage.
    stage_ids: dict[str, str] = Field(default_factory=dict)
    #: The flow's stage ids in order. Dataverse only moves a flow to the next or previous stage, so a case that
    #: jumps (received -> response_sent) is walked through the stages between. Default: the distinct
    #: stage_ids values in the order they are listed.
    stage_order: list[str] = Field(default_factory=list)

    @field_validator("stage_ids")
    @classmethod
    def _stages(cls, value: dict[str, str]) -> dict[str, str]:
        known = {s.value for s in Stage}
        for stage, sid in value.items():
            if stage not in known:
                raise ValueError(f"'{stage}' is not a case stage; use one of {', '.join(sorted(known))}")
            if not odata.is_guid(sid):
                raise ValueError(f"stage_ids.{stage}: '{sid}' is not a processstage id (a GUID)")
        return {k: v.lower() for k, v in value.items()}

    @model_validator(mode="after")
    def _order(self) -> BusinessProcessFlow:
        self.stage_order = [s.lower() for s in self.stage_order]
        missing = sorted(set(self.stage_ids.values()) - set(self.stage_order)) if self.stage_order else []
        if missing:
            raise ValueError(f"stage_order does not list stage id(s) {', '.join(missing)} used in stage_ids; add them")
        return self

    @property
    def path(self) -> list[str]:
        """The flow's stage ids in order (stage_order, else stage_ids' distinct values as listed)."""
        return self.stage_order or list(dict.fromkeys(self.stage_ids.values()))


class TargetMapping(_Model):
    """One target mapping file (see docs/mapping.md for the annotated format)."""

    name: str = "FOI cases"
    description: str = ""
    table: str = Field(description="logical name of the table holding FOI cases, e.g. incident or foi_request")
    entity_set: str
    primary_id: str
    primary_name: str | None = None
    #: Create the table itself when provisioning (custom tables); standard tables only get columns.
    create_table: bool = False
    table_display_name: str | None = None
    alternate_key: list[str] = Field(min_length=1, max_length=16)
    alternate_key_name: str
    regarding_nav_email: str | None = None
    fields: dict[str, FieldMap]
    contact: ContactMapping = Field(default_factory=ContactMapping)
    reminders: Reminders = Field(default_factory=Reminders)
    timeline: Timeline = Field(default_factory=Timeline)
    bpf: BusinessProcessFlow | None = None
    #: Set by load_target_mapping: where it came from, and a hash that changes when the file changes.
    source_path: Path | None = Field(default=None, exclude=True)
    fingerprint: str = Field(default="", exclude=True)

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, FieldMap]) -> dict[str, FieldMap]:
        for name, spec in value.items():
            if name not in CASE_FIELDS and spec.push:
                raise ValueError(
                    f"unknown case field '{name}'; use one of {', '.join(CASE_FIELDS)} (or set push = false for a "
                    "column that is only pulled back)"
                )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TargetMapping:
        cols: dict[str, str] = {}
        for name, spec in self.fields.items():
            if spec.payload_key in cols and spec.push:
                raise ValueError(
                    f"fields.{name} and fields.{cols[spec.payload_key]} both write column '{spec.column}'; "
                    "map each column once"
                )
            if spec.push:
                cols[spec.payload_key] = name
        for col in self.alternate_key:
            key_spec = self.field_for_column(col)
            if key_spec is None:
                raise ValueError(
                    f"alternate_key column '{col}' is not mapped; add a [fields.reference_key] with column = '{col}'"
                )
            if key_spec.owner != "connector":
                raise ValueError(f"alternate_key column '{col}' must be owner = 'connector'")
        if self.stage_field is None:
            raise ValueError("a target mapping needs [fields.stage] (stage transitions are what the sync tracks)")
        return self

    # ------------------------------------------------------------------ lookups into the mapping
    def field_for_column(self, column: str) -> FieldMap | None:
        return next((f for f in self.fields.values() if f.column == column), None)

    def field_name_for_column(self, column: str) -> str | None:
        return next((n for n, f in self.fields.items() if f.column == column), None)

    @property
    def stage_field(self) -> FieldMap | None:
        return self.fields.get("stage")

    @property
    def pull_columns(self) -> list[str]:
        """$select for pulls: the primary id, the key and every field marked pull (lookups as _x_value)."""
        cols = [self.primary_id, *self.alternate_key]
        for spec in self.fields.values():
            if spec.pull and spec.read_column not in cols:
                cols.append(spec.read_column)
        return cols

    def connector_owned_keys(self) -> set[str]:
        return {f.payload_key for f in self.fields.values() if f.push and f.owner == "connector"}

    def alternate_key_values(self, case: FoiCase) -> dict[str, Any]:
        names = [self.field_name_for_column(col) or "" for col in self.alternate_key]
        # The usual key (the reference) without every other value of the case: the plan asks for each case's key
        # before it maps the case, and case_values costs about 15 µs a case.
        raw = {n: _KEY_VALUES[n](case) for n in names} if all(n in _KEY_VALUES for n in names) else case_values(case)
        out = {}
        for col in self.alternate_key:
            name = self.field_name_for_column(col) or ""
            spec = self.fields.get(name)
            # The same value case_fields gives the key's field (pushed, not a lookup, not a deadline field).
            usable = spec is not None and spec.push and spec.type != "lookup" and name not in DEADLINE_FIELDS
            value = _normalise(spec, raw[name]) if usable and spec is not None and name in raw else None
            odata.check_key_value(value, col)
            out[col] = value
        return out

    def source_key(self, case: FoiCase) -> str:
        """The identity of a case in the state store: its alternate-key values (what the CRM sees too)."""
        return "|".join(str(v) for v in self.alternate_key_values(case).values())

    # ------------------------------------------------------------------ case -> CRM
    def case_fields(
        self,
        case: FoiCase,
        derived: Mapping[str, Any] | None = None,
        *,
        include_derived: bool = True,
        raw: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The value of every mapped (non-lookup) field, in case terms, normalised the way from_crm returns them.
        ``raw`` is ``case_values(case)`` when the caller already has it (the plan's hot path)."""
        raw = dict(raw) if raw is not None else case_values(case)
        if include_derived and derived:
            raw.update(derived)
        out: dict[str, Any] = {}
        for name, spec in self.fields.items():
            if not spec.push or spec.type == "lookup" or name not in raw:
                continue
            if name in DEADLINE_FIELDS and not (include_derived and derived):
                continue
            out[name] = _normalise(spec, raw[name])
        return out

    def to_crm(
        self,
        case: FoiCase,
        derived: Mapping[str, Any] | None = None,
        *,
        binds: Mapping[str, str | None] | None = None,
        resolve: Callable[[str, FieldMap, Any], str | None] | None = None,
    ) -> dict[str, Any]:
        """The full create payload for a case. Raises MappingValueError naming the field (never the value).

        ``binds`` gives ready ``@odata.bind`` paths by field name (e.g. the requester contact); ``resolve`` looks
        up a by-name lookup (e.g. a team) and returns a bind path, or None when nothing matches.
        """
        raw = case_values(case)
        values = self.case_fields(case, derived, raw=raw)
        payload: dict[str, Any] = {}
        for name, spec in self.fields.items():
            if not spec.push:
                continue
            if spec.type == "lookup":
                path: str | None = (binds or {}).get(name)
                if path is None and name not in (binds or {}) and resolve is not None and raw.get(name):
                    path = resolve(name, spec, raw[name])
                    if path is None and spec.on_missing == "reject":
                        raise MappingValueError(
                            "lookup_unresolved",
                            name,
                            f"fields.{name}: no {spec.target} matches the case's value by {spec.match_column}; "
                            f"create it in the CRM or set on_missing = 'skip'",
                        )
                if path is not None:
                    payload[spec.payload_key] = path
                continue
            if name not in values:
                continue
            payload[spec.column] = _to_column(name, spec, values[name])
        for col in self.alternate_key:
            if payload.get(col) in (None, ""):
                raise MappingValueError("key_missing", col, f"alternate key column '{col}' has no value")
        return payload

    # ------------------------------------------------------------------ CRM -> case
    def from_crm(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A pulled row -> {case field: value} (choices back to case values, dates typed, exemptions as a list)."""
        out: dict[str, Any] = {}
        if self.primary_id in row:
            out["crm_id"] = row[self.primary_id]
        if "@odata.etag" in row:
            out["crm_etag"] = row["@odata.etag"]
        for name, spec in self.fields.items():
            if not spec.pull or spec.read_column not in row:
                continue
            out[name] = _from_column(name, spec, row[spec.read_column])
        return out

    def hash_payload(self, payload: Mapping[str, Any]) -> str:
        return stable_hash({"mapping": self.fingerprint, "payload": payload})


# ---------------------------------------------------------------------------------------------- value handling


def requester_ref(case: FoiCase) -> str:
    """A stable pseudonymous reference for a requester: same email -> same contact, without storing the email."""
    r = case.requester
    name = (r.name or "").strip().lower()
    basis = (r.email or "").strip().lower() or f"{name}|{(r.postcode or r.postal_address or '')}"
    if basis == "|":  # no name, email or address (an invalid request): one contact per case, never shared
        basis = f"case|{case.reference}"
    return "R-" + hashlib.sha256(("foi-sync-requester|" + basis).encode()).hexdigest()[:20].upper()


def related_requests_text(case: FoiCase) -> str:
    """One line per related request, e.g. ``FOI/2026/0001: repeat of (...), 93% similar``."""
    return "\n".join(
        f"{r.reference}: {model.RELATION_WORDS[r.relation]}, {round(r.score * 100)}% similar" for r in case.related
    )


def related_case_reference(case: FoiCase, earlier: Callable[[str], bool] | None = None) -> str | None:
    """The one earlier case the ``related_case`` lookup points at: a repeat first, then the other kinds in the
    model's order, the most similar first (the order intake lists them in). ``earlier(reference)`` says whether that
    case came before this one (a round robin links both ways; the lookup only ever points back in time)."""
    for kind in model.RelationKind:
        for r in case.related:
            if r.relation is kind and r.reference != case.reference and (earlier is None or earlier(r.reference)):
                return r.reference
    return None


def triage_status(case: FoiCase) -> str:
    """``invalid: no address for correspondence``, ``rerouted``, ``request``: the triage as an officer reads it."""
    if case.triage is TriageOutcome.INVALID:
        return f"invalid: {INVALID_REASONS.get(case.triage_reason or '', case.triage_reason or 'see the explanation')}"
    if case.triage is TriageOutcome.BUSINESS_AS_USUAL:
        return "rerouted: business as usual"
    return "request"


def stable_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()).hexdigest()


#: The case values an alternate key is usually made of, each computable alone (case_values uses them too).
_KEY_VALUES: dict[str, Callable[[FoiCase], Any]] = {
    "reference": lambda case: case.reference,
    "reference_key": lambda case: odata.key_safe(case.reference),
}


def case_values(case: FoiCase) -> dict[str, Any]:
    """Every case field the vocabulary names, computed from the case alone (no deadline engine)."""
    v: dict[str, Any] = {
        "reference": _KEY_VALUES["reference"](case),
        "reference_key": _KEY_VALUES["reference_key"](case),
        "title": f"{case.reference} {case.subject}",
        "regime": case.regime.value,
        "channel": case.channel.value,
        "stage": case.stage.value,
        "received_at": case.received_at,
        "received_date": case.received_date,
        "subject": case.subject,
        "request_text": case.request_text,
        "service_area": case.service_area,
        "assigned_team": case.assigned_team,
        "assigned_officer": case.assigned_officer,
        "outcome": case.outcome.value if case.outcome else None,
        "exemptions": list(case.exemptions),
        "responded_at": case.responded_at,
        "responded_date": case.responded_date,
        "review_outcome": case.review_outcome.value if case.review_outcome else None,
        "complaint_outcome": case.complaint_outcome.value if case.complaint_outcome else None,
        "requester_type": case.requester.type.value,
        "source_system": case.source_system,
        "source_id": case.source_id,
        "wdtk_request_id": case.wdtk_request_id,
        "related_references": "; ".join(f"{r.reference} ({r.relation.value})" for r in case.related) or None,
        "related_requests": related_requests_text(case) or None,
        "other_arrivals": "; ".join(case.other_arrivals) or None,
        "grade_explanation": case.grade_explanation,
        "triage": case.triage.value,
        "triage_status": triage_status(case),
        "triage_explanation": case.triage_explanation,
        "triage_override": case.triage_override.value if case.triage_override else None,
        "case_type": "service_request" if case.triage is TriageOutcome.BUSINESS_AS_USUAL else "information_request",
        "transfer_to": case.transfer_to,
        "transfer_contact": case.transfer_contact,
        "decision_reasons": case.decision_reasons,
    }
    v.update(clock_event_values(case))
    return v


#: Clock-event kind -> the date field it fills (the latest event of the kind wins, as in the reporting store).
EVENT_DATE_FIELDS = model.EVENT_DATE_FIELDS
_EXTENSION_KINDS = model.EXTENSION_EVENTS


def clock_event_values(case: FoiCase) -> dict[str, Any]:
    """Dated case fields derived from the clock events: what the reporting store needs for the Cabinet Office
    review, complaint and extension categories. Every key is present (None when the case has no such event)."""
    out: dict[str, Any] = dict.fromkeys([*EVENT_DATE_FIELDS.values(), "extension", "extended_until"])
    for event in sorted(case.clock_events, key=lambda e: e.on):
        if event.kind in EVENT_DATE_FIELDS:
            out[EVENT_DATE_FIELDS[event.kind]] = event.on
        elif event.kind in _EXTENSION_KINDS:
            out["extension"] = _EXTENSION_KINDS[event.kind]
            out["extended_until"] = event.until
    return out


def contact_values(case: FoiCase) -> dict[str, Any]:
    r = case.requester
    parts = (r.name or "").split()
    return {
        "requester_ref": requester_ref(case),
        "first_name": " ".join(parts[:-1]) or None,
        # a request with no name (an invalid FOI request, an anonymous EIR one) still needs a contact to write to
        "last_name": parts[-1] if parts else "(name not given)",
        "full_name": r.name,
        "email": str(r.email).lower() if r.email else None,
        "postal_address": r.postal_address,
        "postcode": r.postcode,
        "organisation": r.organisation,
        "requester_type": r.type.value,
    }


def _normalise(spec: FieldMap, value: Any) -> Any:
    """Case-side value in the representation from_crm returns (so a round trip compares equal)."""
    if value is None:
        return None
    if spec.type == "datetime":
        if isinstance(value, datetime):
            return value.astimezone(UTC).replace(microsecond=0)
        return value
    if spec.type == "date":
        if isinstance(value, datetime):
            return value.date()
        return value
    if isinstance(value, list):
        return list(value)  # joined when written (_to_column); from_crm splits it back
    if spec.type == "integer":
        return int(value)
    if spec.type == "boolean":
        return bool(value)
    if spec.type in ("string", "memo"):
        text = str(value)
        if spec.max_length and len(text) > spec.max_length and spec.on_too_long == "truncate":
            text = text[: spec.max_length]
        return text
    return value


def _to_column(name: str, spec: FieldMap, value: Any) -> Any:
    if isinstance(value, list):
        value = ", ".join(str(x) for x in value) or None
    if value is None:
        return None
    if spec.type == "choice":
        key = str(value)
        if key not in spec.choices:
            raise MappingValueError(
                "choice_unmapped",
                name,
                f"fields.{name}.choices has no entry for '{key}'; add {key} = <CRM option value> to "
                f"[fields.{name}.choices] (see `foi-sync mapping check` for the values the CRM has)",
            )
        return spec.choices[key]
    if spec.type == "datetime":
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if spec.type == "date":
        return value.isoformat()
    if spec.type in ("string", "memo"):
        if spec.max_length and len(value) > spec.max_length:
            raise MappingValueError(
                "too_long",
                name,
                f"fields.{name}: the value is {len(value)} characters and column '{spec.column}' holds "
                f"{spec.max_length}; raise max_length (and the CRM column's) or set on_too_long = 'truncate'",
            )
        return value
    return value


def _from_column(name: str, spec: FieldMap, value: Any) -> Any:
    if value is None:
        return [] if name == "exemptions" else None
    if spec.type == "choice":
        reverse = {v: k for k, v in spec.choices.items()}
        return reverse.get(int(value), value)
    if spec.type == "datetime":
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)
    if spec.type == "date":
        return date.fromisoformat(str(value)[:10])
    if name == "exemptions":
        return [x.strip() for x in str(value).split(",") if x.strip()]
    return value


# ---------------------------------------------------------------------------------------------- loading


def load_target_mapping(path: Path | str) -> TargetMapping:
    """Read and validate a target mapping file; raise MappingError with one line per problem (file, key, fix)."""
    path = Path(path)
    data, text = tomlfile.read_toml(
        path, what="the target mapping", fix_path="fix sync.target_mapping in the config", error=MappingError
    )
    mapping = tomlfile.validate(
        TargetMapping, data, path=path, text=text, error=MappingError, describe=_mapping_problem
    )
    mapping.source_path = path
    mapping.fingerprint = hashlib.sha256(
        json.dumps(mapping.model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()[:16]
    return mapping


TYPE_FIXES = tomlfile.TYPE_FIXES


def _mapping_problem(err: ErrorDetails) -> tuple[str, str]:
    problem, fix = tomlfile.default_problem(err)
    if err["type"] == "extra_forbidden":
        fix = "check the spelling against docs/mapping.md or remove it"
    return problem, fix


def describe_mapping_errors(exc: ValidationError, path: Path, text: str) -> str:
    """The shared format (file:line, key, problem, fix), with the target mapping's own fixes."""
    return tomlfile.describe_errors(exc, path, text, describe=_mapping_problem)
