"""The README's Quick start works as written: its first command in a fresh clone with nothing but /usr/bin:/bin.

The commands are read from the README itself, so the test follows the README rather than a copy of it. The fresh
clone is made from this repository's committed HEAD (what a new user gets); pip may reuse its cache.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def quick_start_commands() -> list[str]:
    """The command lines of the ```bash blocks in the README's "Quick start" section, in order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_quick_start_names_the_projects_own_environment() -> None:
    first, second = quick_start_commands()[:2]
    assert first == "bash scripts/dev-setup.sh && .venv/bin/foi-sync demo"
    assert second == ".venv/bin/python -m pytest -n 2"


def test_ci_runs_exactly_the_readme_commands() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    first, second = quick_start_commands()[:2]
    assert lines.index(first) < lines.index(second)


def test_dev_setup_never_installs_into_the_system_interpreter() -> None:
    script = (REPO / "scripts" / "dev-setup.sh").read_text(encoding="utf-8")
    pip_lines = [
        line
        for line in script.splitlines()
        if re.search(r"\bpip3?\s+install", line) and not line.lstrip().startswith(("#", "note ", "echo "))
    ]
    assert pip_lines, "dev-setup.sh installs nothing"
    assert all(".venv/bin/python -m pip install" in line for line in pip_lines), pip_lines
    assert "--break-system-packages" not in script


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_readme_first_command_in_a_fresh_clone(tmp_path: Path) -> None:
    clone = tmp_path / "foi-sync"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, capture_output=True)
    # A clean environment: the system PATH only, no venv, no pyenv, no FOI_SYNC_* settings. HOME stays so pip finds
    # its cache and the machine's index configuration, as it would for a new user.
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", str(tmp_path)), "LANG": "C.UTF-8"}
    first = quick_start_commands()[0]
    done = subprocess.run(
        ["/bin/bash", "-c", first], cwd=clone, env=env, capture_output=True, text=True, timeout=1400, check=False
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "Traceback" not in out
    assert "FOI cases in the CRM" in done.stdout and "Done in" in done.stdout, done.stdout[-2000:]
    # The environment is the clone's own, made from the system interpreter, not the system interpreter itself.
    cfg = (clone / ".venv" / "pyvenv.cfg").read_text(encoding="utf-8")
    assert re.search(r"^home = /usr/bin$", cfg, flags=re.MULTILINE), cfg
    prefix = subprocess.run(
        [str(clone / ".venv" / "bin" / "python"), "-c", "import connector, sys; print(sys.prefix, connector.__file__)"],
        cwd=tmp_path,  # not the checkout running this test, whose connector/ would shadow the clone's
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert prefix == [str(clone / ".venv"), str(clone / "connector" / "__init__.py")]
    # The demo's outputs are where the demo said.
    assert (clone / "var" / "demo" / "reports" / "foi-report-all.html").is_file()
    # Running it a second time reuses the environment and still works.
    again = subprocess.run(
        ["/bin/bash", "-c", first], cwd=clone, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
