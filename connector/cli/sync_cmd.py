"""``foi-sync sync | migrate | dead-letters | doctor``: the scheduled job, migrations, failed records, health check.

Exit codes: the one table in ``connector/errors.py`` (README, "Exit codes"); the CLI entry point applies it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

import click

from connector.errors import CrmUnavailable, ExitCode

T = TypeVar("T")


def _print_report(report: Any, as_json: bool, json_logs: bool = False) -> None:
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
def sync(app: Any, dry_run: bool, as_json: bool) -> None:
    """The scheduled job: intake, push, letters, pull and report."""
    from connector.sync.engine import run_sync

    settings = app.settings
    report = run_sync(settings, dry_run=dry_run)
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
    app: Any,
    source: Path,
    source_mapping: Path,
    dry_run: bool,
    bypass_plugins: bool | None,
    acknowledge: bool,
    as_json: bool,
) -> None:
    """Load a historical register into the CRM, resumably."""
    from connector.sync.engine import run_migrate

    settings = app.settings
    bypass = settings.sync.bypass_plugins if bypass_plugins is None else bypass_plugins
    report = run_migrate(
        settings,
        source,
        source_mapping,
        dry_run=dry_run,
        bypass_plugins=bypass,
        progress=not (as_json or app.json_logs),
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
def dl_list(app: Any, show_all: bool, as_json: bool) -> None:
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
def dl_retry(app: Any, ids: tuple[int, ...]) -> None:
    """Re-read the records from their source, map them with the current mapping, push again (all open if no ids)."""
    from connector.sync.engine import retry_dead_letters

    result = retry_dead_letters(app.settings, list(ids) or None)
    click.echo(
        f"retried {result.get('retried', 0)}: {result.get('resolved', 0)} resolved, "
        f"{result.get('still_failing', 0)} still failing, {result.get('not_in_source', 0)} no longer in the source"
    )
    sys.exit(1 if result.get("still_failing") else 0)


@dead_letters.command(name="discard")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.pass_obj
def dl_discard(app: Any, ids: tuple[int, ...]) -> None:
    """Give up on these records (they stay in the ledger as discarded)."""
    from connector.sync.lock import lock_for
    from connector.sync.state import StateStore

    # It writes the state, so it waits for no one and is refused (exit 3) while a run holds the lock.
    with lock_for(app.settings.sync.state_path), StateStore(app.settings.sync.state_path) as state:
        n = state.discard_dead_letters(ids)
    click.echo(f"discarded {n} dead letter(s)")


# ---------------------------------------------------------------------------------------------- doctor


class Check(NamedTuple):
    """One doctor line. ``needs`` are the checks that must pass first; ``code`` is the exit code if it fails."""

    name: str
    needs: tuple[str, ...]
    code: ExitCode
    run: Callable[[], str]


class CheckResult(NamedTuple):
    name: str
    status: str  # "ok", "FAIL" or "skip"
    detail: str
    code: ExitCode


def run_checks(checks: list[Check]) -> list[CheckResult]:
    """Run each check whose prerequisites passed; the others say why they were not checked (never "ok")."""
    results: dict[str, CheckResult] = {}
    #: For a check that was not run: the failed checks it waited on, directly or through other skipped ones.
    causes: dict[str, list[str]] = {}
    for check in checks:
        blocked: list[str] = []
        for n in check.needs:
            if results[n].status == "FAIL":
                blocked.append(n)
            elif results[n].status == "skip":
                blocked += causes[n]
        if blocked:
            causes[check.name] = list(dict.fromkeys(blocked))
            why = " and ".join(f"'{n}' failed" for n in causes[check.name])
            results[check.name] = CheckResult(check.name, "skip", f"not checked because {why}", ExitCode.OK)
            continue
        try:
            results[check.name] = CheckResult(check.name, "ok", check.run(), ExitCode.OK)
        except Exception as exc:
            from connector.cli import describe_failure

            results[check.name] = CheckResult(check.name, "FAIL", describe_failure(exc), check.code)
    return list(results.values())


@click.command(name="doctor")
@click.pass_obj
def doctor(app: Any) -> None:
    """Check config, mapping file, sources, state, network, sign-in, permissions and the mapping against the tenant.

    Each check runs only when the ones it needs passed; the exit code is that of the first failing check, in the
    order ``sync`` meets the same problems (so a missing mapping file is 2 here as there).
    """
    from connector.errors import ConfigError, MappingError

    box: dict[str, Any] = {}

    def config() -> str:
        box["settings"] = app.settings
        return f"loaded; CRM {box['settings'].dataverse.url}"

    def settings() -> Any:
        return box["settings"]

    def mapping_file() -> str:
        from connector.sync.mapping import load_target_mapping

        box["mapping"] = load_target_mapping(settings().sync.target_mapping)
        return f"{settings().sync.target_mapping} is valid (table '{box['mapping'].table}')"

    def sources() -> str:
        missing = [
            f"{s.name}: {s.mapping}"
            for s in settings().intake.sources
            if s.mapping is not None and not s.mapping.exists()
        ]
        if missing:
            raise ConfigError(
                "source mapping file(s) missing: " + ", ".join(missing) + ". Fix: correct 'mapping' of the source "
                "in [[intake.sources]] of the config"
            )
        return f"{len(settings().intake.sources)} intake source(s) configured"

    def state() -> str:
        path = settings().sync.state_path
        folder = path.parent
        if not folder.exists():
            parent = next((p for p in folder.parents if p.exists()), None)
            if parent is not None and not os.access(parent, os.W_OK):
                raise ConfigError(f"cannot create {folder}; give the service account write access to {parent}")
            return f"{path} will be created (owner-only) on the first run"
        if not os.access(folder, os.W_OK):
            raise ConfigError(f"cannot write to {folder}; give the service account write access")
        if path.exists() and os.name == "posix":
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                raise ConfigError(f"{path} is readable by others (mode {mode:o}); run chmod 600 {path}")
        return f"{path} ok"

    def network() -> str:
        parts = urlsplit(settings().dataverse.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=10).close()
        except OSError as exc:
            raise CrmUnavailable(
                f"cannot open a connection to the CRM at {parts.hostname}:{port} ({exc.strerror or exc}). Fix: check "
                "dataverse.url, DNS, the firewall and proxy (HTTPS_PROXY)"
            ) from None
        return f"{parts.hostname}:{port} reachable"

    def token() -> str:
        from connector.dataverse import DataverseClient

        client = DataverseClient.from_settings(settings().dataverse)
        box["client"] = client
        client.tokens.token()
        dv = settings().dataverse
        return f"access token acquired for app {dv.client_id} (auth = {dv.auth})"

    def whoami() -> str:
        who = box["client"].whoami()
        return f"WhoAmI: application user {who.get('UserId')}"

    def read_access() -> str:
        m = box["mapping"]
        for es in (m.entity_set, m.contact.entity_set):
            next(iter(box["client"].query(es, select=None, top=1)), None)
        return f"can read {m.entity_set} and {m.contact.entity_set}"

    def mapping() -> str:
        from connector.sync.check import check_mapping

        problems = check_mapping(box["client"], box["mapping"])
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise MappingError("\n      ".join(str(p) for p in errors))
        warn = len(problems) - len(errors)
        return f"{settings().sync.target_mapping} matches the tenant" + (f" ({warn} warning(s))" if warn else "")

    checks = [
        Check("config", (), ExitCode.CONFIG, config),
        Check("mapping file", ("config",), ExitCode.CONFIG, mapping_file),
        Check("sources", ("config",), ExitCode.CONFIG, sources),
        Check("state", ("config",), ExitCode.CONFIG, state),
        Check("network", ("config",), ExitCode.CRM_UNAVAILABLE, network),
        Check("token", ("network",), ExitCode.CRM_UNAVAILABLE, token),
        Check("permissions (WhoAmI)", ("token",), ExitCode.CRM_UNAVAILABLE, whoami),
        Check("read access", ("permissions (WhoAmI)", "mapping file"), ExitCode.CRM_UNAVAILABLE, read_access),
        Check("mapping", ("token", "mapping file"), ExitCode.CONFIG, mapping),
    ]
    try:
        results = run_checks(checks)
    finally:
        if "client" in box:
            box["client"].close()
    _doctor_print(results, app.json_logs)
    failed = [r.code for r in results if r.status == "FAIL"]
    sys.exit(int(failed[0]) if failed else 0)


def _doctor_print(results: list[CheckResult], json_logs: bool) -> None:
    if json_logs:
        from connector.logs import configure_logging, get_logger

        if not logging.getLogger("connector").handlers:
            configure_logging("json")
        log = get_logger("connector.doctor")
        for r in results:
            level = {"ok": logging.INFO, "skip": logging.WARNING}.get(r.status, logging.ERROR)
            log.log(level, f"{r.name}: {r.detail}", extra={"check": r.name, "result": r.status.lower()})
        return
    style = {"ok": ("ok  ", "green"), "FAIL": ("FAIL", "red"), "skip": ("skip", "yellow")}
    for r in results:
        mark, colour = style[r.status]
        click.echo(f"{click.style(mark, fg=colour)} {r.name}: {r.detail}")
