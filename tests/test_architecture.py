"""Guards on the design: the sandbox is a separate subpackage, and the CLI lists every command with help."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CONNECTOR = Path(__file__).resolve().parent.parent / "connector"

#: Only these may start the sandbox, and only lazily inside the command function.
ALLOWED_SANDBOX_IMPORTERS = {"cli/sandbox_cmd.py", "cli/demo_cmd.py"}


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(module, line, at_top_level) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, node.lineno, id(node) in top))
    return found


def test_connector_never_imports_the_sandbox() -> None:
    offenders = []
    for path in CONNECTOR.rglob("*.py"):
        rel = path.relative_to(CONNECTOR).as_posix()
        if rel.startswith("sandbox/"):
            continue
        for module, line, top_level in _imports(path):
            if module.startswith("connector.sandbox") and (rel not in ALLOWED_SANDBOX_IMPORTERS or top_level):
                offenders.append(f"connector/{rel}:{line} imports {module}")
    assert offenders == []


def test_sandbox_never_imports_the_connector() -> None:
    """The sandbox stands for Microsoft's service: it must not share code with the client it tests."""
    offenders = []
    for path in (CONNECTOR / "sandbox").rglob("*.py"):
        for module, line, _ in _imports(path):
            if module.startswith("connector") and not module.startswith("connector.sandbox"):
                offenders.append(f"{path.name}:{line} imports {module}")
    assert offenders == []


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
