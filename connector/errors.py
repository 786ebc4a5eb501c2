"""Exceptions a person can act on. Messages name the file, key or field and the fix; never requester data."""

from __future__ import annotations


class FoiSyncError(Exception):
    """Base class for every error foi-sync raises on purpose."""

    exit_code = 1


class ConfigError(FoiSyncError):
    """Bad configuration: the CLI prints the message and exits with code 2."""

    exit_code = 2


class MappingError(FoiSyncError):
    """A mapping file (source or target) is invalid or does not match the tenant."""

    exit_code = 2


class SourceError(FoiSyncError):
    """A source could not be read at all (as opposed to one bad row, which becomes a reject)."""


class LockError(FoiSyncError):
    """Another run holds the lock."""

    exit_code = 3
