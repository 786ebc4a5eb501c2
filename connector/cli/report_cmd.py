"""``foi-sync pull`` and ``foi-sync report``: mirror the CRM's cases, then write compliance reports."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import click

from connector.cli import AppContext
from connector.errors import ConfigError
from connector.logs import get_logger

log = get_logger(__name__)


@click.command(name="pull")
@click.option("--full", is_flag=True, help="Forget the saved change token and resynchronise the whole table.")
@click.pass_obj
def pull(app: AppContext, full: bool) -> None:
    """Bring case status back from the CRM into the reporting store."""
    from connector.dataverse import DataverseClient
    from connector.reporting import ReportingStore, pull_cases
    from connector.sync.lock import lock_for
    from connector.sync.mapping import load_target_mapping

    settings = app.settings
    mapping = load_target_mapping(settings.sync.target_mapping)
    client = DataverseClient.from_settings(settings.dataverse)
    # The scheduled job pulls into the same store: one writer at a time, the sync's run lock (exit 3 while held).
    try:
        with lock_for(settings.sync.state_path), ReportingStore(settings.report.store_path) as store:
            if full:
                store.save_delta_link(mapping.entity_set, None)
                store.clear()
            with _spinner(app) as shown:
                result = pull_cases(client, settings, mapping, store, on_progress=shown)
            total = store.count()
    finally:
        client.close()
    click.echo(f"{result.summary()}; {total} cases in {settings.report.store_path}")
    for crm_id, reason in result.rejected[:20]:
        if app.json_logs:  # stderr holds JSON lines only
            log.warning("not mirrored", extra={"entity_set": mapping.entity_set, "crm_id": crm_id, "reason": reason})
        else:
            click.echo(f"  not mirrored: {mapping.entity_set}({crm_id}): {reason}", err=True)
    if result.rejected:
        raise SystemExit(1)


@contextlib.contextmanager
def _spinner(app: AppContext) -> Iterator[Callable[[str, int], None] | None]:
    """Changes counted on stderr while the pull reads them: only at a terminal, never with JSON logs."""
    if app.json_logs or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} changes"),
        TimeElapsedColumn(),
        transient=True,
        console=Console(stderr=True),
    )
    tasks: dict[str, TaskID] = {}

    def show(entity_set: str, changes: int) -> None:
        if not tasks:
            bar.start()
        if entity_set not in tasks:
            tasks[entity_set] = bar.add_task(f"pull {entity_set}", total=None)
        bar.update(tasks[entity_set], completed=changes)

    try:
        yield show
    finally:
        if tasks:
            bar.stop()


def _formats(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [f.strip().lower() for f in value.split(",") if f.strip()]


def _as_at(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--as-at '{value}' is not a date; write it as YYYY-MM-DD") from None


@click.command(name="report")
@click.option("--period", default=None, help="2025-Q1 (calendar quarter), 2025-03 (month) or 2025 (year).")
@click.option("--from", "date_from", default=None, help="First date received (YYYY-MM-DD), instead of --period.")
@click.option("--to", "date_to", default=None, help="Last date received (YYYY-MM-DD), instead of --period.")
@click.option("--format", "formats", default=None, help="Comma list of xlsx,html,csv (default: report.formats).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Output folder (default: report.out_dir).",
)
@click.option("--as-at", "as_at", default=None, help="Date for the open caseload and overdue lists (default today).")
@click.pass_obj
def report(
    app: AppContext,
    period: str | None,
    date_from: str | None,
    date_to: str | None,
    formats: str | None,
    out_dir: Path | None,
    as_at: str | None,
) -> None:
    """Write compliance reports (xlsx, html, csv)."""
    from rich.console import Console
    from rich.table import Table

    from connector.reporting import FORMATS, build_report, write_tables
    from connector.reporting import categories as C

    settings = app.settings
    chosen = _formats(formats) or list(settings.report.formats)
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise ConfigError(f"--format: unknown {', '.join(unknown)}; use any of {', '.join(FORMATS)}")
    tables, per, count = build_report(settings, period, date_from=date_from, date_to=date_to, today=_as_at(as_at))
    out = out_dir if out_dir is not None else Path(settings.report.out_dir)
    paths = write_tables(tables, chosen, out, per.slug, settings.council.name)

    s = dict(zip(tables["summary"]["Measure"], tables["summary"]["Value"], strict=True))
    head = Table(title=f"FOI compliance, requests received {s['Period (by date received)']} ({count} cases in store)")
    head.add_column("Measure")
    head.add_column("Value", justify="right")
    for key in (
        C.TOTAL + " (all regimes, including SAR)",
        C.TOTAL + " (FOI and EIR)",
        C.MET,
        C.EXTENDED,
        C.LATE,
        C.PCT_IN_TIME,
        C.ICO_FLAG,
        "Median working days to respond (FOI and EIR)",
        "Open cases (as at)",
        "Due soon (as at)",
        "Overdue (as at)",
    ):
        value = s.get(key)
        head.add_row(key, "n/a" if isinstance(value, float) and value != value else str(value))
    console = Console(width=120)
    console.print(head)
    csv_files = [p for p in paths if p.suffix == ".csv"]
    for p in paths:
        if p.suffix != ".csv":
            console.print(f"wrote {p}")
    if csv_files:
        console.print(f"wrote {len(csv_files)} CSV files in {csv_files[0].parent}")
