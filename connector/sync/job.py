"""The orchestrator: the scheduled job and one-off migrations call the stages in order; no stage calls another.

``run_sync``: check the mapping against the tenant, pull, intake, plan, push (requesters, cases, stage notes, audit
notes, reminders), letters, pull, learn and report, in one go, under a lock, with a run ledger entry and one JSON log
line per step (run id, counts, duration; never requester data). ``run_migrate``: load a historical register the same
way, then reconcile the counts per stage (and outcome) in the source with what the CRM holds. ``retry_dead_letters``:
re-read failed records from their source and run a sync or migration over just those.

The stages live in their own modules (``check``, ``plan``, ``push``, ``audit``, ``case_letters``, ``history``,
``migration``, ``officers``, ``learning``, ``dead_letters``, and ``connector.intake`` / ``connector.reporting``);
this module owns only what joins them: the run lock, the run ledger, step timing and the :class:`RunReport`.
Progress reaches the caller through ``on_progress`` (:class:`ProgressEvent`); drawing it is the CLI's business.

Exit codes (``RunReport.exit_code``; the CLI adds 2, 3 and 4):
0 everything landed; 1 the run finished but some records are dead letters, a step failed, or a migration does not
reconcile; 2 configuration or mapping error; 3 another run holds the lock; 4 the CRM is unreachable or refused us.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from connector.config import Settings
from connector.dataverse.errors import DataverseError
from connector.errors import CrmUnavailable, FoiSyncError, exit_code_for
from connector.intake.history import CrmHistory
from connector.model import FoiCase
from connector.sync.check import Kind, metadata_shaped, require_valid_cached
from connector.sync.lock import RunLock, lock_for
from connector.sync.mapping import TargetMapping, load_target_mapping
from connector.sync.plan import Plan, PlannedRecord, Planner
from connector.sync.push import FATAL, NameResolver, Pusher, already_in_crm
from connector.sync.state import StateStore

if TYPE_CHECKING:  # intake is imported inside the functions that run it (startup cost of `foi-sync --help`)
    import pandas as pd

    from connector.dataverse.client import DataverseClient
    from connector.deadlines import DeadlineEngine
    from connector.intake.grade import Grade
    from connector.intake.pipeline import IntakeResult, PendingIntake
    from connector.learn.routing_model import RoutingModelJson
    from connector.learn.time_model import TimeModel

log = logging.getLogger(__name__)

#: State meta key: the bulk chunk size each message and table reached, so the next run (a daily sync after a
#: migration) sends 1,000 records a request from the start instead of slow-starting from ``bulk_chunk_size``.
CHUNK_SIZES_META = "bulk-chunk-sizes"


__all__ = ["ProgressEvent", "RunReport", "london_today", "retry_dead_letters", "run_migrate", "run_sync"]


@dataclass(frozen=True)
class ProgressEvent:
    """How far a long step has got: ``done`` of ``total`` records (the push of a migration, say)."""

    step: str
    done: int
    total: int


#: What a caller passes to hear about progress (the CLI draws a bar from it; the library draws nothing).
OnProgress = Callable[[ProgressEvent], None]


class RunReport(BaseModel):
    """What a run did: counts, durations and problems; no requester data (safe to print, log and store)."""

    run_id: str
    kind: str
    dry_run: bool = False
    started_at: str
    finished_at: str | None = None
    seconds: float = 0.0
    counts: dict[str, int] = Field(default_factory=dict)
    steps: dict[str, float] = Field(default_factory=dict)
    plan: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    #: The same failures as codes and counts (safe for the log: no requester data), e.g. {"letters.render": 2}.
    error_codes: dict[str, int] = Field(default_factory=dict)
    reconciliation: dict[str, Any] | None = None
    resumed_after: list[str] = Field(default_factory=list)
    requests: int = 0
    write_requests: int = 0

    @property
    def exit_code(self) -> int:
        if self.errors or self.counts.get("dead_letters", 0):
            return 1
        if self.reconciliation is not None and not self.reconciliation.get("match", False):
            return 1
        return 0

    def add_error(self, code: str, text: str, count: int = 1) -> None:
        self.errors.append(text)
        self.error_codes[code] = self.error_codes.get(code, 0) + count

    def as_dict(self) -> dict[str, Any]:
        return {**self.model_dump(mode="json"), "exit_code": self.exit_code}


def _error_code(exc: BaseException) -> str:
    """The log's code for the error that stopped a run: the CRM's own failure, not the wrapper that carries it."""
    cause = exc.__cause__ if isinstance(exc, CrmUnavailable) and exc.__cause__ is not None else exc
    return type(cause).__name__


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def london_today() -> date:
    """Today where the council is: the date deadlines and reminders count from."""
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Europe/London")).date()


class _Run:
    """Shared plumbing: settings, mapping, state, client, step timing and the report."""

    def __init__(self, settings: Settings, kind: str, dry_run: bool, client: DataverseClient | None) -> None:
        self.settings = settings
        self.kind = kind
        self.dry_run = dry_run
        self.mapping: TargetMapping = load_target_mapping(settings.sync.target_mapping)
        state_path = settings.sync.state_path
        self.state = StateStore(state_path if (state_path.exists() or not dry_run) else ":memory:")
        self.own_client = client is None
        self.client = client
        self.report = RunReport(run_id="dry-run", kind=kind, dry_run=dry_run, started_at=_now())
        self._t0 = time.monotonic()
        self._stats0: dict[str, Any] = {}
        #: Mapping keys whose "regarding" navigation the tenant lacks: those activities are skipped, not failed.
        self.unlinkable: set[str] = set()
        #: What intake decided, by reference, for the audit notes (connector/sync/audit.py).
        self.intake_frame: pd.DataFrame | None = None
        self.grades: dict[str, Grade] = {}
        #: Cross-reference history of the CRM's earlier requests (connector/sync/history.py), opened by run_sync.
        self.history: CrmHistory | None = None
        #: The last pull read the case table to the end (the history, officers' stages and overrides are current).
        self.pulled = False
        #: Key-safe references the CRM holds (casefolded), from the pull's mirror: related-case links may point there.
        self.crm_keys: set[str] = set()
        #: The write count at the last pull: a later pull is needed only when something was written since.
        self.writes_at_pull = -1
        #: The environment the cached mapping check and lookups belong to.
        self.environment = str(settings.dataverse.url or "").rstrip("/").casefold()

    def distrust_metadata(self, why: str) -> None:
        """A write failed the way a stale mapping would explain: the next run checks the mapping live again."""
        if self.dry_run:
            return
        with contextlib.suppress(Exception):
            self.state.invalidate_checks(self.environment)
        log.warning("cached mapping check dropped", extra={"run_id": self.report.run_id, "reason": why})

    @property
    def crm(self) -> DataverseClient:
        """The client, once :meth:`open_client` has run (every step that talks to the CRM runs after it)."""
        if self.client is None:
            raise RuntimeError("the run's CRM client is used before open_client()")
        return self.client

    def open_client(self) -> DataverseClient:
        if self.client is None:
            from connector.dataverse import DataverseClient

            self.client = DataverseClient.from_settings(self.settings.dataverse)
        self._stats0 = self.client.stats.snapshot()
        learned = self.state.meta(CHUNK_SIZES_META)
        if learned:
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                self.client.start_chunk_sizes(json.loads(learned))
        return self.client

    @contextlib.contextmanager
    def step(self, name: str, fatal: bool = True) -> Iterator[Counter[str]]:
        counts: Counter[str] = Counter()
        started = time.monotonic()
        try:
            yield counts
        except FATAL as exc:
            raise CrmUnavailable(f"{name}: {exc}", fix=exc.fix) from exc
        except DataverseError as exc:
            if metadata_shaped(exc.code, exc.message, exc):
                self.distrust_metadata(f"{name}: {exc.code or exc.status}")
            if fatal:  # e.g. still throttled or failing (5xx) after the whole retry budget
                raise CrmUnavailable(f"{name}: the CRM kept failing ({exc})", fix=exc.fix) from exc
            self.report.add_error(f"{name}.{exc.code or type(exc).__name__}", f"{name}: {exc}")
            log.error("step failed", extra={"run_id": self.report.run_id, "step": name, "code": exc.code})
        except Exception as exc:
            if fatal or isinstance(exc, FoiSyncError):
                raise
            self.report.add_error(f"{name}.{type(exc).__name__}", f"{name}: {type(exc).__name__}: {str(exc)[:300]}")
            log.error("step failed", extra={"run_id": self.report.run_id, "step": name, "error": type(exc).__name__})
        finally:
            seconds = round(time.monotonic() - started, 3)
            self.report.steps[name] = seconds
            for k, v in counts.items():
                self.report.counts[k] = self.report.counts.get(k, 0) + int(v)
            log.info(
                "step finished",
                extra={
                    "run_id": self.report.run_id,
                    "kind": self.kind,
                    "step": name,
                    "duration_ms": int(seconds * 1000),
                    "counts": dict(counts),
                },
            )

    def finish(self, status: str, exit_code: int | None = None) -> RunReport:
        """Close the ledger entry and log the ``run finished`` line with the exit code the process will end with
        (``exit_code`` when the run ends in an exception the CLI turns into 2, 3 or 4)."""
        r = self.report
        code = r.exit_code if exit_code is None else exit_code
        r.finished_at = _now()
        r.seconds = round(time.monotonic() - self._t0, 3)
        if self.client is not None:
            after = self.client.stats.snapshot()
            before = self._stats0.get("requests", {})
            delta = {m: n - before.get(m, 0) for m, n in after.get("requests", {}).items()}
            r.requests = sum(delta.values())
            r.write_requests = sum(n for m, n in delta.items() if m.upper() != "GET")
        if not self.dry_run and r.run_id != "dry-run":
            self.state.finish_run(r.run_id, status, {**r.counts, "write_requests": r.write_requests})
            learned = self.client.chunk_sizes() if self.client is not None else {}
            if learned:
                self.state.set_meta(CHUNK_SIZES_META, json.dumps(learned, sort_keys=True))
            for dl_code, n in self.state.dead_letter_codes(r.run_id).items():
                r.error_codes.setdefault(f"dead_letter.{dl_code}", n)
        log.log(
            logging.INFO if code == 0 else logging.ERROR,
            "run finished",
            extra={
                "run_id": r.run_id,
                "kind": self.kind,
                "status": status,
                "exit_code": code,
                "errors": [{"code": k, "count": v} for k, v in sorted(r.error_codes.items())],
                "duration_ms": int(r.seconds * 1000),
                "counts": r.counts,
                "requests": r.requests,
                "write_requests": r.write_requests,
            },
        )
        return r

    def fail(self, exc: BaseException, status: str) -> None:
        """The run ends in an exception: record it in the report and the ledger; the caller re-raises it."""
        self.report.add_error(_error_code(exc), f"{type(exc).__name__}: {str(exc)[:300]}")
        with contextlib.suppress(Exception):
            self.finish(status, exit_code=int(exit_code_for(exc)))

    def writes(self) -> int:
        """Write requests this client has sent so far (a later pull is needed only when this grew)."""
        if self.client is None:
            return 0
        return sum(n for m, n in self.client.stats.snapshot().get("requests", {}).items() if m.upper() != "GET")

    def close(self) -> None:
        if self.own_client and self.client is not None:
            self.client.close()
        if self.history is not None:
            self.history.close()
        self.state.close()

    def start_ledger(self, detail: dict[str, Any]) -> None:
        if self.dry_run:
            return
        run_id, stale = self.state.start_run(self.kind, detail)
        self.report.run_id = run_id
        self.report.resumed_after = [s["run_id"] for s in stale]
        if stale:
            log.warning(
                "resuming after an interrupted run",
                extra={"run_id": run_id, "interrupted": [s["run_id"] for s in stale]},
            )

    def record_plan(self, plan: Plan) -> None:
        counts = plan.counts()
        self.report.plan = {"counts": counts, "examples": plan.examples()}
        for action, n in counts["cases"].items():
            self.report.counts[f"planned_{action}"] = n

    def preview_existing(self, plan: Plan) -> None:
        """Dry run: say how many planned creates the CRM already holds (linked and updated, not duplicated)."""
        linked = already_in_crm(self.crm, self.mapping, plan.by_action("create"))
        if linked is None:
            return
        self.report.plan["already_in_crm"] = {"count": len(linked), "examples": linked[:3]}
        self.report.counts["planned_already_in_crm"] = len(linked)


# ---------------------------------------------------------------------------------------------- the steps


def _check(run: _Run, client: DataverseClient) -> None:
    """The mapping against the tenant's live metadata (or the state's cached answer)."""
    with run.step("check") as c:
        problems, cached = require_valid_cached(
            client,
            run.mapping,
            run.state,
            run.environment,
            run.settings.sync.metadata_check_hours,
            remember=not run.dry_run,
        )
        c["mapping_check_cached"] = int(cached)
        c["mapping_warnings"] = len(problems)
        run.report.warnings += [str(p) for p in problems]
        run.unlinkable = {p.key for p in problems if p.kind == Kind.REGARDING}
        if any(p.kind == Kind.BPF for p in problems):
            run.unlinkable.add("bpf")  # the tenant lacks the flow (or its stages): moves are skipped


#: The intake frame's columns the run keeps after intake: what audit.routing_from_frame reads.
_ROUTING_COLUMNS = ("reference", "route_method", "route_rule", "route_confidence")


def _intake(run: _Run, read: Callable[[], IntakeResult], cases: list[FoiCase] | None) -> list[FoiCase]:
    """Intake (unless the caller gave the cases): read, record rejects and sources that could not be read."""
    with run.step("intake") as c:
        if cases is None:
            result = read()
            cases = result.cases
            _intake_result(run, result, c)
        c["source_cases"] = len(cases)
    return cases


def _intake_result(run: _Run, result: IntakeResult, c: Counter[str]) -> None:
    """Keep what later steps read of intake's result; write its rejects; count them into step ``c``."""
    settings = run.settings
    # The audit notes read only the routing columns (audit.routing_from_frame); the rest of the frame (a copy of
    # every case's text) is let go with the result.
    frame = result.frame
    run.intake_frame = frame[[c for c in _ROUTING_COLUMNS if c in frame]]
    run.grades = result.grades
    c["source_rejects"] = len(result.rejects)
    c["sources_failed"] = len(result.failed_sources)
    for name in result.failed_sources:  # the run goes on with the other sources, and exits 1
        run.report.add_error("source_unreadable", f"source '{name}' could not be read: see the rejects file")
    if result.rejects and not run.dry_run:
        out = settings.intake.rejects_dir / f"rejects-{run.report.run_id}.csv"
        result.write_rejects(out)
        from connector.intake.rejects import prune_rejects

        prune_rejects(out.parent, settings.intake.rejects_keep)
        run.report.warnings.append(f"{len(result.rejects)} source row(s) rejected: see {out}")


