"""Plan: diff the cases from intake against the sync state, so a push sends only what changed.

Every case becomes one of: create (not pushed before), update (its payload hash changed: a stage move, a new
outcome, a deadline field refreshed by the daily run), skip (nothing changed) or reject (the mapping cannot express
it: an unmapped choice value, a value too long, a key Dataverse cannot address). ``--dry-run`` prints the plan and
writes nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from json.encoder import encode_basestring_ascii  # what JSONEncoder.encode does for a str
from typing import TYPE_CHECKING, Any, Literal

from connector import odata
from connector.model import NO_CLOCK_STAGES, FoiCase
from connector.sync.mapping import (
    FieldMap,
    MappingValueError,
    TargetMapping,
    _normalise,
    _to_column,
    contact_values,
    related_case_reference,
    requester_ref,
    stable_hash,
)
from connector.sync.state import RecordState, StateStore

if TYPE_CHECKING:
    from connector.deadlines import DeadlineEngine
    from connector.intake.grade import Grade

#: Resolves a lookup by name (team, queue) to an ``@odata.bind`` path, or None (connector/sync/push.py NameResolver).
Resolver = Callable[[str, FieldMap, Any], str | None]

log = logging.getLogger(__name__)

Action = Literal["create", "update", "skip", "reject"]


#: One encoder for every field hash: json.dumps with keyword arguments builds a new encoder per call, which was a
#: third of the plan's time. Same output as ``json.dumps(value, sort_keys=True, default=str)``.
_FIELD_ENCODER = json.JSONEncoder(sort_keys=True, default=str)


def field_hash(value: Any) -> str:
    if value is None or type(value) in _SCALARS:
        return _scalar_hash(value)
    return _hash(value)


_SCALARS = frozenset({str, int, float, bool, date, datetime})


@functools.lru_cache(maxsize=1 << 16, typed=True)
def _scalar_hash(value: Any) -> str:
    """Most columns repeat a few values (regime, stage, channel, None): each is hashed once, and every case shares
    one string for it instead of holding its own (about 30 of a case's 45 field hashes)."""
    return _hash(value)


def _hash(value: Any) -> str:
    text = encode_basestring_ascii(value) if type(value) is str else _FIELD_ENCODER.encode(value)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(slots=True)  # no per-record __dict__: about 0.5 KB less for each of a migration's records
class PlannedRecord:
    table_name: str
    source_key: str
    reference: str  # what operators see (a case reference or a requester ref; never personal data)
    action: Action
    payload: dict[str, Any] = field(default_factory=dict)
    payload_hash: str = ""
    field_hashes: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    previous: RecordState | None = None
    stage: str | None = None
    case: FoiCase | None = None
    contact_ref: str | None = None
    error_code: str = ""
    error: str = ""
    origin: dict[str, Any] = field(default_factory=dict)
    #: Filled by the push: the record's id in the CRM.
    dataverse_id: str | None = None
    #: For contacts: the email, kept in memory only, to adopt a contact a CRM user already made.
    email: str | None = None
    #: For contacts: the key value to upsert by.
    key: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    cases: list[PlannedRecord]
    contacts: list[PlannedRecord]
    derived_fields: bool = True

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            "cases": dict(Counter(p.action for p in self.cases)),
            "contacts": dict(Counter(p.action for p in self.contacts)),
        }

    def examples(self, n: int = 3) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for p in self.cases:
            bucket = out.setdefault(p.action, [])
            if len(bucket) < n:
                detail = ""
                if p.action == "update" and not p.changed:
                    detail = " (mapping changed; nothing to send)"
                elif p.action == "update":
                    detail = f" ({', '.join(p.changed[:4])}{'...' if len(p.changed) > 4 else ''})"
                elif p.action == "reject":
                    detail = f" ({p.error_code}: {p.error})"
                bucket.append(p.reference + detail)
        return out

    def by_action(self, action: Action) -> list[PlannedRecord]:
        return [p for p in self.cases if p.action == action]


def grade_key(label: str) -> str:
    """Intake's grade label ("P1 urgent") -> the mapping's choice key ("p1_urgent")."""
    return "_".join(label.lower().split())


