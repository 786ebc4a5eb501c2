"""CLI commands (placeholder until this area lands)."""

from __future__ import annotations

import click


@click.command(name="demo")
def demo() -> None:
    """Run the whole job once on the local sandbox with sample data."""
    raise click.ClickException("foi-sync demo is not implemented yet")
