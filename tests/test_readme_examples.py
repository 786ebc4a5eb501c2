"""The README's code blocks work as written.

Python blocks run (in a folder whose foi-sync.toml points at a sandbox, the secret in the environment, as the README
says); JSON blocks parse; console blocks whose commands need nothing but this checkout run and print what the README
shows (the deadline explanation, the bad-config message, the letter previews). Blocks that need a council's tenant,
root, Windows or minutes of time are skipped with the reason; the Quick start has its own test (tests/test_setup.py).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest

REPO = Path(__file__).resolve().parent.parent


class Block(NamedTuple):
    line: int
    lang: str
    body: str


def readme_blocks() -> list[Block]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = []
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        blocks.append(Block(text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2)))
    return blocks


BLOCKS = readme_blocks()


def first_command(block: Block) -> str:
    return next((line[2:] for line in block.body.splitlines() if line.startswith("$ ")), "")


#: Console commands the test runs (they need only this checkout); anything else is skipped with a reason.
RUNNABLE = ("foi-sync deadline ", "foi-sync letters preview ", "foi-sync --config bad.toml ")


def skip_reason(block: Block) -> str | None:
    if block.lang == "python" or block.lang == "json":
        return None
    if block.lang == "console" and first_command(block).startswith(RUNNABLE):
        return None
    if block.lang == "powershell":
        return "PowerShell on Windows Server"
    if block.lang == "bash" and "dev-setup.sh" in block.body:
        return "the Quick start: tests/test_setup.py runs it in a fresh clone"
    if "-m pytest" in block.body:
        return "the test command itself (.ci/run runs it)"
    if "sudo" in block.body or "systemctl" in block.body:
        return "needs root and systemd on a server: tests/test_install_linux.py runs the installer"
    if block.lang in ("bash", "console"):
        return "needs a council's tenant or a long-running sandbox (shown as an illustration; the commands are tested in tests/)"
    return "not code (a diagram, a reject line or a TOML excerpt)"


def run(cmd: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    args = shlex.split(cmd)
    assert args[0] == "foi-sync", cmd
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FOI_SYNC_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "connector", *args[1:]],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize("block", BLOCKS, ids=[f"README.md:{b.line}-{b.lang or 'text'}" for b in BLOCKS])
def test_readme_block(block: Block, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    reason = skip_reason(block)
    if reason:
        pytest.skip(reason)
    if block.lang == "json":
        for line in block.body.splitlines():
            if line.strip():
                assert isinstance(json.loads(line), dict)
        return
    if block.lang == "python":
        sandbox: Any = request.getfixturevalue("sandbox")
        (tmp_path / "foi-sync.toml").write_text(
            f'[dataverse]\nurl = "{sandbox.url}"\ntenant_id = "sandbox"\nclient_id = "{sandbox.client_id}"\n'
            f'authority_host = "{sandbox.https_url}"\nca_bundle = "{sandbox.ca_bundle}"\n',
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOI_SYNC_")}
        env["FOI_SYNC_DATAVERSE__CLIENT_SECRET"] = sandbox.client_secret
        done = subprocess.run(
            [sys.executable, "-c", block.body], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return
    command = first_command(block)
    shown = block.body.split("\n", 1)[1].rstrip("\n").splitlines() if "\n" in block.body else []
    if command.startswith("foi-sync --config bad.toml"):
        # The README says what bad.toml holds: a plain-http URL for a real CRM.
        (tmp_path / "bad.toml").write_text('[dataverse]\nurl = "http://crm.example.org"\n', encoding="utf-8")
        done = run(command, tmp_path)
        assert done.returncode == 2
        assert done.stderr.splitlines() == shown
    elif command.startswith("foi-sync deadline"):
        done = run(command, tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == shown
    else:  # letters preview: the files it lists exist, written where --out says
        out = tmp_path / "preview"
        done = run(command.replace("--out preview", f"--out {out}"), REPO)
        assert done.returncode == 0, done.stderr
        listed = [line.strip() for line in shown if line.strip().startswith("preview/")]
        assert listed, shown
        for name in listed:
            if name.endswith(".pdf") and not (out / Path(name).name).exists():
                assert "pdf" in (done.stdout + done.stderr).lower()  # no Chromium here: it says so
                continue
            assert (out / Path(name).name).is_file(), (name, done.stdout)
        assert done.stdout.splitlines()[0] == shown[0]
