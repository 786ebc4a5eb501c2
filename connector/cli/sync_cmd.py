"""``foi-sync sync | migrate | dead-letters | doctor``: the scheduled job, migrations, failed records, health check.

Exit codes: the one table in ``connector/errors.py`` (README, "Exit codes"); the CLI entry point applies it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from connector.cli import AppContext

if TYPE_CHECKING:  # the library is imported inside the commands, so `foi-sync --help` stays fast
    from connector.sync.doctor import CheckResult
    from connector.sync.job import ProgressEvent, RunReport


@contextlib.contextmanager
def _progress_bar(app: AppContext, label: str) -> Iterator[Callable[[ProgressEvent], None] | None]:
    """A bar on stderr drawn from the library's progress events: only for a person at a terminal (stderr is a TTY),
    never with ``--log-format json`` (the scheduled job, whose output is its log lines)."""
    if app.json_logs or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(f"{task.speed or 0:,.0f} records/s")

    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def show(event: ProgressEvent) -> None:
        if not tasks:
            bar.start()
        if event.step not in tasks:
            tasks[event.step] = bar.add_task(event.step, total=event.total)
        bar.update(tasks[event.step], completed=event.done, total=event.total)

    try:
        yield show
    finally:
        if tasks:
            bar.stop()


def _print_report(report: RunReport, as_json: bool, json_logs: bool = False) -> None:
    """The run's summary for a person at a terminal. With ``--log-format json`` (the scheduled job) the log lines
    are the output, so nothing is printed unless ``--json`` asks for the report (one JSON document on stdout)."""
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=None if json_logs else 2))
        return
    if json_logs:
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    head = "DRY RUN (nothing written): " if report.dry_run else ""
    console.print(f"[bold]{head}{report.kind} run {report.run_id}[/] in {report.seconds:.1f} s")
    plan = report.plan.get("counts", {})
    if plan:
        t = Table("plan", "create", "update", "skip", "reject", title=None)
        for what in ("cases", "contacts"):
            c = plan.get(what, {})
            t.add_row(what, *(str(c.get(a, 0)) for a in ("create", "update", "skip", "reject")))
        console.print(t)
        for action, refs in report.plan.get("examples", {}).items():
            console.print(f"  {action}: " + escape("; ".join(refs)))
        linked = report.plan.get("already_in_crm") or {}
        if linked.get("count"):
            console.print(
                f"  {linked['count']} of the creates are already in the CRM (made by an interrupted run or by hand): "
                "they will be linked and updated, not duplicated, e.g. " + escape("; ".join(linked["examples"]))
            )
    if not report.dry_run:
        shown = {k: v for k, v in report.counts.items() if v and not k.startswith("planned_")}
        console.print("counts: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
        console.print(f"requests: {report.requests} ({report.write_requests} writes)")
    if report.reconciliation:
        rec = report.reconciliation
        t = Table("stage", "source", "CRM", title="reconciliation")
        for stage, v in rec.get("by_stage", {}).items():
            mark = "" if v["source"] == v["crm"] else " [red]≠[/]"
            t.add_row(stage, str(v["source"]), str(v["crm"]) + mark)
        t.add_row("[bold]total[/]", str(rec["source"]), str(rec["crm"]))
        console.print(t)
        if rec.get("by_outcome"):
            t = Table("outcome", "source", "CRM", title=None)
            for outcome, v in rec["by_outcome"].items():
                mark = "" if v["source"] == v["crm"] else " [red]≠[/]"
                t.add_row(outcome, str(v["source"]), str(v["crm"]) + mark)
            console.print(t)
        verdict = "[green]source and CRM agree[/]" if rec["match"] else f"[red]MISMATCH: {rec['missing']} missing[/]"
        console.print(verdict)
    for w in report.warnings[:10]:
        console.print(f"[yellow]warning[/]: {escape(w)}")
    for e in report.errors:
        console.print(f"[red]error[/]: {escape(e)}")
    if report.counts.get("dead_letters"):
        console.print(
            f"[red]{report.counts['dead_letters']} record(s) went to dead letters[/]: foi-sync dead-letters list"
        )


@click.command(name="sync")
@click.option(
    "--dry-run", is_flag=True, help="Show what would be created, updated, skipped and rejected; write nothing."
)
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
@click.pass_obj
def sync(app: AppContext, dry_run: bool, as_json: bool) -> None:
    """The scheduled job: intake, push, letters, pull and report."""
    from connector.sync.job import run_sync

    settings = app.settings
    with _progress_bar(app, "syncing") as on_progress:
        report = run_sync(settings, dry_run=dry_run, on_progress=on_progress)
    _print_report(report, as_json, app.json_logs)
    sys.exit(report.exit_code)


@click.command(name="migrate")
@click.argument("source", type=click.Path(path_type=Path, exists=True))
@click.option(
    "--source-mapping",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="Source mapping file for the register (see docs: intake).",
)
@click.option("--dry-run", is_flag=True, help="Show the plan; write nothing.")
@click.option(
    "--bypass-plugins",
    is_flag=True,
    default=None,
    help="Skip custom plug-ins and flows while loading (needs prvBypassCustomBusinessLogic).",
)
@click.option(
    "--acknowledge",
    is_flag=True,
    help="Also send acknowledgements to the migrated cases still open (default: a historical import writes to no one).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
@click.pass_obj
def migrate(
    app: AppContext,
    source: Path,
    source_mapping: Path,
    dry_run: bool,
    bypass_plugins: bool | None,
    acknowledge: bool,
    as_json: bool,
) -> None:
    """Load a historical register into the CRM, resumably."""
    from connector.sync.job import run_migrate

    settings = app.settings
    bypass = settings.sync.bypass_plugins if bypass_plugins is None else bypass_plugins
    with _progress_bar(app, "migrating") as on_progress:
        report = run_migrate(
            settings,
            source,
            source_mapping,
            dry_run=dry_run,
            bypass_plugins=bypass,
            on_progress=on_progress,
            acknowledge=acknowledge,
        )
    _print_report(report, as_json, app.json_logs)
    sys.exit(report.exit_code)


@click.group(name="dead-letters")
def dead_letters() -> None:
    """List, retry or discard records that failed."""


@dead_letters.command(name="list")
@click.option("--all", "show_all", is_flag=True, help="Include resolved and discarded ones.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def dl_list(app: AppContext, show_all: bool, as_json: bool) -> None:
    """Failed records: reference, error code and message, attempts (no requester data is stored)."""
    from connector.sync.state import StateStore

    path = app.settings.sync.state_path
    if not path.exists():
        click.echo("no state file yet: nothing has been pushed")
        return
    with StateStore(path) as state:
        letters = state.dead_letters(None if show_all else "open")
    if as_json:
        click.echo(json.dumps([vars(d) for d in letters], indent=2, default=str))
        return
    if not letters:
        click.echo("no open dead letters")
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    t = Table("id", "table", "reference", "code", "attempts", "last failed", "status", "message")
    for d in letters:
        t.add_row(
            str(d.id),
            d.table_name,
            str(d.origin.get("reference") or d.source_key),
            d.error_code,
            str(d.attempts),
            d.last_failed_at,
            d.status,
            escape(d.message[:200]),
        )
    Console(width=200).print(t)


@dead_letters.command(name="retry")
@click.argument("ids", nargs=-1, type=int)
@click.pass_obj
def dl_retry(app: AppContext, ids: tuple[int, ...]) -> None:
    """Re-read the records from their source, map them with the current mapping, push again (all open if no ids)."""
    from connector.sync.job import retry_dead_letters

    result = retry_dead_letters(app.settings, list(ids) or None)
    click.echo(
        f"retried {result.get('retried', 0)}: {result.get('resolved', 0)} resolved, "
        f"{result.get('still_failing', 0)} still failing, {result.get('not_in_source', 0)} no longer in the source"
    )
    sys.exit(1 if result.get("still_failing") else 0)


@dead_letters.command(name="discard")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.pass_obj
def dl_discard(app: AppContext, ids: tuple[int, ...]) -> None:
    """Give up on these records (they stay in the ledger as discarded)."""
    from connector.sync.lock import lock_for
    from connector.sync.state import StateStore

    # It writes the state, so it waits for no one and is refused (exit 3) while a run holds the lock.
    with lock_for(app.settings.sync.state_path), StateStore(app.settings.sync.state_path) as state:
        n = state.discard_dead_letters(ids)
    click.echo(f"discarded {n} dead letter(s)")


# ---------------------------------------------------------------------------------------------- doctor


@click.command(name="doctor")
@click.pass_obj
def doctor(app: AppContext) -> None:
    """Check config, mapping file, sources, state, network, sign-in, permissions and the mapping against the tenant.

    Each check runs only when the ones it needs passed; the exit code is that of the first failing check, in the
    order ``sync`` meets the same problems (so a missing mapping file is 2 here as there).
    """
    from connector.sync.doctor import exit_code, run_doctor

    results = run_doctor(lambda: app.settings)
    _doctor_print(results, app.json_logs)
    sys.exit(exit_code(results))


def _doctor_print(results: list[CheckResult], json_logs: bool) -> None:
    from connector.cli import describe_failure
    from connector.sync.doctor import CheckStatus

    def detail(r: CheckResult) -> str:
        return describe_failure(r.error) if r.error is not None else r.detail

    if json_logs:
        from connector.logs import configure_logging, get_logger

        if not logging.getLogger("connector").handlers:
            configure_logging("json")
        log = get_logger("connector.doctor")
        for r in results:
            level = {CheckStatus.OK: logging.INFO, CheckStatus.NOT_CHECKED: logging.WARNING}.get(
                r.status, logging.ERROR
            )
            log.log(level, f"{r.name}: {detail(r)}", extra={"check": r.name, "result": r.status.value})
        return
    style = {
        CheckStatus.OK: ("ok  ", "green"),
        CheckStatus.FAILED: ("FAIL", "red"),
        CheckStatus.NOT_CHECKED: ("skip", "yellow"),
    }
    for r in results:
        mark, colour = style[r.status]
        click.echo(f"{click.style(mark, fg=colour)} {r.name}: {detail(r)}")
