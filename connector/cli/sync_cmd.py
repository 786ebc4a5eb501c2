"""CLI commands (placeholder until this area lands)."""

from __future__ import annotations

import click


@click.command(name="sync")
def sync() -> None:
    """The scheduled job: intake, push, letters, pull and report."""
    raise click.ClickException("foi-sync sync is not implemented yet")


@click.command(name="migrate")
def migrate() -> None:
    """Load a historical register into the CRM, resumably."""
    raise click.ClickException("foi-sync migrate is not implemented yet")


@click.group(name="dead-letters")
def dead_letters() -> None:
    """List, retry or discard records that failed."""


@click.command(name="doctor")
@click.pass_obj
def doctor(app: object) -> None:
    """Check config, network, token, permissions and mappings."""
    _ = app.settings  # type: ignore[attr-defined]  # loading validates the configuration
    raise click.ClickException("foi-sync doctor is not implemented yet")
