"""``foi-sync mapping check | provision``: validate a target mapping against the tenant, or create what it needs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from connector.cli import AppContext


def _mapping_path(app: AppContext, mapping: Path | None) -> Path:
    return mapping if mapping is not None else app.settings.sync.target_mapping


@click.group(name="mapping")
def mapping() -> None:
    """Check target mapping files against the tenant."""


@mapping.command(name="check")
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Target mapping file (default: sync.target_mapping from the config).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@click.pass_obj
def check(app: AppContext, mapping_file: Path | None, as_json: bool) -> None:
    """List every mismatch between the mapping and the tenant's live metadata, each with its fix."""
    from connector.dataverse import DataverseClient
    from connector.sync.check import check_mapping
    from connector.sync.mapping import load_target_mapping

    settings = app.settings
    m = load_target_mapping(_mapping_path(app, mapping_file))
    with DataverseClient.from_settings(settings.dataverse) as client:
        problems = check_mapping(client, m)
    errors = [p for p in problems if p.severity == "error"]
    if as_json:
        click.echo(json.dumps([p.as_dict() for p in problems], indent=2))
    else:
        for p in problems:
            click.echo(str(p))
        click.echo(
            f"{m.source_path}: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)"
            + ("" if errors else f" - table '{m.table}' is ready for sync")
        )
    sys.exit(2 if errors else 0)


@mapping.command(name="provision")
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Target mapping file (default: sync.target_mapping from the config).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be created; create nothing.")
@click.option("--solution", default=None, help="Unique name of the solution to add the new components to.")
@click.pass_obj
def provision(app: AppContext, mapping_file: Path | None, dry_run: bool, solution: str | None) -> None:
    """Create the mapping's custom table, columns, choices, lookups and alternate keys where missing."""
    from connector.dataverse import DataverseClient
    from connector.sync.mapping import load_target_mapping
    from connector.sync.provision import provision_schema

    settings = app.settings
    m = load_target_mapping(_mapping_path(app, mapping_file))
    with DataverseClient.from_settings(settings.dataverse) as client:
        done = provision_schema(client, m, dry_run=dry_run, solution=solution)
    verb = "would create" if dry_run else "created"
    any_ = False
    for kind in ("tables", "columns", "relationships", "keys"):
        for item in done[kind]:
            any_ = True
            click.echo(f"{verb} {kind[:-1]}: {item}")
    for item in done["manual"]:
        click.echo(f"needs a person: {item}")
    if not any_:
        click.echo(f"{m.source_path}: everything the mapping needs is already in the tenant")
    elif not dry_run:
        click.echo("alternate keys are indexed asynchronously: run `foi-sync mapping check` until they are Active")
    sys.exit(2 if done["manual"] else 0)