def derived_values(
    case: FoiCase, engine: DeadlineEngine | None, today: date, grade: str | None = None
) -> dict[str, Any]:
    """Deadline fields from the deadline engine as of today (so they refresh daily); the priority grade is intake's
    when it graded the case, else a plain rule on the days remaining."""
    if engine is None:
        return {}
    if case.stage in NO_CLOCK_STAGES:
        # Triage found no valid request (invalid) or a service request (rerouted): there is no statutory clock,
        # so no due date, RAG or days remaining is ever shown for it (connector/intake/triage.py).
        return {
            "due_date": None,
            "extended_due_date": None,
            "effective_due_date": None,
            "rag_status": None,
            "priority_grade": None,
            "days_remaining": None,
        }
    status = engine.status(case, today)
    r = status.result
    open_case = status.clock != "closed" and not case.is_closed
    if grade:
        grade = grade_key(grade)
    elif not open_case:
        grade = "closed"
    elif status.overdue or status.remaining <= 3:
        grade = "p1_urgent"
    elif status.due_soon:
        grade = "p2_high"
    else:
        grade = "p3_normal"
    return {
        "due_date": r.due,
        "extended_due_date": r.extended_due,
        "effective_due_date": status.effective_due,
        "rag_status": status.rag,
        "priority_grade": grade,
        "days_remaining": status.remaining,
    }


def related_case_bind(
    mapping: TargetMapping, case: FoiCase, known: set[str], received: dict[str, tuple[datetime, str]]
) -> dict[str, str | None]:
    """``related_case`` -> the earlier case by its alternate key (``incidents(foi_reference='FOI-2026-0001')``), so
    an officer can click through in Dynamics; None (no link) when the case has no related request, or when the
    related case is not known to be in the CRM (pushed before, in this run, or mirrored by the pull): a bind to a
    missing key would cost the whole case a dead letter."""
    spec = mapping.fields.get("related_case")
    if spec is None or not spec.push or len(mapping.alternate_key) != 1:
        return {}
    me = (case.received_at, case.reference)

    def earlier(reference: str) -> bool:
        # a case of this run only when it arrived before this one; any other known case was pushed before
        other = received.get(odata.key_safe(reference).casefold())
        return other is None or other < me

    ref = related_case_reference(case, earlier)
    key = odata.key_safe(ref) if ref else ""
    if not ref or key.casefold() not in known:
        return {"related_case": None}
    return {"related_case": odata.bind(spec.target_entity_set or mapping.entity_set, {mapping.alternate_key[0]: key})}


def contact_payload(mapping: TargetMapping, case: FoiCase) -> dict[str, Any]:
    cm = mapping.contact
    values = contact_values(case)
    payload: dict[str, Any] = {}
    for name, spec in cm.fields.items():
        if not spec.push or name not in values:
            continue
        value = _normalise(spec, values[name])
        if value is None:
            continue
        payload[spec.column] = _to_column(name, spec, value)
    return payload


def build_plan(
    cases: list[FoiCase],
    mapping: TargetMapping,
    state: StateStore,
    *,
    engine: DeadlineEngine | None = None,
    today: date | None = None,
    origin: dict[str, Any] | None = None,
    origins: dict[str, dict[str, Any]] | None = None,
    grades: Mapping[str, Grade] | None = None,
    resolve: Resolver | None = None,
    crm_keys: set[str] | None = None,
) -> Plan:
    """Pure diff: reads the state, writes nothing. ``crm_keys``: key-safe references the CRM holds (the pull's
    mirror), casefolded, so a related-case link may point at a case the connector never pushed."""
    planner = Planner(
        cases,
        mapping,
        state,
        engine=engine,
        today=today,
        origin=origin,
        origins=origins,
        grades=grades,
        resolve=resolve,
        crm_keys=crm_keys,
    )
    return planner.plan()  # both passes, back to back


@dataclass
class _Keyed:
    """A case that passed the first pass: its key, requester and origin, for the second."""

    case: FoiCase
    source_key: str
    ref: str
    origin: dict[str, Any]