def _planner(
    run: _Run,
    client: DataverseClient,
    cases: list[FoiCase],
    engine: DeadlineEngine | None,
    today: date,
    origin: dict[str, Any],
) -> _Planning:
    """The plan's two passes, ready to run (connector/sync/plan.py Planner)."""
    hours = run.settings.sync.metadata_check_hours
    resolver = NameResolver(client, run.state, run.environment, hours, remember=not run.dry_run)
    planner = Planner(
        cases,
        run.mapping,
        run.state,
        engine=engine,
        today=today,
        origin=origin,
        grades=run.grades,
        resolve=resolver,
        crm_keys=run.crm_keys,
    )
    return _Planning(planner, resolver)


@dataclass
class _Planning:
    """A plan being made: the planner, its name lookups, and the requesters of its first pass once run."""

    planner: Planner
    resolver: NameResolver
    requesters: list[PlannedRecord] | None = None
    #: The push's progress, whose total is known once the cases are planned.
    progress: _Progress | None = None
    #: Intake still to finish (a migration's routing, cross-reference, grading and triage), while requesters write.
    intake: PendingIntake | None = None

    def finish_intake(self, run: _Run, c: Counter[str]) -> None:
        """Finish intake, if it is pending, and give the planner its grades."""
        if self.intake is None:
            return
        result, self.intake = self.intake.finish(), None
        _intake_result(run, result, c)
        self.planner.grades = result.grades


