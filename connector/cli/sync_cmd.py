"""``foi-sync sync | migrate | dead-letters | doctor``: the scheduled job, migrations, failed records, health check.

Exit codes (documented in the README, "Operating the sync"): 0 ok; 1 finished with dead letters or a failed step
(or a migration that does not reconcile); 2 configuration or mapping error; 3 another run holds the lock; 4 the CRM
is unreachable or refused the credentials or permissions.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click

T = TypeVar("T")


@contextlib.contextmanager
def crm_errors() -> Iterator[None]:
    """Turn 'cannot reach / not allowed' into exit code 4 with one message."""
    from connector.dataverse import errors as dv
    from connector.sync.engine import CrmUnavailable

    try:
        yield
    except (dv.AuthenticationFailed, dv.PermissionDenied, dv.TransportError) as exc:
        raise CrmUnavailable(f"the CRM could not be reached or refused the request: {exc}") from None
    except dv.DataverseError as exc:
        raise CrmUnavailable(f"the CRM answered with an error: {exc}") from None


def _client(settings: Any) -> Any:
    from connector.dataverse import DataverseClient

    with crm_errors():
        return DataverseClient.from_settings(settings.dataverse)


def _print_report(report: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
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
    with crm_errors():
        report = run_sync(settings, dry_run=dry_run)
    _print_report(report, as_json)
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
    with crm_errors():
        report = run_migrate(
            settings,
            source,
            source_mapping,
            dry_run=dry_run,
            bypass_plugins=bypass,
            progress=not as_json,
            acknowledge=acknowledge,
        )
    _print_report(report, as_json)
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

    with crm_errors():
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
    from connector.sync.state import StateStore

    with StateStore(app.settings.sync.state_path) as state:
        n = state.discard_dead_letters(ids)
    click.echo(f"discarded {n} dead letter(s)")


# ---------------------------------------------------------------------------------------------- doctor


def _check(results: list[tuple[str, bool, str, int]], name: str, fn: Callable[[], str], code: int) -> bool:
    try:
        results.append((name, True, fn(), 0))
        return True
    except Exception as exc:
        results.append((name, False, str(exc), code))
        return False


@click.command(name="doctor")
@click.pass_obj
def doctor(app: Any) -> None:
    """Check config, network, token, permissions and mappings."""
    from connector.errors import ConfigError

    results: list[tuple[str, bool, str, int]] = []
    try:
        settings = app.settings
        results.append(("config", True, f"loaded; CRM {settings.dataverse.url}", 0))
    except ConfigError as exc:
        results.append(("config", False, f"{exc}", 2))
        _doctor_print(results)
        sys.exit(2)

    def network() -> str:
        parts = urlsplit(settings.dataverse.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=10).close()
        except OSError as exc:
            raise RuntimeError(
                f"cannot open a connection to {parts.hostname}:{port} ({exc.strerror or exc}); check the URL, DNS, "
                "firewall and proxy (HTTPS_PROXY)"
            ) from None
        return f"{parts.hostname}:{port} reachable"

    client_box: list[Any] = []

    def token() -> str:
        from connector.dataverse import DataverseClient

        client = DataverseClient.from_settings(settings.dataverse)
        client_box.append(client)
        client.tokens.token()
        return f"access token acquired for app {settings.dataverse.client_id} (auth = {settings.dataverse.auth})"

    def whoami() -> str:
        who = client_box[0].whoami()
        return f"WhoAmI: application user {who.get('UserId')}"

    def mapping() -> str:
        from connector.sync.check import check_mapping
        from connector.sync.mapping import load_target_mapping

        m = load_target_mapping(settings.sync.target_mapping)
        problems = check_mapping(client_box[0], m) if client_box else []
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise RuntimeError("\n      ".join(str(p) for p in errors))
        warn = len(problems) - len(errors)
        return f"{settings.sync.target_mapping} matches the tenant" + (f" ({warn} warning(s))" if warn else "")

    def permissions() -> str:
        from connector.sync.mapping import load_target_mapping

        m = load_target_mapping(settings.sync.target_mapping)
        client = client_box[0]
        for es in (m.entity_set, m.contact.entity_set):
            next(iter(client.query(es, select=None, top=1)), None)
        return f"can read {m.entity_set} and {m.contact.entity_set}"

    def sources() -> str:
        missing = [
            f"{s.name}: {s.mapping}"
            for s in settings.intake.sources
            if s.mapping is not None and not s.mapping.exists()
        ]
        if missing:
            raise RuntimeError("source mapping file(s) missing: " + ", ".join(missing))
        return f"{len(settings.intake.sources)} intake source(s) configured"

    def state() -> str:
        path = settings.sync.state_path
        folder = path.parent
        if not folder.exists():
            return f"{path} will be created (owner-only) on the first run"
        if not os.access(folder, os.W_OK):
            raise RuntimeError(f"cannot write to {folder}; give the service account write access")
        if path.exists() and os.name == "posix":
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                raise RuntimeError(f"{path} is readable by others (mode {mode:o}); run chmod 600 {path}")
        return f"{path} ok"

    _check(results, "sources", sources, 2)
    _check(results, "state", state, 2)
    if _check(results, "network", network, 4) and _check(results, "token", token, 4):
        _check(results, "permissions (WhoAmI)", whoami, 4)
        _check(results, "read access", permissions, 4)
    _check(results, "mapping", mapping, 2)
    for c in client_box:
        c.close()
    _doctor_print(results)
    codes = [code for _, ok, _, code in results if not ok]
    sys.exit(max(codes) if codes else 0)


def _doctor_print(results: list[tuple[str, bool, str, int]]) -> None:
    for name, ok, detail, _ in results:
        mark = click.style("ok  ", fg="green") if ok else click.style("FAIL", fg="red")
        click.echo(f"{mark} {name}: {detail}")
