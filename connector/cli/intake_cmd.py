"""CLI commands (placeholder until this area lands)."""

from __future__ import annotations

import click


@click.group(name="intake")
def intake() -> None:
    """Read, validate and classify requests from a source."""
