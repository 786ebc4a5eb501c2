"""Every command, run as an operator runs it (a real process, real HTTP), fails with one message naming the cause
and the fix and a documented exit code; never a traceback, and a connection error is never "HTTP 401".

The failures are real: a closed port for the sign-in authority and for the CRM, the sandbox refusing a wrong secret,
a tiny local HTTP server that answers 500 to everything, files that do not exist and a port already in use.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from connector.errors import EXIT_CODES, ExitCode

REPO = Path(__file__).resolve().parent.parent
MAPPING = REPO / "mappings" / "target-incident.toml"
REGISTER = REPO / "samples" / "sample-register.csv"
REGISTER_MAPPING = REPO / "mappings" / "source-sample-register.toml"


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Answer500(BaseHTTPRequestHandler):
    def _fail(self) -> None:
        body = json.dumps({"error": {"code": "0x80040216", "message": "An unexpected error occurred."}}).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _fail

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def crm_500() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer500)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def write_config(tmp_path: Path, url: str, authority: str, ca: str, scope: str = "") -> Path:
    path = tmp_path / "foi-sync.toml"
    path.write_text(
        f'[dataverse]\nurl = "{url}"\nauthority_host = "{authority}"\nca_bundle = "{ca}"\n'
        + (f'scope = "{scope}"\n' if scope else "")
        + "retry_budget_seconds = 1.0\ntimeout_seconds = 10\n"
        f'[sync]\ntarget_mapping = "{MAPPING}"\nstate_path = "state/foi-sync-state.sqlite"\n'
        f'[intake]\nrejects_dir = "rejects"\n'
        '[[intake.sources]]\nname = "sample-register"\nkind = "csv"\n'
        f'path = "{REGISTER}"\nmapping = "{REGISTER_MAPPING}"\n'
        '[report]\nstore_path = "reporting.sqlite"\nout_dir = "reports"\n',
        encoding="utf-8",
    )
    return path


def foi_sync(args: list[str], cwd: Path, secret: str | None, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FOI_SYNC_", "REQUESTS_CA"))}
    if secret is not None:
        clean["FOI_SYNC_DATAVERSE__CLIENT_SECRET"] = secret
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


#: Every command that talks to the CRM, with the arguments it needs.
CRM_COMMANDS: list[list[str]] = [
    ["sync"],
    ["sync", "--dry-run"],
    ["migrate", str(REGISTER), "--source-mapping", str(REGISTER_MAPPING)],
    ["pull"],
    ["mapping", "check"],
    ["mapping", "provision"],
    ["audit", "FOI/2025/0001"],
    ["doctor"],
]


def assert_one_message(done: subprocess.CompletedProcess[str], code: ExitCode, *words: str) -> str:
    out = done.stdout + done.stderr
    assert "Traceback" not in out, out
    assert done.returncode == int(code), out
    assert int(code) in {int(c) for c in EXIT_CODES}
    # ours ("error: ... Fix: ..."), or click's for a bad option or argument ("Error: ...", after "Try --help").
    errors = [line for line in done.stderr.splitlines() if line.startswith(("error:", "Error:"))]
    fails = [line for line in done.stdout.splitlines() if "FAIL" in line]
    lines = errors or fails
    assert len(lines) >= 1, out
    message = lines[0]
    if errors:
        assert len(errors) == 1, out
        assert "Fix:" in message or "fix" in message.lower() or message.startswith("Error:"), message
    for word in words:
        assert word in out, (word, out)
    return message


@pytest.mark.parametrize("command", CRM_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_unreachable_sign_in_authority(command: list[str], sandbox: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path, sandbox.url, f"https://127.0.0.1:{free_port()}", str(sandbox.ca_bundle))
    done = foi_sync(["--config", str(config), *command], tmp_path, sandbox.client_secret)
    message = assert_one_message(done, ExitCode.CRM_UNAVAILABLE)
    out = done.stdout + done.stderr
    if command == ["doctor"]:
        assert re.search(r"FAIL token: could not reach the sign-in authority", out), out
        assert "skip mapping: not checked because 'token' failed" in out, out
    else:
        assert "could not reach the sign-in authority" in message, message
    assert "HTTP 401" not in out and "HTTP 4" not in out, out


@pytest.mark.parametrize("command", CRM_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_wrong_secret(command: list[str], sandbox: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path, sandbox.url, sandbox.https_url, str(sandbox.ca_bundle))
    done = foi_sync(["--config", str(config), *command], tmp_path, "not-the-secret")
    assert_one_message(done, ExitCode.CRM_UNAVAILABLE, "could not get a token", "client secret")


@pytest.mark.parametrize("command", CRM_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_crm_unreachable(command: list[str], sandbox: Any, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    config = write_config(tmp_path, url, sandbox.https_url, str(sandbox.ca_bundle), scope=f"{sandbox.url}/.default")
    done = foi_sync(["--config", str(config), *command], tmp_path, sandbox.client_secret)
    assert_one_message(done, ExitCode.CRM_UNAVAILABLE, "dataverse.url")
    assert "HTTP " not in done.stdout + done.stderr


@pytest.mark.parametrize("command", CRM_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_crm_answers_500(command: list[str], sandbox: Any, crm_500: str, tmp_path: Path) -> None:
    # The sandbox signs in for its own URL only: ask it for that token, then talk to the server that fails.
    config = write_config(tmp_path, crm_500, sandbox.https_url, str(sandbox.ca_bundle), scope=f"{sandbox.url}/.default")
    done = foi_sync(["--config", str(config), *command], tmp_path, sandbox.client_secret)
    assert_one_message(done, ExitCode.CRM_UNAVAILABLE, "HTTP 500", "server error")


MISSING_FILE_COMMANDS: list[list[str]] = [
    ["--config", "no-such.toml", "doctor"],
    ["--config", "no-such.toml", "sync"],
    ["intake", "--path", "no-such.csv", "--mapping", str(REGISTER_MAPPING)],
    ["intake", "--path", str(REGISTER), "--mapping", "no-such-mapping.toml"],
    ["migrate", "no-such.csv", "--source-mapping", str(REGISTER_MAPPING)],
    ["letters", "preview", "FOI/2025/0001", "--case-json", "no-such.json"],
    ["report"],
    ["pull"],
    ["sync"],
    ["doctor"],
    ["mapping", "check"],
]


@pytest.mark.parametrize("command", MISSING_FILE_COMMANDS, ids=" ".join)
def test_missing_file(command: list[str], sandbox: Any, tmp_path: Path) -> None:
    """A file that is not there: exit 2 and a message naming it (here the target mapping, for the CRM commands)."""
    config = write_config(tmp_path, sandbox.url, sandbox.https_url, str(sandbox.ca_bundle))
    text = config.read_text(encoding="utf-8").replace(str(MAPPING), str(tmp_path / "no-such-target.toml"))
    config.write_text(text, encoding="utf-8")
    args = command if command[0] == "--config" else ["--config", str(config), *command]
    done = foi_sync(args, tmp_path, sandbox.client_secret)
    out = done.stdout + done.stderr
    assert_one_message(done, ExitCode.CONFIG)
    assert re.search(r"no-such[\w.-]*|reporting\.sqlite", out), out


def test_sandbox_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = foi_sync(["sandbox", "serve", "--port", str(port)], tmp_path, None)
    message = assert_one_message(done, ExitCode.CONFIG)
    assert f"port {port}" in message and "already in use" in message and "--port" in message, message


def test_exit_code_table_is_the_readmes() -> None:
    """The README's table lists exactly the codes of connector/errors.py, with the same meanings."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Exit codes", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+?) \| (.+?) \|$", section, flags=re.MULTILINE)
    assert [int(code) for code, _, _ in rows] == [int(c) for c in EXIT_CODES]
    for code, meaning, action in rows:
        expected = EXIT_CODES[ExitCode(int(code))]
        assert (meaning, action) == (expected.meaning, expected.action)
