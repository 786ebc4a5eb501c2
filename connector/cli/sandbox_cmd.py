"""CLI commands (placeholder until this area lands)."""

from __future__ import annotations

import click


@click.group(name="sandbox")
def sandbox() -> None:
    """Run the local Dataverse sandbox (Web API on loopback)."""
