"""CLI commands (placeholder until this area lands)."""

from __future__ import annotations

import click


@click.command(name="pull")
def pull() -> None:
    """Bring case status back from the CRM into the reporting store."""
    raise click.ClickException("foi-sync pull is not implemented yet")


@click.command(name="report")
def report() -> None:
    """Write compliance reports (xlsx, html, csv)."""
    raise click.ClickException("foi-sync report is not implemented yet")