def _plan(run: _Run, planning: _Planning) -> Plan:
    """The whole plan as one step (the scheduled job, a dry run)."""
    with run.step("plan") as c:
        plan = _planned(run, planning, c)
    return plan


def _planned(run: _Run, planning: _Planning, c: dict[str, Any]) -> Plan:
    """The plan from its planner (with the requesters already written, if any); counted into step ``c``."""
    plan = planning.planner.plan(planning.requesters)
    run.record_plan(plan)
    resolver = planning.resolver
    c["unresolved_lookups"] = resolver.unresolved
    c["lookups_live"] = resolver.live
    for line in resolver.summary(run.mapping.source_path or run.settings.sync.target_mapping):
        log.warning(line, extra={"run_id": run.report.run_id, "code": "lookup_unresolved"})
        run.report.warnings.append(line)
    return plan


def deadline_engine(settings: Settings) -> DeadlineEngine:
    """The deadline engine the plan and the reminders count with (calendars and overrides from the settings)."""
    from connector.deadlines import DeadlineEngine

    return DeadlineEngine.from_settings(settings)


def _slice(settings: Settings) -> int:
    """Records per state checkpoint: a few bulk chunks, so a killed run repeats little."""
    return max(10, min(1000, 2 * settings.dataverse.bulk_chunk_size))


