"""``foi-sync demo``: the whole job once, on the bundled sandbox, so a newcomer sees every stage run."""

from __future__ import annotations

from pathlib import Path

import click

from connector.cli import AppContext


@click.command(name="demo")
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("var/demo"),
    show_default=True,
    help="Folder for the demo's sandbox database, sync state, letters and reports (recreated each run).",
)
@click.option("--keep-running", is_flag=True, help="Leave the sandbox running afterwards so you can explore it.")
@click.pass_obj
def demo(app: AppContext | None, workdir: Path, keep_running: bool) -> None:
    """Run the whole job once on the local sandbox with sample data."""
    from connector.demo import prepare_workdir, run_demo
    from connector.sandbox.server import SandboxOptions, SandboxServer  # allowed here, lazily: see docs/architecture.md

    workdir = prepare_workdir(workdir)
    sandbox = SandboxServer(
        SandboxOptions(port=0, db_path=workdir / "sandbox.sqlite", cert_dir=workdir / "sandbox-tls")
    )
    run_demo(
        sandbox, workdir=workdir, keep_running=keep_running, config_path=app.config_path if app is not None else None
    )
