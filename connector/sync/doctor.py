"""The health check behind ``foi-sync doctor``: config, mapping file, sources, state, network, sign-in, permissions
and the mapping against the tenant, each as a typed result (ok / failed / not checked because ...).

The checks live here, in the library; how they are shown (coloured lines, or JSON log lines) is the CLI's
(``connector/cli/sync_cmd.py``). Each check runs only when the ones it needs passed, in the order ``sync`` meets the
same problems, and carries the exit code a failure means there (so a missing mapping file is 2 here as there).
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from connector.config import Settings
from connector.errors import ConfigError, CrmUnavailable, ExitCode, MappingError

if TYPE_CHECKING:  # imported when the checks run
    from connector.dataverse import DataverseClient
    from connector.sync.mapping import TargetMapping


class CheckStatus(StrEnum):
    """A check's outcome (the values are what the JSON log line says in ``result``)."""

    OK = "ok"
    FAILED = "fail"
    NOT_CHECKED = "skip"


@dataclass(frozen=True)
class Check:
    """One doctor line. ``needs`` are the checks that must pass first; ``code`` is the exit code if it fails;
    ``run`` returns what it found, or raises."""

    name: str
    needs: tuple[str, ...]
    code: ExitCode
    run: Callable[[], str]


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: CheckStatus
    #: What an ok check found, or why a check was not run; empty for a failure (see ``error``).
    detail: str
    #: The exit code this result calls for (``ExitCode.OK`` unless it failed).
    code: ExitCode
    #: Why it failed (worded for a person by the CLI, which owns the wording of every failure).
    error: BaseException | None = None
    #: For a check not run: the failed checks it waited on, directly or through other checks not run.
    blocked_by: tuple[str, ...] = ()


def run_checks(checks: list[Check]) -> list[CheckResult]:
    """Run each check whose prerequisites passed; the others say why they were not checked (never "ok")."""
    results: dict[str, CheckResult] = {}
    for check in checks:
        blocked: list[str] = []
        for n in check.needs:
            if results[n].status == CheckStatus.FAILED:
                blocked.append(n)
            elif results[n].status == CheckStatus.NOT_CHECKED:
                blocked += results[n].blocked_by
        if blocked:
            causes = tuple(dict.fromkeys(blocked))
            why = " and ".join(f"'{n}' failed" for n in causes)
            results[check.name] = CheckResult(
                check.name, CheckStatus.NOT_CHECKED, f"not checked because {why}", ExitCode.OK, blocked_by=causes
            )
            continue
        try:
            results[check.name] = CheckResult(check.name, CheckStatus.OK, check.run(), ExitCode.OK)
        except Exception as exc:
            results[check.name] = CheckResult(check.name, CheckStatus.FAILED, "", check.code, error=exc)
    return list(results.values())


def exit_code(results: list[CheckResult]) -> int:
    """That of the first failing check, else 0."""
    failed = [r.code for r in results if r.status == CheckStatus.FAILED]
    return int(failed[0]) if failed else 0


def run_doctor(load_settings: Callable[[], Settings]) -> list[CheckResult]:
    """Every check, in order. ``load_settings`` reads the config (the first check: it may raise)."""
    from connector.dataverse import DataverseClient

    box = _Found()

    def config() -> str:
        box.settings = load_settings()
        return f"loaded; CRM {box.settings.dataverse.url}"

    def settings() -> Settings:
        assert box.settings is not None  # every other check needs "config"
        return box.settings

    def mapping_file() -> str:
        from connector.sync.mapping import load_target_mapping

        box.mapping = load_target_mapping(settings().sync.target_mapping)
        return f"{settings().sync.target_mapping} is valid (table '{box.mapping.table}')"

    def mapping() -> TargetMapping:
        assert box.mapping is not None  # checks that read it need "mapping file"
        return box.mapping

    def client() -> DataverseClient:
        assert box.client is not None  # checks that talk to the CRM need "token"
        return box.client

    def sources() -> str:
        missing = [
            f"{s.name}: {s.mapping}"
            for s in settings().intake.sources
            if s.mapping is not None and not s.mapping.exists()
        ]
        if missing:
            raise ConfigError(
                "source mapping file(s) missing: " + ", ".join(missing) + ". Fix: correct 'mapping' of the source "
                "in [[intake.sources]] of the config"
            )
        return f"{len(settings().intake.sources)} intake source(s) configured"

    def state() -> str:
        path = settings().sync.state_path
        folder = path.parent
        if not folder.exists():
            parent = next((p for p in folder.parents if p.exists()), None)
            if parent is not None and not os.access(parent, os.W_OK):
                raise ConfigError(f"cannot create {folder}; give the service account write access to {parent}")
            return f"{path} will be created (owner-only) on the first run"
        if not os.access(folder, os.W_OK):
            raise ConfigError(f"cannot write to {folder}; give the service account write access")
        if path.exists() and os.name == "posix":
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                raise ConfigError(f"{path} is readable by others (mode {mode:o}); run chmod 600 {path}")
        return f"{path} ok"

    def network() -> str:
        parts = urlsplit(settings().dataverse.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=10).close()
        except OSError as exc:
            raise CrmUnavailable(
                f"cannot open a connection to the CRM at {parts.hostname}:{port} ({exc.strerror or exc}). Fix: check "
                "dataverse.url, DNS, the firewall and proxy (HTTPS_PROXY)"
            ) from None
        return f"{parts.hostname}:{port} reachable"

    def token() -> str:
        box.client = DataverseClient.from_settings(settings().dataverse)
        box.client.tokens.token()
        dv = settings().dataverse
        return f"access token acquired for app {dv.client_id} (auth = {dv.auth})"

    def whoami() -> str:
        who = client().whoami()
        return f"WhoAmI: application user {who.get('UserId')}"

    def read_access() -> str:
        m = mapping()
        for es in (m.entity_set, m.contact.entity_set):
            next(iter(client().query(es, select=None, top=1)), None)
        return f"can read {m.entity_set} and {m.contact.entity_set}"

    def mapping_matches() -> str:
        from connector.sync.check import check_mapping

        problems = check_mapping(client(), mapping())
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise MappingError("\n      ".join(str(p) for p in errors))
        warn = len(problems) - len(errors)
        return f"{settings().sync.target_mapping} matches the tenant" + (f" ({warn} warning(s))" if warn else "")

    checks = [
        Check("config", (), ExitCode.CONFIG, config),
        Check("mapping file", ("config",), ExitCode.CONFIG, mapping_file),
        Check("sources", ("config",), ExitCode.CONFIG, sources),
        Check("state", ("config",), ExitCode.CONFIG, state),
        Check("network", ("config",), ExitCode.CRM_UNAVAILABLE, network),
        Check("token", ("network",), ExitCode.CRM_UNAVAILABLE, token),
        Check("permissions (WhoAmI)", ("token",), ExitCode.CRM_UNAVAILABLE, whoami),
        Check("read access", ("permissions (WhoAmI)", "mapping file"), ExitCode.CRM_UNAVAILABLE, read_access),
        Check("mapping", ("token", "mapping file"), ExitCode.CONFIG, mapping_matches),
    ]
    try:
        return run_checks(checks)
    finally:
        if box.client is not None:
            box.client.close()


@dataclass
class _Found:
    """What earlier checks found, for the checks that need them."""

    settings: Settings | None = None
    mapping: TargetMapping | None = None
    client: DataverseClient | None = None