def _push(run: _Run, plan: Plan | _Planning, pusher: Pusher, today: date) -> Plan:
    """Rejects to dead letters, then requesters, cases, stage notes and flow moves; then the audit notes.

    Given a plan still being made (a migration), the requesters of its first pass are written while its cases are
    planned, so the server is busy during the plan's longest part; -> the plan."""
    with run.step("push") as c:
        planning = plan if isinstance(plan, _Planning) else None
        if isinstance(plan, Plan):
            for rec in plan.by_action("reject"):
                pusher.dead(rec, rec.error_code, rec.error)
        with pusher.start_requesters(plan.contacts if isinstance(plan, Plan) else plan.requesters or []) as stream:
            if planning is not None:
                started = time.monotonic()
                planning.finish_intake(run, c)
                c["intake_finished_while_writing_ms"] = int(1000 * (time.monotonic() - started))
                started = time.monotonic()
                plan = _planned(run, planning, c)
                c["planned_while_writing_ms"] = int(1000 * (time.monotonic() - started))
                for rec in plan.by_action("reject"):
                    pusher.dead(rec, rec.error_code, rec.error)
                if planning.progress is not None:
                    planning.progress.expect(_todo(plan))
            assert isinstance(plan, Plan)
            moved = pusher.push_cases(plan, stream)
        if "timeline.note_regarding_nav" in run.unlinkable:
            c["notes_skipped"] = len(moved)
        else:
            pusher.stage_notes(moved, today)
        if "bpf" not in run.unlinkable:
            pusher.move_bpfs(moved)
        c.update(pusher.counts)
        pusher.counts.clear()
    _audit(run, plan, today)
    if pusher.metadata_suspect:
        run.distrust_metadata("push")
    return plan


