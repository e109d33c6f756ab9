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
    assert "nbml.core.registry is not allowed to import nbml.api" in res.stdout
