"""The ``foi-sync`` command line. Commands live one module per area and load only when used."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from connector.errors import FoiSyncError

#: name -> (module, attribute, one-line help). The help is here so ``--help`` needs no imports.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("connector.cli.demo_cmd", "demo", "Run the whole job once on the local sandbox with sample data."),
    "sandbox": ("connector.cli.sandbox_cmd", "sandbox", "Run the local Dataverse sandbox (Web API on loopback)."),
    "deadline": ("connector.cli.deadline_cmd", "deadline", "Compute a statutory due date and explain the count."),
    "intake": ("connector.cli.intake_cmd", "intake", "Read, validate and classify requests from a source."),
    "mapping": ("connector.cli.mapping_cmd", "mapping", "Check target mapping files against the tenant."),
    "sync": ("connector.cli.sync_cmd", "sync", "The scheduled job: intake, push, letters, pull and report."),
    "migrate": ("connector.cli.sync_cmd", "migrate", "Load a historical register into the CRM, resumably."),
    "dead-letters": ("connector.cli.sync_cmd", "dead_letters", "List, retry or discard records that failed."),
    "doctor": ("connector.cli.sync_cmd", "doctor", "Check config, network, token, permissions and mappings."),
    "runs": ("connector.cli.audit_cmd", "runs", "List recent runs and what each did (the local run ledger)."),
    "audit": ("connector.cli.audit_cmd", "audit", "Print a case's whole history: CRM notes plus the run ledger."),
    "letters": ("connector.cli.letters_cmd", "letters", "Preview the letters foi-sync sends."),
    "pull": ("connector.cli.report_cmd", "pull", "Bring case status back from the CRM into the reporting store."),
    "report": ("connector.cli.report_cmd", "report", "Write compliance reports (xlsx, html, csv)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module_name), attr)  # the lazy table names a module attribute
        if not isinstance(command, click.Command):
            raise TypeError(f"COMMANDS[{cmd_name!r}] names {module_name}.{attr}, which is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, _, help_) in COMMANDS.items()])


class AppContext:
    """What every command receives: the config path, loaded on first use."""

    def __init__(self, config_path: Path | None, log_format: str | None, verbose: bool) -> None:
        self.config_path = config_path
        self.log_format = log_format
        self.verbose = verbose
        self._settings: Any = None

    @property
    def settings(self) -> Any:
        if self._settings is None:
            from connector.config import load_settings
            from connector.logs import configure_logging

            self._settings = load_settings(self.config_path)
            configure_logging(
                self.log_format or self._settings.logging.format,
                "DEBUG" if self.verbose else self._settings.logging.level,
            )
        return self._settings


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="TOML config file (default ./foi-sync.toml, else the shipped config.example.toml).",
)
@click.option("--log-format", type=click.Choice(["json", "text"]), default=None, help="Log line format.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.version_option(package_name="foi-sync")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, log_format: str | None, verbose: bool) -> None:
    """foi-sync: run council FOI casework in Dynamics 365, with the CRM as the system of record."""
    ctx.obj = AppContext(config_path, log_format, verbose)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: turn foi-sync errors into one message and a documented exit code."""
    try:
        result = cli.main(args=argv, prog_name="foi-sync", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except FoiSyncError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    # Without standalone mode click returns the code of a ``ctx.exit(n)`` / ``raise Exit(n)`` instead of exiting.
    sys.exit(result if isinstance(result, int) else 0)
