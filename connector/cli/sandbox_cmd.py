"""``foi-sync sandbox serve``: the local Dataverse Web API, for the demo, tests and migration rehearsals."""

from __future__ import annotations

from pathlib import Path

import click


@click.group(name="sandbox")
def sandbox() -> None:
    """Run the local Dataverse sandbox (Web API on loopback)."""


@sandbox.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address (loopback only).")
@click.option("--port", default=8765, show_default=True, type=int, help="Port of the environment URL.")
@click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="SQLite file that survives restarts (default: in memory).",
)
@click.option("--tls", is_flag=True, help="Serve the environment URL over https with a throwaway CA.")
@click.option(
    "--profile",
    type=click.Choice(["fast", "realistic"]),
    default="fast",
    show_default=True,
    help="realistic adds per-request latency and per-record cost, with a stated throughput ceiling.",
)
@click.option("--faults", default=None, help='Fault injection, e.g. "5xx=0.05,drop=0.01,burst=0.002,seed=7".')
@click.option("--token-lifetime", default=3600.0, show_default=True, type=float, help="Access token lifetime (s).")
@click.option("--requests-per-window", default=6000, show_default=True, type=int, help="Service protection limit.")
@click.option("--window-seconds", default=300.0, show_default=True, type=float, help="Sliding window (s).")
@click.option("--concurrent", default=52, show_default=True, type=int, help="Concurrent request limit.")
def serve(
    host: str,
    port: int,
    db_path: Path | None,
    tls: bool,
    profile: str,
    faults: str | None,
    token_lifetime: float,
    requests_per_window: int,
    window_seconds: float,
    concurrent: int,
) -> None:
    """Serve the sandbox until interrupted (Ctrl+C)."""
    from connector.sandbox.limits import LimitOptions
    from connector.sandbox.server import SandboxOptions, SandboxServer

    if db_path is not None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = SandboxServer(
            SandboxOptions(
                host=host,
                port=port,
                db_path=db_path,
                tls=tls,
                profile=profile,
                faults=faults,
                token_lifetime_seconds=token_lifetime,
                limits=LimitOptions(requests=requests_per_window, window_seconds=window_seconds, concurrent=concurrent),
            )
        )
    except (ValueError, OSError) as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"Dataverse sandbox ({profile}) on {server.url}/api/data/v9.2/")
    click.echo(f"  token authority : {server.authority}   (client id {server.client_id})")
    click.echo(f"  CA bundle       : {server.ca_bundle}")
    if tls:
        click.echo(f"  export REQUESTS_CA_BUNDLE={server.ca_bundle}")
    click.echo("  secret          : export FOI_SYNC_DATAVERSE__CLIENT_SECRET=" + server.client_secret)
    if server.ceiling():
        click.echo(f"  ceiling         : {server.ceiling()}")
    click.echo("Press Ctrl+C to stop.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