def _todo(plan: Plan) -> int:
    """Records the push will write (its progress total)."""
    return sum(1 for r in plan.cases + plan.contacts if r.action in ("create", "update"))


class _Progress:
    """The push's record counter (called from its worker threads) as ``ProgressEvent``s for the caller, in order
    (one at a time: the caller's callback needs no lock of its own)."""

    def __init__(self, on_progress: OnProgress, step: str, total: int) -> None:
        self.on_progress, self.step, self.total = on_progress, step, total
        self.lock = threading.Lock()
        self.done = 0
        on_progress(ProgressEvent(step, 0, total))

    def __call__(self, n: int) -> None:
        with self.lock:
            self.done += n
            self.on_progress(ProgressEvent(self.step, self.done, self.total))

    def expect(self, total: int) -> None:
        """The total, once known (a migration's cases are planned while its requesters are written)."""
        with self.lock:
            self.total = total
            self.on_progress(ProgressEvent(self.step, self.done, total))


def _progress(on_progress: OnProgress | None, step: str, total: int) -> _Progress | None:
    return None if on_progress is None or total == 0 else _Progress(on_progress, step, total)


def _run_lock(settings: Settings, dry_run: bool, held: RunLock | None) -> contextlib.AbstractContextManager[object]:
    """The run lock to take: none for a dry run or when the caller already holds this state file's lock."""
    if held is not None:
        if not held.held or held.path != lock_for(settings.sync.state_path).path:
            raise ValueError(f"held_lock must be the held run lock of {settings.sync.state_path}")
        return contextlib.nullcontext()
    return lock_for(settings.sync.state_path) if not dry_run else contextlib.nullcontext()


def _audit(run: _Run, plan: Plan, today: date) -> None:
    """Audit notes for what landed (connector/sync/audit.py); a failure here never fails the run's cases."""
    tl = run.mapping.timeline
    if not tl.audit_notes or (run.kind == "migrate" and not tl.audit_on_migrate):
        return
    if "timeline.note_regarding_nav" in run.unlinkable:
        return
    from connector.sync.audit import AuditWriter, grades_from, routing_from_frame

    with run.step("audit", fatal=False) as c:
        writer = AuditWriter(run.crm, run.mapping, run.state, run.report.run_id)
        writer.write(plan, today, routing_from_frame(run.intake_frame), grades_from(run.grades))
        c.update(writer.counts)


