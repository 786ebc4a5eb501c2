"""CLI commands (placeholder until this area lands)."""

from __future__ import annotations

import click


@click.group(name="mapping")
def mapping() -> None:
    """Check target mapping files against the tenant."""
