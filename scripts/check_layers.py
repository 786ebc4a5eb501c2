#!/usr/bin/env python3
"""Check who may import whom inside ``connector/`` (run in CI; exits 1 and names each offending line).

The contract is the one docs/architecture.md draws: data flows source -> intake -> plan -> push -> pull -> report,
so a package may import only the layers beneath it, and the sandbox (which stands for Microsoft's service) shares no
code with the connector. The check reads the source with ``ast`` rather than importing it, so it sees every form an
import can take: ``import a.b``, ``from a import b``, relative imports, package ``__init__`` re-exports,
``importlib.import_module("...")`` and ``__import__("...")`` with a constant name. A dynamic import (a name computed at
run time) cannot be checked, so it is refused everywhere except the CLI's lazy command table, whose module names are
string constants that are checked instead.

Usage: ``python3 scripts/check_layers.py [CONNECTOR_DIR]`` (default: the repository's ``connector/``).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT_PACKAGE = "connector"

#: Top-level modules that every layer may use: the vocabulary, errors, escaping (OData and spreadsheet cells), config
#: and logging.
FOUNDATION = frozenset(
    {"errors", "paths", "model", "odata", "logs", "config", "rules", "tomlfile", "cells", "__init__"}
)

#: package -> the packages it may import besides itself and the foundation. Anything not listed here is refused.
ALLOWED: dict[str, frozenset[str]] = {
    "foundation": frozenset(),
    "deadlines": frozenset(),
    "dataverse": frozenset(),
    "intake": frozenset({"deadlines"}),
    "letters": frozenset({"deadlines", "dataverse"}),
    "reporting": frozenset({"deadlines", "dataverse"}),
    "learn": frozenset({"deadlines", "intake", "reporting"}),
    "sync": frozenset({"deadlines", "dataverse", "intake", "letters", "reporting", "learn"}),
    "demo": frozenset({"deadlines", "dataverse", "intake", "letters", "reporting", "learn", "sync"}),
    "cli": frozenset({"deadlines", "dataverse", "intake", "letters", "reporting", "learn", "sync", "demo"}),
    "__main__": frozenset({"cli"}),
    "sandbox": frozenset(),
}

#: The orchestrator of the scheduled job: it calls the stages, and no stage calls it (nor, through it, another
#: stage). Inside ``sync`` only these files may import it; outside, only ``cli`` and ``demo`` can reach ``sync``.
ORCHESTRATOR = "connector.sync.job"
ORCHESTRATOR_IMPORTERS = frozenset({"sync/job.py"})

#: The only modules that may start the sandbox, and only inside a function (so ``--help`` never loads it).
SANDBOX_STARTERS = frozenset({"cli/sandbox_cmd.py", "cli/demo_cmd.py"})

#: The only module allowed an import whose name is computed at run time (the lazy command table).
DYNAMIC_IMPORTERS = frozenset({"cli/__init__.py"})


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class _Import:
    module: str
    line: int
    top_level: bool


def layer_of(rel: str) -> str:
    """The layer a file belongs to: its package, or "foundation" for the shared top-level modules."""
    first = rel.split("/", 1)[0]
    if "/" not in rel:
        stem = first.removesuffix(".py")
        return "foundation" if stem in FOUNDATION else stem
    return first


def _target_layer(module: str) -> str | None:
    """The layer an absolute module name lands in, or None when it is not ours."""
    parts = module.split(".")
    if parts[0] != ROOT_PACKAGE:
        return None
    if len(parts) == 1:
        return "foundation"
    return "foundation" if parts[1] in FOUNDATION else parts[1]


def _own_module(rel: str) -> list[str]:
    parts = [ROOT_PACKAGE, *Path(rel).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _resolve_relative(rel: str, level: int, module: str | None) -> str:
    package = _own_module(rel)
    if not rel.endswith("__init__.py"):
        package = package[:-1]
    base = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*base, *([module] if module else [])])


def _in_function(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    current = parents.get(id(node))
    while current is not None:
        if isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return True
        current = parents.get(id(current))
    return False


def _imports(rel: str, tree: ast.Module, violations: list[Violation]) -> list[_Import]:
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: list[_Import] = []
    for node in ast.walk(tree):
        top = not _in_function(node, parents)
        if isinstance(node, ast.Import):
            found += [_Import(alias.name, node.lineno, top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(rel, node.level, node.module) if node.level else (node.module or "")
            found.append(_Import(base, node.lineno, top))
            # ``from connector import sandbox`` imports the submodule connector.sandbox.
            found += [_Import(f"{base}.{alias.name}", node.lineno, top) for alias in node.names if alias.name != "*"]
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append(_Import(arg.value, node.lineno, top))
            elif rel not in DYNAMIC_IMPORTERS:
                violations.append(Violation(f"connector/{rel}", node.lineno, "dynamic import with a computed name"))
    if rel in DYNAMIC_IMPORTERS:
        found += _command_table_modules(tree)
    return found


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in {"__import__", "import_module"}
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def _command_table_modules(tree: ast.Module) -> list[_Import]:
    """Module names written as string constants in the CLI's table (checked as lazy imports)."""
    return [
        _Import(node.value, node.lineno, False)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("connector.")
    ]