def _models(run: _Run) -> tuple[RoutingModelJson | None, TimeModel | None]:
    """The learned routing and time-to-respond models that beat their baselines (connector/sync/learning.py)."""
    from connector.sync.learning import usable_models

    router, timer, warnings = usable_models(run.settings)
    run.report.warnings += warnings
    run.report.counts["routing_model_used"] = int(router is not None)
    run.report.counts["time_model_used"] = int(timer is not None)
    return router, timer


def _assign_officers(run: _Run, cases: list[FoiCase], today: date) -> None:
    """Officers for new cases (connector/sync/officers.py), when ``sync.assign_officers`` and the mapping has a field."""
    from connector.sync.officers import assign_new_cases

    done, warnings = assign_new_cases(run.settings, run.mapping, run.state, cases, today)
    run.report.warnings += warnings
    if done is None:
        return
    run.report.counts["officers_assigned"] = len(done)
    for a in done:
        log.info(
            "officer assigned",
            extra={"run_id": run.report.run_id, "reference": a.reference, "team": a.team, "open_before": a.open_before},
        )


def _retrain(run: _Run, c: Counter[str]) -> None:
    """Retrain both models from the CRM's history when ``learn.retrain_days`` have passed since the last training."""
    from connector.sync.learning import retrain_due, train_and_save

    if not retrain_due(run.settings):
        return
    models = train_and_save(run.crm, run.settings, run.mapping, ("time_to_respond", "routing"))
    c["models_trained"] = len(models)
    c["models_usable"] = sum(1 for m in models.values() if m.meta.usable)


def _pull(run: _Run, *, only_after_writes: bool = False) -> None:
    """Pull the CRM's cases and letters into the local mirror and the cross-reference history (one read feeds
    both). Before intake always (the CRM's history and officers' stages); later only if the run wrote since."""
    if run.dry_run:
        return
    if only_after_writes and run.writes() == run.writes_at_pull:
        return
    from connector.sync.history import open_history, pull_with_history

    with run.step("pull", fatal=False) as c:
        if run.history is None:
            run.history = open_history(run.settings)
        pulled, contacts = pull_with_history(run.crm, run.settings, run.mapping, run.history)
        run.writes_at_pull = run.writes()
        run.pulled = pulled.ok
        c["pulled"] += int(pulled.upserted)
        c["pulled_deleted"] += int(pulled.deleted)
        c["pulled_letters"] += int(pulled.activities)
        c["history_contacts_read"] += contacts
        if pulled.activities_deleted:
            # An officer deleted a letter's email (how to ask for a fresh copy): forget what the state
            # knows, so the next run asks the CRM again and re-creates it.
            c["letters_rearmed"] += run.state.forget_letters()
    if run.history is not None and not run.crm_keys:
        run.crm_keys = run.history.reference_keys()


def _letters(run: _Run, plan: Plan) -> None:
    """The letters stage (connector/sync/case_letters.py), its failures counted but never fatal to the run."""
    from connector.sync.case_letters import push_case_letters

    with run.step("letters", fatal=False) as c:
        outcome = push_case_letters(run.crm, run.settings, run.mapping, run.state, plan)
        c.update(outcome.counts)
        if outcome.metadata_suspect:
            run.distrust_metadata("letters")
        if outcome.failed:
            for code, n in outcome.failed_codes.items():
                run.report.error_codes[code] = run.report.error_codes.get(code, 0) + n
            run.report.errors.append(f"letters: {outcome.failed} letter(s) failed (see the log for references)")


# ---------------------------------------------------------------------------------------------- sync


