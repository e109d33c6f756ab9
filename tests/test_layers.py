"""The layer contract (pyproject's [tool.importlinter], run by `make lint`): it holds for the
code as it is, and an import that points upward breaks it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"


def lint(package_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(package_dir)}
    return subprocess.run(
        [str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=package_dir, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def copy_of_nbml(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "nbml", tmp_path / "nbml",
        ignore=shutil.ignore_patterns("__pycache__", "labextension", "static"),
    )  # fmt: skip
    return tmp_path


def test_the_layers_hold(tmp_path):
    res = lint(copy_of_nbml(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "KEPT" in res.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    root = copy_of_nbml(tmp_path)
    registry = root / "nbml" / "core" / "registry.py"
    # the core reaching up to the API, lazily: it still counts
    registry.write_text(registry.read_text() + "\n\ndef _up():\n    from .. import api\n")
    res = lint(root)
    assert res.returncode == 1, res.stdout
    assert "nbml.core is not allowed to import nbml.api" in res.stdout
    assert "nbml.core.registry -> nbml.api" in res.stdout


def import_circles(package: str = "nbml") -> list[list[str]]:
    """The import circles among ``package``'s modules (every import counts: lazy ones inside
    functions and ``TYPE_CHECKING`` ones too), as strongly connected components."""
    import grimp

    graph = grimp.build_graph(package)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    order, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v: str) -> None:  # Tarjan's algorithm
        order[v] = low[v] = len(order)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in order:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], order[w])
        if low[v] == order[v]:
            group = []
            while not group or group[-1] != v:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                circles.append(sorted(group))

    for module in sorted(edges):
        if module not in order:
            visit(module)
    return circles


def test_no_import_circle_in_nbml():
    assert import_circles() == []


def test_the_circle_check_sees_a_lazy_circle(tmp_path, monkeypatch):
    root = copy_of_nbml(tmp_path)
    showing = root / "nbml" / "views" / "showing.py"
    showing.write_text(showing.read_text() + "\n\ndef _back():\n    from . import comparison\n")
    comparison = root / "nbml" / "views" / "comparison.py"
    assert "from .showing import" in comparison.read_text()  # comparison -> showing already
    monkeypatch.syspath_prepend(str(root))
    for name in [m for m in sys.modules if m == "nbml" or m.startswith("nbml.")]:
        monkeypatch.delitem(sys.modules, name)
    assert ["nbml.views.comparison", "nbml.views.showing"] in import_circles()


def test_functions_fit_on_a_screen_and_modules_stay_small():
    """STYLE: no function in nbml/ over 60 lines, no module of 400 lines or more."""
    import ast

    long = []
    for path in sorted((ROOT / "nbml").rglob("*.py")):
        source = path.read_text()
        name = path.relative_to(ROOT)
        if source.count("\n") >= 400:
            long.append(f"{name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > 60:
                    long.append(f"{name}:{node.lineno} {node.name}() is {lines} lines")
    assert long == []
