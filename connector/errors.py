"""Exceptions a person can act on, and the one exit-code table every command uses.

Messages name the file, key or field and the fix; never requester data. The CLI entry point
(``connector.cli.main``) is the only place an exception becomes an exit code: it asks :func:`exit_code_for`.
The README's "Exit codes" table is this table.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


class ExitCode(IntEnum):
    """Process exit codes of every ``foi-sync`` command."""

    OK = 0
    FINISHED_WITH_FAILURES = 1
    CONFIG = 2
    LOCKED = 3
    CRM_UNAVAILABLE = 4
    INTERNAL = 5
    INTERRUPTED = 130


class ExitMeaning(NamedTuple):
    meaning: str
    action: str


#: What each code means and what the operator does about it (rendered in the README, "Exit codes").
EXIT_CODES: dict[ExitCode, ExitMeaning] = {
    ExitCode.OK: ExitMeaning("the command finished and everything landed", "nothing"),
    ExitCode.FINISHED_WITH_FAILURES: ExitMeaning(
        "the run finished, but some records are dead letters, a step (letters, pull, report) failed, a source "
        "could not be read, or a migration does not reconcile",
        "`foi-sync dead-letters list`; read the `errors` of the log's `run finished` line",
    ),
    ExitCode.CONFIG: ExitMeaning(
        "configuration, mapping, input file or option error (nothing was written)",
        "the message names the file, key or option and the fix; `foi-sync mapping check`",
    ),
    ExitCode.LOCKED: ExitMeaning(
        "another run holds the lock",
        "nothing: the next tick runs (systemd counts it as success); investigate only if it persists",
    ),
    ExitCode.CRM_UNAVAILABLE: ExitMeaning(
        "the CRM or its sign-in authority is unreachable, refused the credentials or permissions, or kept "
        "failing (5xx) after every retry",
        "`foi-sync doctor`; the message says which",
    ),
    ExitCode.INTERNAL: ExitMeaning(
        "foi-sync failed in a way it does not expect (a bug)",
        "rerun with `-v` for the details and report it with the log",
    ),
    ExitCode.INTERRUPTED: ExitMeaning("stopped with Ctrl+C or SIGINT", "run it again; every run resumes"),
}


class FoiSyncError(Exception):
    """Base class for every error foi-sync raises on purpose."""

    exit_code: ExitCode = ExitCode.FINISHED_WITH_FAILURES
    #: What the operator does about it, when the message itself does not already say (ends up after "Fix:").
    fix: str = ""


class ConfigError(FoiSyncError):
    """Bad configuration: the CLI prints the message and exits with code 2."""

    exit_code = ExitCode.CONFIG


class MappingError(FoiSyncError):
    """A mapping file (source or target) is invalid or does not match the tenant."""

    exit_code = ExitCode.CONFIG


class SourceError(FoiSyncError):
    """A source could not be read at all (as opposed to one bad row, which becomes a reject)."""

    exit_code = ExitCode.CONFIG


class LockError(FoiSyncError):
    """Another run holds the lock."""

    exit_code = ExitCode.LOCKED


class CrmUnavailable(FoiSyncError):
    """The CRM or its sign-in authority could not be reached, refused us, or kept failing (exit 4)."""

    exit_code = ExitCode.CRM_UNAVAILABLE

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        if fix:
            self.fix = fix


def exit_code_for(exc: BaseException) -> ExitCode:
    """The one mapping from an exception to a process exit code."""
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(exc, FoiSyncError):
        return exc.exit_code
    if isinstance(exc, OSError):  # a file, folder or port the operator named: fix the path or the option
        return ExitCode.CONFIG
    return ExitCode.INTERNAL