def run_sync(
    settings: Settings,
    *,
    dry_run: bool = False,
    client: DataverseClient | None = None,
    today: date | None = None,
    cases: list[FoiCase] | None = None,
    held_lock: RunLock | None = None,
    on_progress: OnProgress | None = None,
) -> RunReport:
    """The scheduled job. ``cases`` replaces intake and ``held_lock`` is the caller's run lock (both used by
    dead-letter retries, which hold the lock across all their runs)."""
    run = _Run(settings, "sync", dry_run, client)
    lock = _run_lock(settings, dry_run, held_lock)
    status = "failed"
    try:
        with lock:
            run.start_ledger({"mapping": str(run.mapping.source_path)})
            today = today or london_today()
            engine = deadline_engine(settings)
            client = run.open_client()
            # The scheduled job shares the tenant's request budget with other integrations all day: its bulk calls
            # are small, so it spends the fewest requests on them rather than the fewest seconds.
            client.fewest_requests = True
            crm = client

            def read() -> IntakeResult:
                from connector.intake import run_intake
                from connector.sync.triage_overrides import as_overrides, read_triage_overrides

                router, timer = _models(run)
                # Officers' triage overrides in the CRM win over the rules (docs/triage.md). The pull's read brought
                # them into the history; without a pull this run (dry run, pull failed) they are read here.
                pulled = run.history is not None and run.pulled
                result = run_intake(
                    settings,
                    overrides=as_overrides(run.history.overrides())
                    if pulled and run.history is not None
                    else read_triage_overrides(crm, run.mapping),
                    crm_history=run.history,
                    model=router,
                    time_model=timer,
                )
                _assign_officers(run, result.cases, today)
                return result

            _check(run, client)
            _pull(run)  # the CRM's history and officers' stages, before intake reads the sources
            cases = _intake(run, read, cases)
            planning = _planner(run, client, cases, engine, today, {"kind": "sync"})
            plan = _plan(run, planning)
            if dry_run:
                run.preview_existing(plan)
                status = "dry-run"
                return run.finish(status)
            pusher = Pusher(
                client,
                run.mapping,
                run.state,
                run.report.run_id,
                progress=_progress(on_progress, "push", _todo(plan)),
                slice_size=_slice(settings),
            )
            _push(run, plan, pusher, today)
            with run.step("reminders", fatal=False) as c:
                if "reminders.regarding_nav" not in run.unlinkable:
                    pusher.reminders(plan, engine, today, planning.resolver)
                c.update(pusher.counts)
                pusher.counts.clear()
                if pusher.metadata_suspect:
                    run.distrust_metadata("reminders")
            _pull(run, only_after_writes=True)  # letters are decided from what the CRM holds now
            if "regarding_nav_email" in run.unlinkable:
                with run.step("letters", fatal=False):
                    run.report.warnings.append("letters skipped: the tenant cannot link emails to this table")
            else:
                _letters(run, plan)
            _pull(run, only_after_writes=True)  # the reports count this run's letters too
            with run.step("learn", fatal=False) as c:
                _retrain(run, c)
            with run.step("report", fatal=False) as c:
                from connector.reporting import write_reports

                c["report_files"] = len(write_reports(settings))
            status = "ok" if run.report.exit_code == 0 else "finished-with-failures"
            return run.finish(status)
    except BaseException as exc:
        run.fail(exc, status)
        raise
    finally:
        run.close()


# ---------------------------------------------------------------------------------------------- migrate


