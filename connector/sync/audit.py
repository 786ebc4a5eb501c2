"""Audit notes: what foi-sync decided about a case, on the case's timeline in the CRM, and in the local ledger.

One note (annotation regarding the case, like the stage notes) for each of:

* ``created``  - the case first landed in the CRM (or an existing CRM case was linked to the register's row);
* ``routing``  - where it was routed and how: the source register said so, a routing rule (named) or the learned
  routing model, with the confidence; written on creation and again whenever the routing decision changes;
* ``regime``   - the regime changed (e.g. FOIA -> EIR after triage);
* ``grade``    - the priority grade changed, with the reasons of the new grade;
* ``fields``   - other connector-owned fields were updated: the NAMES of the fields and columns only.

Nothing here quotes requester data: no names, addresses, emails or request text. The last decisions per case are
kept in the state (``case_facts``) so the next run can say "from X to Y", and every note written is also a
``case_events`` row of the local ledger that ``foi-sync audit REFERENCE`` prints beside the CRM's notes.

Notes have deterministic ids (a replay after a crash cannot write a second copy) and go in one CreateMultiple for the
run (chunked by the bulk client), so a day with many grade changes costs a few requests, not one per case.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from connector import odata
from connector.dataverse import DataverseClient
from connector.sync.mapping import DEADLINE_FIELDS, TargetMapping
from connector.sync.plan import Plan, PlannedRecord
from connector.sync.push import FATAL, deterministic_id
from connector.sync.state import StateStore

if TYPE_CHECKING:
    import pandas as pd

    from connector.intake.grade import Grade

log = logging.getLogger(__name__)

#: Subject prefix of every audit note (the stage notes start "FOI stage:"); `foi-sync audit` recognises both.
SUBJECT_PREFIX = "FOI audit: "


@dataclass(frozen=True)
class Routing:
    """How intake routed one case (columns route_method, route_rule, route_confidence of the intake frame)."""

    method: str  # source | rule | model | unrouted | none
    rule: str | None
    confidence: float | None


@dataclass(frozen=True)
class AuditNote:
    source_key: str
    reference: str
    kind: str
    subject: str
    text: str
    note_id: str


def describe_routing(area: str | None, team: str | None, routing: Routing | None) -> str:
    """``routed to Highways (team Highways) by rule 'street lighting', confidence 0.67``: words for officers."""
    where = f"{area or '(no service area)'}" + (f" (team {team})" if team else "")
    if routing is None:
        return f"routed to {where}; how was not recorded (a retried or re-pushed case)"
    conf = f", confidence {routing.confidence:.2f}" if routing.confidence is not None else ""
    if routing.method == "source":
        return f"routed to {where}: the service area was given by the source register"
    if routing.method == "rule":
        return f"routed to {where} by routing rule '{routing.rule}'{conf}"
    if routing.method == "model":
        return f"routed to {where} by the learned routing model{conf} (it beat the rules on held-back cases)"
    if routing.method == "unrouted":
        return f"not routed: the best routing answer was below the minimum confidence{conf}; route it by hand"
    return "not routed: no routing rule matched; route it by hand"


def facts_of(rec: PlannedRecord, routing: Routing | None, grade: tuple[str, int] | None) -> dict[str, Any]:
    case = rec.case
    assert case is not None
    return {
        "regime": case.regime.value,
        "service_area": case.service_area,
        "team": case.assigned_team,
        "officer": case.assigned_officer,
        "route_method": routing.method if routing else None,
        "route_rule": routing.rule if routing else None,
        "route_confidence": routing.confidence if routing else None,
        "grade": grade[0] if grade else None,
        "grade_score": grade[1] if grade else None,
    }


#: Mapping field -> the audit fact it carries: where a case is routed.
ROUTING_FIELDS = {"service_area": "service_area", "assigned_team": "team"}


def _routing_key(f: Mapping[str, Any]) -> tuple[Any, ...]:
    return (f.get("service_area"), f.get("team"), f.get("route_method"), f.get("route_rule"))


def notes_for(
    rec: PlannedRecord,
    before: Mapping[str, Any] | None,
    now: Mapping[str, Any],
    mapping: TargetMapping,
    *,
    run_id: str,
    today: date,
    grade_reasons: list[str] | None = None,
) -> list[AuditNote]:
    """The audit notes one landed case needs, given the facts last recorded (``before``) and today's."""
    ref = rec.reference
    key = rec.source_key
    out: list[AuditNote] = []
    stamp = f"recorded on {today.isoformat()} by foi-sync (run {run_id})"

    def note(kind: str, subject: str, text: str, *discriminator: object) -> None:
        nid = deterministic_id("audit-note", kind, mapping.table, key, *(str(d) for d in discriminator))
        out.append(AuditNote(key, ref, kind, f"{SUBJECT_PREFIX}{subject}"[:500], f"{ref}: {text}", nid))

    routing = Routing(now["route_method"], now["route_rule"], now["route_confidence"]) if now["route_method"] else None
    if before is None and rec.previous is None:
        linked = rec.action == "update"  # the push found the key already in the CRM and adopted it
        how = "an existing CRM case was linked to the register's request" if linked else "case created in the CRM"
        note(
            "created",
            f"case created ({str(now['regime']).upper()})",
            f"{how}, {stamp}, from source {rec.origin.get('source') or rec.origin.get('kind', 'sync')}. "
            f"Regime {str(now['regime']).upper()}."
            + (f" Priority grade {now['grade']} (score {now['grade_score']})." if now.get("grade") else "")
            + (f" Why: {'; '.join(grade_reasons)}" if grade_reasons else ""),
        )
        note(
            "routing",
            f"routing - {now['route_method'] or 'not recorded'}",
            f"{describe_routing(now['service_area'], now['team'], routing)}; {stamp}.",
            *_routing_key(now),
        )
        return out
    since = rec.previous.pushed_at if rec.previous else ""
    if before is None:  # pushed before audit notes existed: today's facts become the baseline, only fields noted
        before = now
    if before.get("regime") != now["regime"]:
        old, new = str(before.get("regime") or "(none)").upper(), str(now["regime"]).upper()
        note("regime", f"regime {old} -> {new}", f"regime changed from {old} to {new}, {stamp}.", old, new, since)
    # A routing or grade first learnt now (the case was last pushed by a retry, without intake) is no change.
    known_route = before.get("route_method") is not None
    moved = (before.get("service_area"), before.get("team")) != (now["service_area"], now["team"])
    if now["route_method"] and (moved or (known_route and _routing_key(before) != _routing_key(now))):
        note(
            "routing",
            f"routing changed - {now['route_method']}",
            f"{describe_routing(now['service_area'], now['team'], routing)} (was "
            f"{before.get('service_area') or '(none)'}), {stamp}.",
            *_routing_key(now),
            since,
        )
    if now.get("grade") and before.get("grade") and before.get("grade") != now["grade"]:
        old = before.get("grade") or "(none)"
        reasons = "; ".join(grade_reasons or [])
        note(
            "grade",
            f"grade {old} -> {now['grade']}",
            f"priority grade changed from {old} to {now['grade']} (score {before.get('grade_score')} -> "
            f"{now['grade_score']}), {stamp}." + (f" Why: {reasons}" if reasons else ""),
            old,
            now["grade"],
            today.isoformat(),
        )
    fields = changed_field_names(rec, mapping)
    if rec.action == "update" and fields:
        note(
            "fields",
            "fields updated",
            f"pushed fields changed: {', '.join(fields)} (names only; the values are on the case), {stamp}.",
            ",".join(fields),
            since,
        )
    return out


