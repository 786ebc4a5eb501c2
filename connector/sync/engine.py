"""The scheduled job and one-off migrations.

``run_sync``: check the mapping against the tenant, intake, plan, push (requesters, cases, stage notes, reminders),
letters, pull and report, in one go, under a lock, with a run ledger entry and one JSON log line per step (run id,
counts, duration; never requester data). ``run_migrate``: load a historical register the same way with a progress
bar, then reconcile the counts per stage (and outcome) in the source with what the CRM holds.

Exit codes (``RunReport.exit_code``; the CLI adds 2, 3 and 4):
0 everything landed; 1 the run finished but some records are dead letters, a step failed, or a migration does not
reconcile; 2 configuration or mapping error; 3 another run holds the lock; 4 the CRM is unreachable or refused us.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from connector import odata
from connector.config import IntakeSource, Settings
from connector.dataverse.errors import DataverseError
from connector.errors import CrmUnavailable, FoiSyncError, exit_code_for
from connector.intake.history import CrmHistory
from connector.model import FoiCase
from connector.sync.check import Kind, metadata_shaped, require_valid_cached
from connector.sync.lock import RunLock, lock_for
from connector.sync.mapping import FieldMap, TargetMapping, load_target_mapping, requester_ref
from connector.sync.plan import Plan, build_plan
from connector.sync.push import FATAL, NameResolver, Pusher
from connector.sync.state import StateStore

if TYPE_CHECKING:  # intake is imported inside the functions that run it (startup cost of `foi-sync --help`)
    import pandas as pd

    from connector.dataverse.client import DataverseClient
    from connector.intake.grade import Grade
    from connector.intake.pipeline import IntakeResult

log = logging.getLogger(__name__)


__all__ = ["CrmUnavailable", "RunReport", "run_migrate", "run_sync"]


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

    def check_read_and_plan(
        self,
        client: Any,
        read: Callable[[], IntakeResult],
        cases: list[FoiCase] | None,
        engine: Any,
        today: date,
        origin: dict[str, Any],
        before_intake: Callable[[], None] | None = None,
    ) -> tuple[Plan, NameResolver, list[FoiCase]]:
        """The steps every run starts with: mapping check, ``before_intake`` (the sync's pull), intake (unless
        ``cases`` is given) and the plan."""
        settings = self.settings
        hours = settings.sync.metadata_check_hours
        with self.step("check") as c:
            problems, cached = require_valid_cached(
                client, self.mapping, self.state, self.environment, hours, remember=not self.dry_run
            )
            c["mapping_check_cached"] = int(cached)
            c["mapping_warnings"] = len(problems)
            self.report.warnings += [str(p) for p in problems]
            self.unlinkable = {p.key for p in problems if p.kind == Kind.REGARDING}
            if any(p.kind == Kind.BPF for p in problems):
                self.unlinkable.add("bpf")  # the tenant lacks the flow (or its stages): moves are skipped
        if before_intake is not None:
            before_intake()
        grades: dict[str, Any] = {}
        with self.step("intake") as c:
            if cases is None:
                result = read()
                cases = result.cases
                grades = result.grades
                self.intake_frame, self.grades = result.frame, grades
                c["source_rejects"] = len(result.rejects)
                c["sources_failed"] = len(result.failed_sources)
                for name in result.failed_sources:  # the run goes on with the other sources, and exits 1
                    self.report.add_error(
                        "source_unreadable", f"source '{name}' could not be read: see the rejects file"
                    )
                if result.rejects and not self.dry_run:
                    out = settings.intake.rejects_dir / f"rejects-{self.report.run_id}.csv"
                    result.write_rejects(out)
                    from connector.intake.rejects import prune_rejects

                    prune_rejects(out.parent, settings.intake.rejects_keep)
                    self.report.warnings.append(f"{len(result.rejects)} source row(s) rejected: see {out}")
            c["source_cases"] = len(cases)
        resolver = NameResolver(client, self.state, self.environment, hours, remember=not self.dry_run)
        with self.step("plan") as c:
            plan = build_plan(
                cases,
                self.mapping,
                self.state,
                engine=engine,
                today=today,
                origin=origin,
                grades=grades,
                resolve=resolver,
                crm_keys=self.crm_keys,
            )
            self.record_plan(plan)
            c["unresolved_lookups"] = resolver.unresolved
            c["lookups_live"] = resolver.live
            for line in resolver.summary(self.mapping.source_path or settings.sync.target_mapping):
                log.warning(line, extra={"run_id": self.report.run_id, "code": "lookup_unresolved"})
                self.report.warnings.append(line)
        return plan, resolver, cases

    def dead_letter_rejects(self, plan: Plan, pusher: Pusher) -> None:
        for rec in plan.by_action("reject"):
            pusher.dead(rec, rec.error_code, rec.error)


def _preview_existing(run: _Run, plan: Plan) -> None:
    """Dry run: say how many planned creates the CRM already holds (they will be linked and updated, not duplicated)."""
    m = run.mapping
    creates = plan.by_action("create")
    if not creates or len(m.alternate_key) != 1:
        return
    col = m.alternate_key[0]
    values = [str(r.payload[col]) for r in creates]
    found: set[str] = set()
    for batch in odata.any_of_batches(col, values):
        for row in run.crm.query(m.entity_set, select=[col], filter=batch):
            found.add(str(row.get(col)).casefold())
    linked = [r.reference for r in creates if str(r.payload[col]).casefold() in found]
    run.report.plan["already_in_crm"] = {"count": len(linked), "examples": linked[:3]}
    run.report.counts["planned_already_in_crm"] = len(linked)


def _engine(settings: Settings) -> Any:
    try:
        from connector.deadlines import DeadlineEngine

        return DeadlineEngine.from_settings(settings)
    except ImportError:  # pragma: no cover - the deadlines area is part of the product
        log.warning("deadline engine not available: deadline fields are not pushed")
        return None


def _slice(settings: Settings) -> int:
    """Records per state checkpoint: a few bulk chunks, so a killed run repeats little."""
    return max(10, min(1000, 2 * settings.dataverse.bulk_chunk_size))


def _london_today() -> date:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Europe/London")).date()


def _push(run: _Run, plan: Plan, pusher: Pusher, engine: Any, today: date, resolver: NameResolver | None) -> list[Any]:
    with run.step("push") as c:
        run.dead_letter_rejects(plan, pusher)
        pusher.push_contacts(plan)
        moved = pusher.push_cases(plan)
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
    return moved


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


def _models(run: _Run) -> tuple[Any, Any]:
    """The learned routing and time-to-respond models that beat their baselines (connector/sync/learning.py)."""
    from connector.sync.learning import usable_models

    router, timer, warnings = usable_models(run.settings)
    run.report.warnings += warnings
    run.report.counts["routing_model_used"] = int(router is not None)
    run.report.counts["time_model_used"] = int(timer is not None)
    return router, timer


def _assign_officers(run: _Run, cases: list[FoiCase], today: date) -> None:
    """Officers for new cases (connector/sync/officers.py), when ``sync.assign_officers`` and the mapping has a field."""
    settings = run.settings
    if not settings.sync.assign_officers or not cases:
        return
    if "assigned_officer" not in run.mapping.fields:
        run.report.warnings.append(
            "sync.assign_officers is on but the target mapping has no [fields.assigned_officer]: no officer assigned"
        )
        return
    from connector.intake.grade import load_team_calendars
    from connector.reporting import ReportingStore
    from connector.sync.officers import assign_officers, open_workload

    calendars = load_team_calendars(settings.intake.team_calendars)
    if not any(t.officer for t in calendars.team):
        return
    m = run.mapping

    def is_new(case: FoiCase) -> bool:
        try:
            return run.state.get(m.table, m.source_key(case)) is None
        except ValueError:
            return False  # no usable key: the plan rejects it anyway

    with ReportingStore(settings.report.store_path) as store:
        workload = open_workload(store.frame())
    done = assign_officers(cases, calendars, workload, today, is_new)
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


def run_sync(
    settings: Settings,
    *,
    dry_run: bool = False,
    client: DataverseClient | None = None,
    today: date | None = None,
    cases: list[FoiCase] | None = None,
    held_lock: RunLock | None = None,
) -> RunReport:
    """The scheduled job. ``cases`` replaces intake and ``held_lock`` is the caller's run lock (both used by
    dead-letter retries, which hold the lock across all their runs)."""
    run = _Run(settings, "sync", dry_run, client)
    lock = _run_lock(settings, dry_run, held_lock)
    status = "failed"
    try:
        with lock:
            run.start_ledger({"mapping": str(run.mapping.source_path)})
            today = today or _london_today()
            engine = _engine(settings)
            client = run.open_client()

            def read() -> IntakeResult:
                from connector.intake import run_intake
                from connector.sync.triage_overrides import read_triage_overrides

                router, timer = _models(run)
                # Officers' triage overrides in the CRM win over the rules (docs/triage.md).
                result = run_intake(
                    settings,
                    overrides=read_triage_overrides(client, run.mapping),
                    crm_history=run.history,
                    model=router,
                    time_model=timer,
                )
                _assign_officers(run, result.cases, today)
                return result

            plan, resolver, cases = run.check_read_and_plan(
                client, read, cases, engine, today, {"kind": "sync"}, before_intake=lambda: _pull(run)
            )
            if dry_run:
                _preview_existing(run, plan)
                status = "dry-run"
                return run.finish(status)
            pusher = Pusher(client, run.mapping, run.state, run.report.run_id, slice_size=_slice(settings))
            _push(run, plan, pusher, engine, today, resolver)
            with run.step("reminders", fatal=False) as c:
                if "reminders.regarding_nav" not in run.unlinkable:
                    pusher.reminders(plan, engine, today, resolver)
                c.update(pusher.counts)
                pusher.counts.clear()
                if pusher.metadata_suspect:
                    run.distrust_metadata("reminders")
            _pull(run, only_after_writes=True)  # letters are decided from what the CRM holds now
            with run.step("letters", fatal=False) as c:
                if "regarding_nav_email" in run.unlinkable:
                    run.report.warnings.append("letters skipped: the tenant cannot link emails to this table")
                else:
                    _letters(run, plan, pusher, c)
            _pull(run, only_after_writes=True)  # the reports count this run's letters too
            with run.step("learn", fatal=False) as c:
                _retrain(run, c)
            with run.step("report", fatal=False) as c:
                from connector.reporting import write_reports

                c["report_files"] = len(write_reports(settings))
            status = "ok" if run.report.exit_code == 0 else "finished-with-failures"
            return run.finish(status)
    except BaseException as exc:
        run.report.add_error(_error_code(exc), f"{type(exc).__name__}: {str(exc)[:300]}")
        with contextlib.suppress(Exception):
            run.finish(status, exit_code=int(exit_code_for(exc)))
        raise
    finally:
        run.close()


def _letters(run: _Run, plan: Plan, pusher: Pusher, c: Counter[str]) -> None:
    from connector.letters import LetterTarget, LetterType, push_letters
    from connector.reporting import ReportingStore
    from connector.sync.crm_state import crm_view

    m = run.mapping
    known = run.state.records(m.table)
    contacts = run.state.records(m.contact.table)
    with ReportingStore(run.settings.report.store_path) as store:
        mirror = store.rows([st.dataverse_id.lower() for st in known.values()])
    waived = run.state.waived_letters()
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
    result = push_letters(run.crm, run.settings, targets, done=run.state.letters_done)
    if result.done:
        run.state.mark_letters((marker, keys.get(ref, ref)) for ref, marker in result.done)
    c["letters_known"] = result.known
    c["letters_stopped_by_crm"] = result.crm_stopped
    c["letters_created"] = result.created
    c["letters_sent"] = result.sent
    failed = result.failed
    c["letters_failed"] = len(failed)
    if any(metadata_shaped(f.code, f.message) for f in failed):
        run.distrust_metadata("letters")
    if failed:
        for code, n in Counter(f"letters.{f.code or 'failed'}" for f in failed).items():
            run.report.error_codes[code] = run.report.error_codes.get(code, 0) + n
        run.report.errors.append(f"letters: {len(failed)} letter(s) failed (see the log for references)")


# ---------------------------------------------------------------------------------------------- migrate

_KINDS = {".csv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".json": "json-folder"}


def read_migration_source(settings: Settings, source_path: Path, source_mapping: Path | None) -> IntakeResult:
    from connector.intake import read_source

    kind = _KINDS.get(source_path.suffix.lower(), "eml-folder" if source_path.is_dir() else "csv")
    source = IntakeSource(name=source_path.stem, kind=kind, path=str(source_path), mapping=source_mapping)  # type: ignore[arg-type]
    return read_source(source, settings, mapping_path=source_mapping)


def run_migrate(
    settings: Settings,
    source_path: Path | str,
    source_mapping: Path | str | None,
    *,
    dry_run: bool = False,
    bypass_plugins: bool = False,
    client: DataverseClient | None = None,
    progress: bool = True,
    today: date | None = None,
    cases: list[FoiCase] | None = None,
    held_lock: RunLock | None = None,
    acknowledge: bool = False,
) -> RunReport:
    """Load a historical register resumably: rerun after an interruption and only what is missing is sent.

    A historical import writes to no one: its cases' acknowledgements are waived in the state, so no later sync
    sends them either. ``acknowledge`` (``--acknowledge``) opts in: the letters step runs for the migrated cases
    (a late one states that it is late, never a due date in the past)."""
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
            today = today or _london_today()
            engine = _engine(settings)
            client = run.open_client()
            plan, resolver, cases = run.check_read_and_plan(
                client,
                lambda: read_migration_source(settings, source_path, mapping_path),
                cases,
                engine,
                today,
                origin,
            )
            if dry_run:
                _preview_existing(run, plan)
                status = "dry-run"
                return run.finish(status)
            todo = sum(1 for r in plan.cases + plan.contacts if r.action in ("create", "update"))
            with _progress(progress, todo) as advance:
                pusher = Pusher(
                    client,
                    run.mapping,
                    run.state,
                    run.report.run_id,
                    bypass_plugins=bypass_plugins,
                    progress=advance,
                    slice_size=_slice(settings),
                )
                _push(run, plan, pusher, engine, today, resolver)
            if acknowledge:
                with run.step("letters", fatal=False) as c:
                    _letters(run, plan, pusher, c)
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
        run.report.add_error(_error_code(exc), f"{type(exc).__name__}: {str(exc)[:300]}")
        with contextlib.suppress(Exception):
            run.finish(status, exit_code=int(exit_code_for(exc)))
        raise
    finally:
        run.close()


@contextlib.contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[int], None] | None]:
    if not enabled or total == 0:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(f"{task.speed or 0:,.0f} records/s")

    with Progress(
        TextColumn("migrating"),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task("push", total=total)
        yield lambda n: bar.advance(task, n)


#: From this many source cases, reconciliation streams the CRM table instead of asking for the keys in batches.
RECONCILE_SCAN_FROM = 5000


def reconcile(client: DataverseClient, mapping: TargetMapping, cases: list[FoiCase]) -> dict[str, Any]:
    """Counts per stage and per outcome in the source vs the CRM, over the source's own references."""
    key_col = mapping.alternate_key[0]
    stage = mapping.stage_field
    outcome = mapping.fields.get("outcome")
    keys: dict[str, FoiCase] = {}
    for case in cases:
        with contextlib.suppress(ValueError):
            keys[str(mapping.alternate_key_values(case)[key_col]).casefold()] = case
    select = [key_col] + [f.column for f in (stage, outcome) if f is not None]
    crm: dict[str, dict[str, Any]] = {}
    if len(keys) >= RECONCILE_SCAN_FROM:
        # A migration-sized source: one streamed pass over the table (5,000 rows a page) costs far fewer requests
        # than asking for the keys ~300 at a time; rows that are not the source's are skipped as they stream by.
        for row in client.query(mapping.entity_set, select=select, page_size=5000):
            k = str(row.get(key_col)).casefold()
            if k in keys:
                crm[k] = {c: row.get(c) for c in select}
    else:
        values = [str(mapping.alternate_key_values(c)[key_col]) for c in keys.values()]
        batches = list(odata.any_of_batches(key_col, values))
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="dv-reconcile") as pool:
            for rows in pool.map(lambda f: list(client.query(mapping.entity_set, select=select, filter=f)), batches):
                for row in rows:
                    crm[str(row[key_col]).casefold()] = row

    def label(spec: FieldMap, value: Any) -> str:
        reverse = {v: k for k, v in spec.choices.items()}
        return str(reverse.get(value, value)) if value is not None else "(none)"

    out: dict[str, Any] = {"source": len(keys), "crm": len(crm)}
    match = len(crm) == len(keys)
    tallies: tuple[tuple[str, FieldMap | None, Callable[[FoiCase], str]], ...] = (
        ("by_stage", stage, lambda c: c.stage.value),
        ("by_outcome", outcome, lambda c: c.outcome.value if c.outcome else "(none)"),
    )
    for name, spec, getter in tallies:
        if spec is None:
            continue
        src = Counter(getter(c) for c in keys.values())
        dst = Counter(label(spec, row.get(spec.column)) for row in crm.values())
        table = {k: {"source": src.get(k, 0), "crm": dst.get(k, 0)} for k in sorted(set(src) | set(dst))}
        out[name] = table
        match = match and all(v["source"] == v["crm"] for v in table.values())
    missing = [c.reference for k, c in keys.items() if k not in crm]
    out["missing"] = len(missing)
    out["missing_examples"] = missing[:5]
    out["match"] = match
    return out


