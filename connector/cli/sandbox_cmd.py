"""``foi-sync sandbox serve``: the local Dataverse Web API, for the demo, tests and migration rehearsals."""

from __future__ import annotations

import errno
from pathlib import Path

import click

from connector.errors import ConfigError


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
    "--second-port",
    default=None,
    type=int,
    help="Port of the other listener (https token authority, or plain http with --tls). Default: --port + 1.",
)
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
@click.option(
    "--execution-ms", default=1_200_000.0, show_default=True, type=float, help="Combined execution time limit (ms)."
)
@click.option(
    "--change-token-expiry",
    default=7 * 24 * 3600.0,
    show_default=True,
    type=float,
    help="Seconds after which a change-tracking delta token has expired (Dataverse default: 7 days).",
)
def serve(
    host: str,
    port: int,
    db_path: Path | None,
    tls: bool,
    second_port: int | None,
    profile: str,
    faults: str | None,
    token_lifetime: float,
    requests_per_window: int,
    window_seconds: float,
    concurrent: int,
    execution_ms: float,
    change_token_expiry: float,
) -> None:
    """Serve the sandbox until interrupted (Ctrl+C); prints the URL, credentials and CA bundle to use."""
    from connector.sandbox.limits import LimitOptions
    from connector.sandbox.server import SandboxOptions, SandboxServer

    if db_path is not None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    # A stable CA (and stable ports) so a trusted bundle and a saved configuration keep working across restarts.
    cert_dir = (db_path.parent / "sandbox-tls") if db_path is not None else Path("var/sandbox")
    other = second_port if second_port is not None else (port + 1 if port else 0)
    try:
        server = SandboxServer(
            SandboxOptions(
                host=host,
                port=port,
                tls_port=other,
                http_port=other,
                cert_dir=cert_dir.resolve(),
                db_path=db_path,
                tls=tls,
                profile=profile,
                faults=faults,
                token_lifetime_seconds=token_lifetime,
                change_token_expiry_seconds=change_token_expiry,
                limits=LimitOptions(
                    requests=requests_per_window,
                    window_seconds=window_seconds,
                    concurrent=concurrent,
                    execution_ms=execution_ms,
                ),
            )
        )
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            why = "is already in use by another program" if exc.errno == errno.EADDRINUSE else "may not be used"
            raise ConfigError(
                f"sandbox: port {port} or {other} on {host} {why}. Fix: choose free ports with --port N "
                "(and --second-port M), or stop the program holding them (`ss -ltnp` shows which); --port 0 picks "
                "free ones"
            ) from None
        raise ConfigError(
            f"sandbox: cannot start ({exc.strerror or exc}). Fix: check --host, --port and --db"
        ) from None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"Dataverse sandbox ({profile} profile) on {server.api_url}")
    click.echo(f"  environment URL : {server.url}")
    click.echo(f"  plain http      : {server.http_url}   https: {server.https_url}")
    click.echo(f"  token authority : {server.authority}   (client id {server.client_id})")
    click.echo(f"  CA bundle       : {server.ca_bundle}")
    click.echo(f"  storage         : {db_path.resolve() if db_path else 'in memory (lost on exit; use --db FILE)'}")
    click.echo("Point foi-sync (or any client) at it:")
    click.echo(f"  export FOI_SYNC_DATAVERSE__URL={server.url}")
    click.echo(f"  export FOI_SYNC_DATAVERSE__CLIENT_ID={server.client_id}")
    click.echo(f"  export FOI_SYNC_DATAVERSE__CLIENT_SECRET={server.client_secret}")
    click.echo(f"  export FOI_SYNC_DATAVERSE__AUTHORITY_HOST={server.https_url}")
    click.echo(f"  export FOI_SYNC_DATAVERSE__CA_BUNDLE={server.ca_bundle}")
    click.echo(f"  export REQUESTS_CA_BUNDLE={server.ca_bundle}")
    ceiling = server.ceiling()
    if ceiling:
        click.echo(
            f"Realistic profile ceiling (records/s, {ceiling['slots']:.0f} server slots, chunks of "
            f"{ceiling['max_chunk']:.0f}): CreateMultiple {ceiling['CreateMultiple']:,.0f}, UpsertMultiple "
            f"{ceiling['UpsertMultiple']:,.0f}, UpdateMultiple {ceiling['UpdateMultiple']:,.0f}, single requests "
            f"{ceiling['single']:,.0f}"
        )
    click.echo("Press Ctrl+C to stop.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