class Planner:
    """The plan in two passes, so a migration can write the requesters while its cases are planned.

    ``requesters()`` is the cheap pass (keys, duplicates, one payload per requester); ``cases()`` maps every case
    (deadlines, bindings, hashes), most of the plan's time. ``plan()`` runs what has not run and keeps only the
    requesters the planned cases need. A caller that writes the requesters before ``cases()`` writes those of
    ``requesters()``: the requesters of new cases and of cases re-pointed to another requester, which may include
    the requester of a case the second pass then rejects (a value the mapping cannot express).
    """

    def __init__(
        self,
        cases: list[FoiCase],
        mapping: TargetMapping,
        state: StateStore,
        *,
        engine: DeadlineEngine | None = None,
        today: date | None = None,
        origin: dict[str, Any] | None = None,
        origins: dict[str, dict[str, Any]] | None = None,
        grades: Mapping[str, Grade] | None = None,
        resolve: Resolver | None = None,
        crm_keys: set[str] | None = None,
    ) -> None:
        self.cases_in = cases
        self.m = mapping
        self.engine = engine
        self.today = today or date.today()
        self.origin = origin or {}
        self.origins = origins or {}
        self.grades = grades or {}
        self.resolve = resolve
        self.case_state = state.records(mapping.table)
        known = {k.casefold() for k in self.case_state} | {k.casefold() for k in crm_keys or ()}
        self.received = {odata.key_safe(c.reference).casefold(): (c.received_at, c.reference) for c in cases}
        self.known = known | set(self.received)
        self.contact_state = state.records(mapping.contact.table)
        self.contacts: dict[str, PlannedRecord] = {}
        #: Requesters whose payload the mapping cannot express: (error code, message), for each of their cases.
        self.contact_errors: dict[str, tuple[str, str]] = {}
        #: Every case in order: a reject already, or what the second pass needs.
        self.order: list[PlannedRecord | _Keyed] | None = None
        self.planned: list[PlannedRecord] | None = None
        # Equal strings of this plan's payloads and field hashes share one object (a due date, a reference written
        # to two columns, a field hash): a plan holds every case's payload through the push.
        self.strings: dict[str, str] = {}
        # Records the state has never seen list every column as changed: one list per set of columns, read-only.
        self.all_changed: dict[tuple[str, ...], list[str]] = {}
        req = mapping.fields.get("requester")
        #: The payload key of a connector-owned requester lookup: a case re-pointed there needs its requester.
        self.req_key = req.payload_key if req is not None and req.owner == "connector" else None

    # ------------------------------------------------------------------ helpers
    def _share(self, values: dict[str, Any]) -> dict[str, Any]:
        strings = self.strings
        for k, v in values.items():
            if type(v) is str:
                values[k] = strings.setdefault(v, v)
        return values

    def _changed(self, fh: dict[str, str], prev: RecordState | None) -> list[str]:
        if prev is not None:
            return _changed(fh, prev)
        cols = tuple(fh)
        found = self.all_changed.get(cols)
        if found is None:
            found = self.all_changed[cols] = _changed(fh, prev)
        return found

    def _reject(
        self, case: FoiCase, org: dict[str, Any], key: str, code: str, error: str, **extra: Any
    ) -> PlannedRecord:
        """A case that cannot be pushed: it becomes a dead letter with this code and message."""
        return PlannedRecord(
            self.m.table, key, case.reference, "reject", case=case, origin=org, error_code=code, error=error, **extra
        )

    def _requester_bind(self, ref: str) -> str:
        cm = self.m.contact
        key_col, key_val = next(iter(self.contacts[ref].key.items()))
        return odata.bind(cm.entity_set, {key_col: key_val})

    def _contact(self, case: FoiCase, ref: str, org: dict[str, Any]) -> PlannedRecord:
        cm = self.m.contact
        cpayload = self._share(contact_payload(self.m, case))
        chash = stable_hash({"mapping": self.m.fingerprint, "contact": cpayload})
        prev_c = self.contact_state.get(ref)
        key = cm.key_value(ref, str(case.requester.email) if case.requester.email else None)
        fh = self._share({k: field_hash(v) for k, v in cpayload.items()})
        action: Action = "create" if prev_c is None else ("skip" if prev_c.payload_hash == chash else "update")
        return PlannedRecord(
            cm.table,
            ref,
            ref,
            action,
            payload=cpayload,
            payload_hash=chash,
            field_hashes=fh,
            changed=self._changed(fh, prev_c),
            previous=prev_c,
            dataverse_id=prev_c.dataverse_id if prev_c else None,
            email=str(case.requester.email).lower() if case.requester.email else None,
            key=key,
            origin={**org, "requester_of": case.reference},
        )

    # ------------------------------------------------------------------ pass one
    def requesters(self) -> list[PlannedRecord]:
        """Keys, duplicate references and requesters; -> the requesters that new or re-pointed cases need."""
        order: list[PlannedRecord | _Keyed] = []
        seen: set[str] = set()
        needed: set[str] = set()
        for case in self.cases_in:
            org = dict(self.origin)
            org.update(self.origins.get(case.reference, {}))
            org["reference"] = case.reference
            try:
                source_key = self.m.source_key(case)
            except (odata.UnsafeKeyValue, ValueError) as exc:
                order.append(self._reject(case, org, case.reference, "key_unsafe", str(exc)))
                continue
            if source_key in seen:
                order.append(
                    self._reject(
                        case,
                        org,
                        source_key,
                        "duplicate_reference",
                        "another case in this run has the same key-safe reference; make references unique",
                    )
                )
                continue
            seen.add(source_key)
            ref = requester_ref(case)
            if ref not in self.contacts and ref not in self.contact_errors:
                try:
                    self.contacts[ref] = self._contact(case, ref, org)
                except MappingValueError as exc:
                    self.contact_errors[ref] = (exc.code, str(exc))
                except (odata.UnsafeKeyValue, ValueError) as exc:
                    self.contact_errors[ref] = ("invalid_value", str(exc))
            order.append(_Keyed(case, source_key, ref, org))
            if ref in self.contacts and ref not in needed:
                prev = self.case_state.get(source_key)
                if prev is None or (
                    self.req_key is not None
                    and field_hash(self._requester_bind(ref)) != prev.field_hashes.get(self.req_key)
                ):
                    needed.add(ref)
        self.order = order
        return [c for r, c in self.contacts.items() if r in needed]

    # ------------------------------------------------------------------ pass two
    def cases(self) -> list[PlannedRecord]:
        """Every case mapped and diffed against the state, in the order intake gave them."""
        if self.order is None:
            self.requesters()
        assert self.order is not None
        m = self.m
        stage_col = m.stage_field.column if m.stage_field else None
        planned: list[PlannedRecord] = []
        for item in self.order:
            if isinstance(item, PlannedRecord):
                planned.append(item)
                continue
            case, source_key, ref, org = item.case, item.source_key, item.ref, item.origin
            failed = self.contact_errors.get(ref)
            if failed is not None:
                planned.append(self._reject(case, org, source_key, failed[0], failed[1], contact_ref=ref))
                continue
            try:
                binds: dict[str, str | None] = {"requester": self._requester_bind(ref)}
                binds.update(related_case_bind(m, case, self.known, self.received))
                g = self.grades.get(case.reference)
                # A case re-planned without intake's grades (a dead-letter retry) carries its own grade.
                derived = derived_values(
                    case, self.engine, self.today, (g.grade if g is not None else None) or case.grade
                )
                payload = m.to_crm(case, derived, binds=binds, resolve=self.resolve)
            except MappingValueError as exc:
                planned.append(self._reject(case, org, source_key, exc.code, str(exc), contact_ref=ref))
                continue
            except (odata.UnsafeKeyValue, ValueError) as exc:
                planned.append(self._reject(case, org, source_key, "invalid_value", str(exc), contact_ref=ref))
                continue
            self._share(payload)
            phash = m.hash_payload(payload)
            fh = self._share({k: field_hash(v) for k, v in payload.items()})
            prev = self.case_state.get(source_key)
            action: Action
            if prev is None:
                action = "create"
            elif prev.payload_hash == phash:
                action = "skip"
            else:
                action = "update"
            planned.append(
                PlannedRecord(
                    m.table,
                    source_key,
                    case.reference,
                    action,
                    payload=payload,
                    payload_hash=phash,
                    field_hashes=fh,
                    changed=self._changed(fh, prev),
                    previous=prev,
                    stage=case.stage.value if stage_col else None,
                    case=case,
                    contact_ref=ref,
                    origin=org,
                    dataverse_id=prev.dataverse_id if prev else None,
                )
            )
        self.planned = planned
        self.order = None  # let the first pass's list go
        return planned

    def plan(self, contacts: list[PlannedRecord] | None = None) -> Plan:
        """The plan: ``contacts`` when the caller already wrote them, else the requesters the planned cases need
        (new cases, or updates that re-point a connector-owned requester lookup)."""
        planned = self.planned if self.planned is not None else self.cases()
        if contacts is None:
            req_key = self.req_key
            needed = {
                p.contact_ref
                for p in planned
                if p.action == "create" or (p.action == "update" and req_key is not None and req_key in p.changed)
            }
            contacts = [c for r, c in self.contacts.items() if r in needed]
        return Plan(planned, contacts, derived_fields=self.engine is not None)


_EMPTY = field_hash(None)


def _changed(new: dict[str, str], prev: RecordState | None) -> list[str]:
    """Columns whose value changed since the last push. A column the mapping gained since then (an upgrade) counts
    only when the case has a value for it: sending nulls would cost a write per case and could blank a value a CRM
    user entered."""
    if prev is None:
        return sorted(new)
    old = prev.field_hashes
    return sorted(
        k for k in set(new) | set(old) if new.get(k) != old.get(k) and not (k not in old and new.get(k) == _EMPTY)
    )
