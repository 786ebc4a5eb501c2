"""The doctor's checks as the library returns them: typed results (ok, failed, not checked and why), no printing.

The CLI's wording and colours are tested through the command (tests/sync/test_cli.py, tests/test_failures.py).
"""

from __future__ import annotations

import socket
from typing import Any

from connector.errors import CrmUnavailable, ExitCode, MappingError
from connector.sync.doctor import Check, CheckStatus, exit_code, run_checks, run_doctor

NAMES = [
    "config",
    "mapping file",
    "sources",
    "state",
    "network",
    "token",
    "permissions (WhoAmI)",
    "read access",
    "mapping",
]


def test_a_provisioned_tenant_passes_every_check(sync_settings: Any, provisioned: Any) -> None:
    results = run_doctor(lambda: sync_settings)
    assert [r.name for r in results] == NAMES
    assert {r.name: r.status for r in results} == dict.fromkeys(NAMES, CheckStatus.OK)
    assert all(r.error is None and r.code == ExitCode.OK for r in results)
    assert exit_code(results) == 0


def test_a_tenant_without_the_foi_columns_fails_the_mapping_check_with_exit_2(sync_settings: Any) -> None:
    """The sandbox starts without the FOI columns (`foi-sync mapping provision` adds them)."""
    results = {r.name: r for r in run_doctor(lambda: sync_settings)}
    assert results["permissions (WhoAmI)"].status == CheckStatus.OK
    mapping = results["mapping"]
    assert mapping.status == CheckStatus.FAILED and isinstance(mapping.error, MappingError)
    assert mapping.code == ExitCode.CONFIG and exit_code(list(results.values())) == 2


def test_an_unreachable_crm_fails_the_network_and_skips_what_needs_it(sync_settings: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    sync_settings.dataverse.url = f"http://127.0.0.1:{dead_port}"
    results = {r.name: r for r in run_doctor(lambda: sync_settings)}
    for name in ("config", "mapping file", "sources", "state"):
        assert results[name].status == CheckStatus.OK, results[name]
    network = results["network"]
    assert network.status == CheckStatus.FAILED and isinstance(network.error, CrmUnavailable)
    assert network.code == ExitCode.CRM_UNAVAILABLE
    # Directly (token) or through a check that was not run either (WhoAmI, then read access): never "ok".
    for name in ("token", "permissions (WhoAmI)", "read access", "mapping"):
        assert results[name].status == CheckStatus.NOT_CHECKED, results[name]
        assert results[name].blocked_by == ("network",)
        assert results[name].detail == "not checked because 'network' failed"
    assert exit_code(list(results.values())) == 4


def test_a_config_that_cannot_be_read_fails_first_and_nothing_else_runs() -> None:
    def unreadable() -> Any:
        raise OSError(2, "No such file or directory", "no-such.toml")

    results = run_doctor(unreadable)
    assert results[0].name == "config" and results[0].status == CheckStatus.FAILED
    assert all(r.status == CheckStatus.NOT_CHECKED for r in results[1:])
    assert exit_code(results) == 2


def test_a_check_waiting_on_two_failures_names_both() -> None:
    def fails() -> str:
        raise ValueError("broken on purpose")

    results = run_checks(
        [
            Check("a", (), ExitCode.CONFIG, fails),
            Check("b", (), ExitCode.CRM_UNAVAILABLE, fails),
            Check("c", ("a", "b"), ExitCode.CONFIG, lambda: "never run"),
            Check("d", ("c",), ExitCode.CONFIG, lambda: "never run"),
        ]
    )
    c, d = results[2], results[3]
    assert c.detail == "not checked because 'a' failed and 'b' failed" and c.blocked_by == ("a", "b")
    assert d.blocked_by == ("a", "b") and d.status == CheckStatus.NOT_CHECKED
    assert exit_code(results) == 2  # the first failing check's code