def changed_field_names(rec: PlannedRecord, mapping: TargetMapping) -> list[str]:
    """``service_area (foi_servicearea)`` for each connector-owned field this update sends, except the stage (it has
    its own note) and the deadline fields the job refreshes every day (their change is the grade note)."""
    owned = mapping.connector_owned_keys()
    by_key = {spec.payload_key: name for name, spec in mapping.fields.items()}
    stage = mapping.stage_field.payload_key if mapping.stage_field else None
    names = []
    for k in rec.changed:
        name = by_key.get(k)
        if name is None or k not in owned or k == stage or name in DEADLINE_FIELDS or k in mapping.alternate_key:
            continue
        names.append(f"{name} ({k.split('@')[0]})")
    return sorted(names)


class AuditWriter:
    """Writes the audit notes of one run's landed cases and records them (and the new facts) in the state."""

    def __init__(self, client: DataverseClient, mapping: TargetMapping, state: StateStore, run_id: str) -> None:
        self.client = client
        self.m = mapping
        self.state = state
        self.run_id = run_id
        self.counts: Counter[str] = Counter()

    def write(
        self,
        plan: Plan,
        today: date,
        routing: Mapping[str, Routing],
        grades: Mapping[str, tuple[str, int, list[str]]],
    ) -> None:
        """``routing`` and ``grades`` are by case reference (from intake); cases without them keep what is known."""
        tl = self.m.timeline
        # Created or updated this run, or unchanged ("skip") but known to the CRM: a grade can change without any
        # pushed column changing (when the mapping does not push the grade).
        landed = [
            r
            for r in plan.cases
            if r.case is not None
            and r.dataverse_id
            and (r.action in ("create", "update") or r.previous is not None)
            and r.action != "reject"
        ]
        if not landed:
            return
        before = self.state.case_facts(r.source_key for r in landed)
        crm_routing = [
            fact
            for name, fact in ROUTING_FIELDS.items()
            if (spec := self.m.fields.get(name)) is None or not spec.push or spec.owner != "connector"
        ]
        facts: list[tuple[str, dict[str, Any]]] = []
        notes: list[tuple[PlannedRecord, AuditNote]] = []
        for rec in landed:
            prior = before.get(rec.source_key)
            grade = grades.get(rec.reference)
            route = routing.get(rec.reference)
            now = facts_of(rec, route, (grade[0], grade[1]) if grade else None)
            if prior is not None:  # what this run does not know (a retry without intake) stays as recorded
                for k in ("route_method", "route_rule", "route_confidence") if route is None else ():
                    now[k] = prior.get(k)
                # Routing columns the CRM owns are written when a case is created and never again (the officers'
                # routing wins), so a new routing answer for a case already in the CRM changes nothing there: the
                # recorded routing stays, and no note claims a change the CRM does not show.
                for fact in crm_routing:
                    now[fact] = prior.get(fact)
                if len(crm_routing) == len(ROUTING_FIELDS):
                    for k in ("route_method", "route_rule", "route_confidence"):
                        now[k] = prior.get(k)
                if grade is None:
                    now["grade"], now["grade_score"] = prior.get("grade"), prior.get("grade_score")
            made = notes_for(
                rec, prior, now, self.m, run_id=self.run_id, today=today, grade_reasons=grade[2] if grade else None
            )
            notes += [(rec, n) for n in made]
            if now != prior:
                facts.append((rec.source_key, now))
        written: set[str] = set()
        if notes and tl.note_regarding_nav:
            written = self._send(notes)
        else:
            self.counts["audit_notes_skipped"] += len(notes)
        # Facts are remembered for every landed case; a note that failed is retried by the next change only, and
        # the ledger says which were written.
        events = [(n.source_key, n.kind, n.text) for _, n in notes if n.note_id in written]
        self.state.save_case_audit(facts, events, self.run_id)

    def _send(self, notes: list[tuple[PlannedRecord, AuditNote]]) -> set[str]:
        """One CreateMultiple for the run's notes (deterministic ids: a note already there counts as written)."""
        tl = self.m.timeline
        bodies = [
            {
                "annotationid": n.note_id,
                "subject": n.subject,
                "notetext": n.text,
                f"{tl.note_regarding_nav}@odata.bind": odata.bind(self.m.entity_set, rec.dataverse_id or ""),
            }
            for rec, n in notes
        ]
        try:
            logical = self.client.metadata.logical_name_for_set(tl.note_entity_set)
            bulk = self.client.create_multiple(tl.note_entity_set, logical, bodies)
        except FATAL:
            raise
        except Exception as exc:  # the notes are an audit aid: a failed write never fails the run's cases
            self.counts["audit_notes_failed"] += len(notes)
            log.warning("audit notes not written", extra={"run_id": self.run_id, "error": type(exc).__name__})
            return set()
        failed = {f.index: f for f in bulk.failed}
        existing = set(bulk.preexisting)
        written: set[str] = set()
        for i, (_rec, n) in enumerate(notes):
            failure = failed.get(i)
            if failure is not None:
                self.counts["audit_notes_failed"] += 1
                log.warning(
                    "audit note not written",
                    extra={"run_id": self.run_id, "reference": n.reference, "code": failure.code},
                )
                continue
            self.counts["audit_notes_existing" if i in existing else "audit_notes"] += 1
            written.add(n.note_id)
        return written


def routing_from_frame(frame: pd.DataFrame | None) -> dict[str, Routing]:
    """{reference: Routing} from an intake frame (pandas) with route_method/route_rule/route_confidence columns."""
    if frame is None or len(frame) == 0 or "route_method" not in frame:
        return {}
    out: dict[str, Routing] = {}
    for ref, method, rule, conf in zip(
        frame["reference"], frame["route_method"], frame["route_rule"], frame["route_confidence"], strict=True
    ):
        c = float(conf) if conf is not None and conf == conf else None
        out[str(ref)] = Routing(str(method), rule if isinstance(rule, str) else None, c)
    return out


def grades_from(grades: Mapping[str, Grade]) -> dict[str, tuple[str, int, list[str]]]:
    """{reference: (grade, score, reasons)} from intake's grades (connector.intake.grade.Grade objects)."""
    out: dict[str, tuple[str, int, list[str]]] = {}
    for ref, g in grades.items():
        out[str(ref)] = (str(g.grade), int(g.score), [str(r) for r in g.reasons])
    return out


def event_rows(events: Iterable[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(at, run_id, kind, text) rows of the local ledger, for printing."""
    return [(str(e["at"]), str(e.get("run_id") or ""), str(e["kind"]), str(e["text"])) for e in events]