def run_migrate(
    settings: Settings,
    source_path: Path | str,
    source_mapping: Path | str | None,
    *,
    dry_run: bool = False,
    bypass_plugins: bool = False,
    client: DataverseClient | None = None,
    on_progress: OnProgress | None = None,
    today: date | None = None,
    cases: list[FoiCase] | None = None,
    held_lock: RunLock | None = None,
    acknowledge: bool = False,
    progress: bool = False,
) -> RunReport:
    """Load a historical register resumably: rerun after an interruption and only what is missing is sent.

    A historical import writes to no one: its cases' acknowledgements are waived in the state, so no later sync
    sends them either. ``acknowledge`` (``--acknowledge``) opts in: the letters step runs for the migrated cases
    (a late one states that it is late, never a due date in the past). ``on_progress`` hears how far the push has
    got. ``progress`` is ignored (the library draws nothing): it stays only because the reliability drills
    (scripts/drill_faults.py, scripts/drill_bad_inputs.py, tests/drills/test_drill_checker.py) still pass
    ``progress=False``; remove it with those arguments."""
    from connector.sync.migration import begin_migration_source, reconcile

    del progress
    source_path = Path(source_path)
    mapping_path = Path(source_mapping) if source_mapping else None
    run = _Run(settings, "migrate", dry_run, client)
    lock = _run_lock(settings, dry_run, held_lock)
    status = "failed"
    origin = {
        "kind": "migrate",
        "source": str(source_path.resolve()),
        "source_mapping": str(mapping_path.resolve()) if mapping_path else None,
    }
    try:
        with lock:
            run.start_ledger(origin)
            today = today or london_today()
            engine = deadline_engine(settings)
            client = run.open_client()
            _check(run, client)
            pending: PendingIntake | None = None
            if cases is None:
                with run.step("intake") as c:
                    # Up to the cases: their routing, cross-reference, grades and triage are finished by the push
                    # step while the requesters are written (_push).
                    pending = begin_migration_source(settings, source_path, mapping_path)
                    cases = pending.cases
                    c["source_cases"] = len(cases)
            planning = _planner(run, client, cases, engine, today, origin)
            planning.intake = pending
            if dry_run:
                with run.step("intake_finish") as c:
                    planning.finish_intake(run, c)
                run.preview_existing(_plan(run, planning))
                status = "dry-run"
                return run.finish(status)
            with run.step("plan") as c:
                # The first pass only: its requesters are written while the push step plans the cases.
                planning.requesters = planning.planner.requesters()
                c["requesters"] = len(planning.requesters)
            # The progress total until the cases are planned: every case and requester may be written.
            todo = len(cases) + sum(1 for r in planning.requesters if r.action in ("create", "update"))
            planning.progress = _progress(on_progress, "push", todo)
            pusher = Pusher(
                client,
                run.mapping,
                run.state,
                run.report.run_id,
                bypass_plugins=bypass_plugins,
                progress=planning.progress,
                slice_size=_slice(settings),
            )
            plan = _push(run, planning, pusher, today)
            tl = run.mapping.timeline
            if not (tl.audit_notes and tl.audit_on_migrate):  # no audit notes (_audit): nothing reads these again
                run.intake_frame, run.grades = None, {}
            if acknowledge:
                _letters(run, plan)
            else:
                run.state.waive_letters(
                    (rec.source_key, "acknowledgement", f"migrate {run.report.run_id}")
                    for rec in plan.cases
                    if rec.action != "reject"
                )
            with run.step("reconcile") as c:
                rec = reconcile(client, run.mapping, cases)
                run.report.reconciliation = rec
                c["reconcile_missing"] = rec["missing"]
            status = "ok" if run.report.exit_code == 0 else "finished-with-failures"
            return run.finish(status)
    except BaseException as exc:
        run.fail(exc, status)
        raise
    finally:
        run.close()


# ---------------------------------------------------------------------------------------------- dead letters


def retry_dead_letters(
    settings: Settings,
    ids: list[int] | None = None,
    *,
    client: DataverseClient | None = None,
    today: date | None = None,
) -> dict[str, int]:
    """Re-read each dead letter's record from its source, map it with the current mapping, and push it again.

    The whole retry holds the run lock, like a sync: a retry and a scheduled run never interleave, and a retry
    while another run holds the lock is refused with LockError (exit code 3) whether or not letters are open.
    """
    from connector.sync.dead_letters import cases_to_retry, group_dead_letters
    from connector.sync.migration import read_migration_source

    with lock_for(settings.sync.state_path) as lock:
        mapping = load_target_mapping(settings.sync.target_mapping)
        with StateStore(settings.sync.state_path) as state:
            letters = state.dead_letters("open", ids)
        if not letters:
            return {"retried": 0, "resolved": 0, "still_failing": 0, "not_in_source": 0}
        summary: Counter[str] = Counter()
        for group in group_dead_letters(letters):
            if group.from_register:
                assert group.source is not None
                source = read_migration_source(settings, group.source, group.source_mapping).cases
            else:
                from connector.intake import run_intake

                source = run_intake(settings).cases
            cases, not_in_source = cases_to_retry(mapping, group, source)
            summary["not_in_source"] += not_in_source
            summary["retried"] += len(group.letters)
            if not cases:
                continue
            if group.kind == "migrate":
                report = run_migrate(
                    settings,
                    group.source or Path("."),
                    group.source_mapping,
                    client=client,
                    cases=cases,
                    today=today,
                    held_lock=lock,
                )
            else:
                report = run_sync(settings, client=client, cases=cases, today=today, held_lock=lock)
            summary["write_requests"] += report.write_requests
        with StateStore(settings.sync.state_path) as state:
            still = {d.id for d in state.dead_letters("open")}
        summary["still_failing"] = sum(1 for dl in letters if dl.id in still)
        summary["resolved"] = len(letters) - summary["still_failing"]
        return dict(summary)
