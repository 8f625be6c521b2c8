"""The shape the code keeps (issue 13): lint and types clean, small functions, and an import graph without cycles
in which file formats never reach into training. These run with the rest of the suite, so CI enforces them."""

from __future__ import annotations

import ast
import graphlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "descentlab"
MAX_LINES = 60
EDGE_PACKAGES = ("descentlab.formats",)  # file formats: they read and write, they never train
TRAINING_PACKAGES = ("descentlab.training", "descentlab.optim", "descentlab.experiments")


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _tool(name: str) -> list[str]:
    if shutil.which(name) is None and subprocess.run([sys.executable, "-m", name, "--version"],
                                                     capture_output=True).returncode != 0:
        pytest.fail(f"{name} is not installed: README's test command installs it (the 'test' extra)")
    return [sys.executable, "-m", name]


def test_ruff_finds_nothing_including_complexity_over_10():
    run = subprocess.run([*_tool("ruff"), "check", "src", "tests", "bench", "docs"], cwd=ROOT, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_finds_nothing_in_the_package():
    run = subprocess.run([*_tool("mypy"), "src"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_no_function_is_longer_than_60_lines():
    long = []
    for path in _modules().values():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                length = (node.end_lineno or node.lineno) - first + 1
                if length > MAX_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines")
    assert not long, "\n".join(long)


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``module`` imports, at the top or inside functions (``TYPE_CHECKING`` blocks,
    which never run, are left out)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    skipped = {id(n) for b in ast.walk(tree) if _is_type_checking_block(b) for n in ast.walk(b)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and id(node) not in skipped:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in known else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in known and m != module}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(name, path, set(modules)) for name, path in modules.items()}


def test_the_import_graph_counting_imports_inside_functions_has_no_cycle():
    graph = {m: {t for t in targets if m != "descentlab" and t != "descentlab"} for m, targets in _graph().items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_file_formats_import_nothing_from_training():
    arrows = [f"{m} -> {t}" for m, targets in _graph().items() if m.startswith(EDGE_PACKAGES)
              for t in targets if t.startswith(TRAINING_PACKAGES)]
    assert not arrows, "\n".join(arrows)
