"""``foi-sync intake``: read one or all sources, print counts, write the rejects report."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from connector.cli import AppContext
from connector.errors import ConfigError

if TYPE_CHECKING:  # imported inside the commands, so `foi-sync --help` stays fast
    from connector.intake.pipeline import IntakeResult


def _guess_kind(path: str) -> str:
    p = Path(path)
    if "://" in path:
        return "sql"
    if p.is_dir():
        return "eml-folder" if any(p.glob("*.eml")) else "json-folder"
    return "xlsx" if p.suffix.lower() in (".xlsx", ".xlsm") else "csv"


@click.command(name="intake")
@click.argument("source_name", required=False)
@click.option(
    "--path", "path", default=None, help="Read this file, folder or SQLAlchemy URL instead of a configured source."
)
@click.option(
    "--mapping",
    "mapping",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Source mapping TOML for --path (or to override a configured source's).",
)
@click.option(
    "--kind",
    type=click.Choice(["csv", "xlsx", "json-folder", "eml-folder", "sql"]),
    default=None,
    help="Kind of --path (guessed from it when left out).",
)
@click.option("--query", default=None, help="SQL query for --kind sql.")
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Rejects CSV to write (default: intake.rejects_dir/rejects-<source>-<time>.csv).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.option(
    "--show-cases", type=int, default=0, help="Also list the first N cases: reference, regime, due date, route, grade."
)
@click.pass_obj
def intake(
    app: AppContext,
    source_name: str | None,
    path: str | None,
    mapping: Path | None,
    kind: str | None,
    query: str | None,
    rejects_path: Path | None,
    as_json: bool,
    show_cases: int,
) -> None:
    """Read, validate and classify requests from a source.

    With no argument every source in [intake] is read; SOURCE_NAME reads one; --path FILE --mapping FILE reads
    a file (or folder, or SQLAlchemy URL) that is not in the config. Prints counts and writes the rejects report
    (one line per bad row: source, row, field, reason).
    """
    from connector.config import IntakeSource
    from connector.intake import read_source, run_intake

    settings = app.settings
    if path is not None:
        if "://" not in path:
            path = str(Path(path).resolve())  # a path typed at the prompt is relative to where it was typed
        # Validated like a [[intake.sources]] table, so the kind is checked against the same list.
        source = IntakeSource.model_validate(
            {
                "name": source_name or Path(path).stem or "adhoc",
                "kind": kind or _guess_kind(path),
                "path": path,
                "mapping": mapping,
                "query": query,
            }
        )
        result = read_source(source, settings, mapping_path=mapping)
        label = source.name
    elif source_name is not None:
        matches = [s for s in settings.intake.sources if s.name == source_name]
        if not matches:
            names = ", ".join(s.name for s in settings.intake.sources) or "(none configured)"
            raise ConfigError(
                f"intake source '{source_name}' is not in the config; use one of: {names}, or --path FILE"
            )
        result = read_source(matches[0], settings, mapping_path=mapping)
        label = source_name
    else:
        result = run_intake(settings)
        label = "all"

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = rejects_path or settings.resolve(settings.intake.rejects_dir) / f"rejects-{label}-{stamp}.csv"
    written = result.write_rejects(target)
    if rejects_path is None:
        from connector.intake.rejects import prune_rejects

        prune_rejects(written.parent, settings.intake.rejects_keep)
    summary = result.summary()
    summary["rejects_report"] = str(written)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    _print_summary(summary, result, show_cases)


def _print_summary(summary: dict[str, Any], result: IntakeResult, show_cases: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title=f"intake: {', '.join(summary['sources'])}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("rows read", summary["rows_read"]),
        ("blank rows skipped", summary["blank_rows_skipped"]),
        ("valid cases", summary["valid"]),
        ("rejected rows", summary["rejected"]),
        *((f"  regime {k}", v) for k, v in summary["by_regime"].items()),
        *((f"  channel {k}", v) for k, v in summary["by_channel"].items()),
        ("routed by rules/model", summary["classified_by_rules_or_model"]),
        ("with a service area", summary["with_service_area"]),
        ("repeats (s.14(2))", summary["repeats"]),
        ("in round robins", summary["round_robins"]),
        ("aggregation candidates", summary["aggregation_candidates"]),
        ("answered before", summary["answered_before"]),
        *((f"  grade {k}", v) for k, v in summary["by_grade"].items()),
    ]
    for what, count in rows:
        table.add_row(what, str(count))
    console.print(table)
    if show_cases:
        frame = result.frame.head(show_cases)
        cases = Table(title=f"first {len(frame)} cases")
        for col in ("reference", "regime", "due", "service area (method)", "grade", "related"):
            cases.add_column(col)
        for _, r in frame.iterrows():
            due = r.get("extended_due") if r.get("extended_due") == r.get("extended_due") else r.get("due")
            cases.add_row(
                str(r["reference"]),
                str(r["regime"]),
                str(due.date()) if isinstance(due, datetime) else "",
                f"{r['service_area'] or '-'} ({r['route_method']})",
                f"{r['grade']} {r['grade_score']}",
                str(r.get("related") or ""),
            )
        console.print(cases)
    console.print(f"rejects report: {summary['rejects_report']} ({summary['rejected']} lines)")