# ---------------------------------------------------------------------------------------------- dead letters


def retry_dead_letters(
    settings: Settings,
    ids: list[int] | None = None,
    *,
    client: DataverseClient | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Re-read each dead letter's record from its source, map it with the current mapping, and push it again.

    The whole retry holds the run lock, like a sync: a retry and a scheduled run never interleave, and a retry
    while another run holds the lock is refused with LockError (exit code 3) whether or not letters are open.
    """
    with lock_for(settings.sync.state_path) as lock:
        return _retry_dead_letters(settings, ids, client, today, lock)


def _retry_dead_letters(
    settings: Settings, ids: list[int] | None, client: DataverseClient | None, today: date | None, lock: RunLock
) -> dict[str, Any]:
    mapping = load_target_mapping(settings.sync.target_mapping)
    with StateStore(settings.sync.state_path) as state:
        letters = state.dead_letters("open", ids)
    if not letters:
        return {"retried": 0, "resolved": 0, "still_failing": 0, "not_in_source": 0}
    groups: dict[tuple[str, str | None, str | None], list[Any]] = {}
    for dl in letters:
        o = dl.origin
        groups.setdefault((o.get("kind", "sync"), o.get("source"), o.get("source_mapping")), []).append(dl)
    summary: Counter[str] = Counter()
    for (kind, source, source_mapping), dls in groups.items():
        if kind == "migrate" and source:
            cases = read_migration_source(
                settings, Path(source), Path(source_mapping) if source_mapping else None
            ).cases
        else:
            from connector.intake import run_intake

            cases = run_intake(settings).cases
        case_keys = {dl.source_key for dl in dls if dl.table_name == mapping.table}
        refs = {dl.source_key for dl in dls if dl.table_name == mapping.contact.table}
        refs |= {str(dl.origin.get("reference")) for dl in dls}
        chosen = []
        for case in cases:
            try:
                key = mapping.source_key(case)
            except ValueError:
                key = case.reference
            if key in case_keys or case.reference in refs or requester_ref(case) in refs:
                chosen.append(case)
        found = {mapping.source_key(c) for c in chosen if _safe_key(mapping, c)} | {c.reference for c in chosen}
        summary["not_in_source"] += sum(
            1 for dl in dls if dl.table_name == mapping.table and dl.source_key not in found
        )
        summary["retried"] += len(dls)
        if not chosen:
            continue
        if kind == "migrate":
            report = run_migrate(
                settings,
                Path(source or "."),
                Path(source_mapping) if source_mapping else None,
                client=client,
                progress=False,
                cases=chosen,
                today=today,
                held_lock=lock,
            )
        else:
            report = run_sync(settings, client=client, cases=chosen, today=today, held_lock=lock)
        summary["write_requests"] += report.write_requests
    with StateStore(settings.sync.state_path) as state:
        still = {d.id for d in state.dead_letters("open")}
    summary["still_failing"] = sum(1 for dl in letters if dl.id in still)
    summary["resolved"] = len(letters) - summary["still_failing"]
    return dict(summary)


def _safe_key(mapping: TargetMapping, case: FoiCase) -> bool:
    try:
        mapping.source_key(case)
        return True
    except ValueError:
        return False
