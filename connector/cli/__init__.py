"""The ``foi-sync`` command line. Commands live one module per area and load only when used."""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from connector.errors import ExitCode, FoiSyncError, exit_code_for

if TYPE_CHECKING:  # loaded on first use, so `foi-sync --help` reads no config module
    from connector.config import Settings

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
    "model": ("connector.cli.model_cmd", "model", "Train, evaluate and show the learned time and routing models."),
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

    #: The context of the command being run, so the entry point knows how to word a failure (json or text).
    current: AppContext | None = None

    def __init__(self, config_path: Path | None, log_format: str | None, verbose: bool) -> None:
        self.config_path = config_path
        self.log_format = log_format
        self.verbose = verbose
        self._settings: Settings | None = None
        AppContext.current = self

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from connector.config import load_settings
            from connector.logs import configure_logging

            settings = load_settings(self.config_path)
            self._settings = settings
            configure_logging(
                self.log_format or settings.logging.format,
                "DEBUG" if self.verbose else settings.logging.level,
            )
        return self._settings

    @property
    def json_logs(self) -> bool:
        """``--log-format json``, or ``logging.format = "json"`` in a config that has been read."""
        if self.log_format is not None:
            return self.log_format == "json"
        return self._settings is not None and self._settings.logging.format == "json"


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="TOML config file (default ./foi-sync.toml, else the shipped config.example.toml).",
)
@click.option("--log-format", type=click.Choice(["json", "text"]), default=None, help="Log line format.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging (and the traceback of an unexpected failure).")
@click.version_option(package_name="foi-sync")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, log_format: str | None, verbose: bool) -> None:
    """foi-sync: run council FOI casework in Dynamics 365, with the CRM as the system of record.

    Exit codes (the same for every command; README, "Exit codes"): 0 ok, 1 finished with failures, 2 config,
    mapping, input file or option error, 3 another run holds the lock, 4 CRM or sign-in unreachable or refused,
    5 unexpected failure (a bug).
    """
    ctx.obj = AppContext(config_path, log_format, verbose)


def describe_failure(exc: BaseException) -> str:
    """One message for a person: the cause and the fix, without requester data or a traceback."""
    from connector.logs import redact

    if isinstance(exc, FoiSyncError):
        text = str(exc)
        if exc.fix and "Fix:" not in text and exc.fix not in text:
            text = f"{text.rstrip('. ')}. Fix: {exc.fix}"
        return text
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return (
            f"cannot use{where}: {exc.strerror or exc}. Fix: check the path (and that the service account may "
            "read or write it) in the command line or config"
        )
    return (
        f"foi-sync failed unexpectedly ({type(exc).__name__}: {redact(str(exc))[:300]}). This is a bug: run the "
        "same command with -v for the details and report them"
    )


def _fail(exc: BaseException) -> NoReturn:
    code = exit_code_for(exc)
    message = describe_failure(exc)
    app = AppContext.current
    if app is not None and app.json_logs:
        from connector.logs import configure_logging, get_logger

        if not logging.getLogger("connector").handlers:
            configure_logging("json")
        get_logger("connector.cli").error(
            message, extra={"exit_code": int(code), "error": type(exc).__name__, "status": "failed"}
        )
    else:
        click.echo(f"error: {message}", err=True)
    if app is not None and app.verbose and code == ExitCode.INTERNAL:
        traceback.print_exception(exc)
    sys.exit(int(code))


def main(argv: list[str] | None = None) -> None:
    """Console entry point: the one place an exception becomes a message and an exit code (connector/errors.py)."""
    try:
        result = cli.main(args=argv, prog_name="foi-sync", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("Aborted.", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except Exception as exc:
        _fail(exc)
    # Without standalone mode click returns the code of a ``ctx.exit(n)`` / ``raise Exit(n)`` instead of exiting.
    sys.exit(result if isinstance(result, int) else 0)
