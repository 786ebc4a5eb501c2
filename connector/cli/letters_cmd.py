"""CLI commands (placeholder until this area lands)."""

from __future__ import annotations

import click


@click.group(name="letters")
def letters() -> None:
    """Preview the letters foi-sync sends."""
