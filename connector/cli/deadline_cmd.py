"""CLI commands (placeholder until this area lands)."""

from __future__ import annotations

import click


@click.command(name="deadline")
def deadline() -> None:
    """Compute a statutory due date and explain the count."""
    raise click.ClickException("foi-sync deadline is not implemented yet")
