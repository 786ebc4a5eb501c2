"""Guards on the design: the layer contract (checked by scripts/check_layers.py, which must itself catch every
form of forbidden import), and the CLI lists every command with help."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
CONNECTOR = REPO / "connector"
CHECKER = REPO / "scripts" / "check_layers.py"


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_layers", CHECKER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_layers"] = module
    spec.loader.exec_module(module)
    return module


def test_the_connector_keeps_the_layer_contract() -> None:
    proc = subprocess.run([sys.executable, str(CHECKER)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "layer contract: ok" in proc.stdout


#: (file to edit, line to add, what the checker must say). Each is a way the last round's test could be fooled.
FORBIDDEN = [
    (
        "intake/normalize.py",
        "from connector import sandbox",
        "only cli/demo_cmd.py, cli/sandbox_cmd.py may start the sandbox",
    ),
    ("sync/plan.py", "import importlib\nimportlib.import_module('connector.sandbox.server')", "may start the sandbox"),
    ("model.py", "from .sandbox import server", "may start the sandbox"),
    ("deadlines/engine.py", "__import__('connector.intake.crossref')", "deadlines imports connector.intake.crossref"),
    (
        "intake/crossref.py",
        "from connector.reporting.store import ReportingStore",
        "intake imports connector.reporting.store",
    ),
    ("intake/grade.py", "from ..sync import state", "intake imports connector.sync"),
    ("letters/render.py", "import importlib\nmod = importlib.import_module(__name__ + '.x')", "dynamic import"),
    ("cli/sandbox_cmd.py", "import connector.sandbox.server", "at module level"),
    ("sandbox/app.py", "from connector import odata", "the sandbox imports connector"),
    (
        "reporting/measures.py",
        "def later():\n    from connector.sync.state import StateStore",
        "reporting imports connector.sync.state",
    ),
    # An orchestrator calls the stages; a stage does not orchestrate (connector/sync/job.py, docs/architecture.md).
    ("sync/push.py", "from connector.sync import job", "a stage imports the orchestrator connector.sync.job"),
    (
        "sync/case_letters.py",
        "def later():\n    from connector.sync.job import run_sync",
        "a stage imports the orchestrator connector.sync.job",
    ),
    ("dataverse/client.py", "from connector.sync.state import StateStore", "dataverse imports connector.sync.state"),
]


@pytest.mark.parametrize(("rel", "line", "expected"), FORBIDDEN, ids=[f[0] for f in FORBIDDEN])
def test_the_checker_catches_a_forbidden_import(tmp_path: Path, rel: str, line: str, expected: str) -> None:
    """A checker that cannot fail proves nothing: add each forbidden import to a copy and watch it fail."""
    copy = tmp_path / "connector"
    shutil.copytree(CONNECTOR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / rel
    target.write_text(target.read_text(encoding="utf-8") + "\n" + line.replace("\\n", "\n") + "\n", encoding="utf-8")
    added_at = len(target.read_text(encoding="utf-8").splitlines())
    violations = _checker().check(copy)
    assert [str(v) for v in violations if v.path == f"connector/{rel}"], violations
    messages = [str(v) for v in violations]
    assert any(expected in m and m.startswith(f"connector/{rel}:") for m in messages), messages
    assert all(v.line <= added_at for v in violations)
    proc = subprocess.run([sys.executable, str(CHECKER), str(copy)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert f"connector/{rel}:" in proc.stdout


def test_help_lists_every_command_with_one_line_help() -> None:
    from connector.cli import COMMANDS

    proc = subprocess.run([sys.executable, "-m", "connector", "--help"], capture_output=True, text=True, check=True)
    for name, (_, _, help_) in COMMANDS.items():
        line = next((ln for ln in proc.stdout.splitlines() if ln.strip().startswith(name + " ")), None)
        assert line is not None, f"{name} missing from --help"
        assert help_.split()[0] in line


def test_every_registered_command_loads_and_has_help() -> None:
    import importlib

    import click

    from connector.cli import COMMANDS

    for name, (module, attr, _) in COMMANDS.items():
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command), name
        assert (command.help or "").strip(), f"{name} has no help text"
