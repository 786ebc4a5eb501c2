"""The sync commands as operators run them: documented exit codes and readable output."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sync_helpers import INCIDENT_MAPPING
from sync_register import write_register

from connector.cli import cli


def _config(tmp_path: Path, url: str, authority: str, ca: str, extra: str = "") -> Path:
    path = tmp_path / "foi-sync.toml"
    path.write_text(
        f'[dataverse]\nurl = "{url}"\nauthority_host = "{authority}"\nca_bundle = "{ca}"\n{extra}'
        f'[sync]\ntarget_mapping = "{INCIDENT_MAPPING}"\nstate_path = "{tmp_path / "state.sqlite"}"\n'
        f'[intake]\nrejects_dir = "{tmp_path / "rejects"}"\n'
        f'[report]\nstore_path = "{tmp_path / "reporting.sqlite"}"\nout_dir = "{tmp_path / "reports"}"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def config(sandbox: Any, sandbox_settings: Any, tmp_path: Path) -> Path:
    return _config(tmp_path, sandbox.url, sandbox.https_url, str(sandbox.ca_bundle))


def test_mapping_check_provision_migrate_and_dead_letters(config: Path, tmp_path: Path) -> None:
    run = CliRunner().invoke
    res = run(cli, ["--config", str(config), "mapping", "check"])
    assert res.exit_code == 2 and "column 'foi_duedate' does not exist on table 'incident'" in res.output
    assert "Fix: run `foi-sync mapping provision`" in res.output
    res = run(cli, ["--config", str(config), "mapping", "provision", "--dry-run"])
    assert res.exit_code == 0 and "would create column: incident.foi_duedate" in res.output
    res = run(cli, ["--config", str(config), "mapping", "provision"])
    assert res.exit_code == 0 and "created key: incident.foi_incident_reference" in res.output
    res = run(cli, ["--config", str(config), "mapping", "check"])
    assert res.exit_code == 0 and "0 error(s)" in res.output
    register, source_mapping = write_register(tmp_path / "src", 12)
    args = ["--config", str(config), "migrate", str(register), "--source-mapping", str(source_mapping)]
    res = run(cli, [*args, "--dry-run"])
    assert res.exit_code == 0 and "DRY RUN" in res.output and "FOI/2023/00001" in res.output
    res = run(cli, args)
    assert res.exit_code == 0, res.output
    assert "source and CRM agree" in res.output
    res = run(cli, ["--config", str(config), "dead-letters", "list"])
    assert res.exit_code == 0 and "no open dead letters" in res.output
    res = run(cli, ["--config", str(config), "doctor"])
    assert res.exit_code == 0, res.output
    assert "permissions (WhoAmI): WhoAmI: application user" in res.output


def test_unreachable_crm_exits_4(sandbox: Any, sandbox_settings: Any, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    cfg = _config(
        tmp_path,
        f"http://127.0.0.1:{dead_port}",
        sandbox.https_url,
        str(sandbox.ca_bundle),
        # The sandbox signs in for its own URL only, so the token is asked for that one: the CRM itself is dead.
        f'retry_budget_seconds = 1\ntimeout_seconds = 2\nscope = "{sandbox.url}/.default"\n',
    )
    proc = subprocess.run(
        [sys.executable, "-m", "connector", "--config", str(cfg), "sync"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 4, proc.stderr[-1500:]
    assert "error: " in proc.stderr and "connection refused" in proc.stderr and "dataverse.url" in proc.stderr
    assert not re.search(r"HTTP \d", proc.stderr)
    res = CliRunner().invoke(cli, ["--config", str(cfg), "doctor"])
    assert res.exit_code == 4 and "FAIL network" in res.output


def _on_a_terminal(args: list[str]) -> tuple[str, str, int]:
    """Run foi-sync with stderr on a pseudo-terminal (as a person at a console has it) and stdout on a pipe;
    -> (stdout, what the terminal showed, exit code)."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    main_fd, term_fd = pty.openpty()
    fcntl.ioctl(term_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # rows, columns
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", *args], stdout=subprocess.PIPE, stderr=term_fd, text=True
    )
    os.close(term_fd)
    shown = b""
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(main_fd)
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    return stdout, shown.decode("utf-8", "replace"), proc.wait(timeout=120)


def test_migrate_draws_its_progress_bar_on_a_terminal_only(config: Path, provisioned: Any, tmp_path: Path) -> None:
    """The bar is the CLI's (the library only reports progress): on stderr at a terminal, never in the JSON log
    format the scheduled job uses, and never on stdout, where the report goes."""
    first, first_mapping = write_register(tmp_path / "first", 12)
    stdout, shown, code = _on_a_terminal(
        ["--config", str(config), "--log-format", "json", "migrate", str(first), "--source-mapping", str(first_mapping)]
    )
    assert code == 0, shown
    assert "records/s" not in shown and "migrating" not in shown
    second, second_mapping = write_register(tmp_path / "second", 12, start=500)
    stdout, shown, code = _on_a_terminal(
        ["--config", str(config), "migrate", str(second), "--source-mapping", str(second_mapping)]
    )
    assert code == 0, shown
    # 12 new cases and 12 new requesters (write_register gives row i the requester i % 97): 24 records pushed.
    assert "migrating" in shown and "records/s" in shown and "24/24" in shown, shown
    assert "records/s" not in stdout and "source and CRM agree" in stdout