def check(connector_dir: Path) -> list[Violation]:
    """Every import in ``connector_dir`` that breaks the contract, in file order."""
    violations: list[Violation] = []
    for path in sorted(connector_dir.rglob("*.py")):
        rel = path.relative_to(connector_dir).as_posix()
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as exc:
            violations.append(Violation(f"connector/{rel}", exc.lineno or 0, f"cannot parse: {exc.msg}"))
            continue
        source = layer_of(rel)
        for imp in _imports(rel, tree, violations):
            target = _target_layer(imp.module)
            where = f"connector/{rel}"
            if (
                source == "sync"
                and rel not in ORCHESTRATOR_IMPORTERS
                and (imp.module == ORCHESTRATOR or imp.module.startswith(ORCHESTRATOR + "."))
            ):
                violations.append(
                    Violation(
                        where,
                        imp.line,
                        f"a stage imports the orchestrator {ORCHESTRATOR}: an orchestrator calls the stages, a stage "
                        "does not orchestrate (only the CLI and the demo run the job)",
                    )
                )
            if target is None or target == source:
                continue
            if source == "sandbox":
                violations.append(
                    Violation(
                        where, imp.line, f"the sandbox imports {imp.module}: it must share no code with the connector"
                    )
                )
            elif target == "sandbox":
                if rel not in SANDBOX_STARTERS:
                    violations.append(
                        Violation(
                            where,
                            imp.line,
                            f"imports {imp.module}: only {', '.join(sorted(SANDBOX_STARTERS))} may start the sandbox",
                        )
                    )
                elif imp.top_level:
                    violations.append(
                        Violation(
                            where,
                            imp.line,
                            f"imports {imp.module} at module level: import it inside the command function",
                        )
                    )
            elif target != "foundation" and target not in ALLOWED.get(source, frozenset()):
                allowed = ", ".join(sorted(ALLOWED.get(source, frozenset()))) or "only the foundation"
                violations.append(
                    Violation(
                        where, imp.line, f"{source} imports {imp.module} ({target}); {source} may import {allowed}"
                    )
                )
    return violations


def main(argv: list[str]) -> int:
    connector_dir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / ROOT_PACKAGE
    if not connector_dir.is_dir():
        print(f"check_layers: {connector_dir} is not a folder: pass the connector package folder", file=sys.stderr)
        return 2
    violations = check(connector_dir)
    for violation in violations:
        print(violation)
    if violations:
        print(f"{len(violations)} import(s) break the layer contract (docs/architecture.md, 'Who may import whom')")
        return 1
    print("layer contract: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
