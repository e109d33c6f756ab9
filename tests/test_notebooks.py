"""The example notebooks run top to bottom in a real kernel, and are committed without outputs.

Each notebook is executed in memory with nbclient (nothing is written back to the repository);
its own last cells assert the numbers it shows (accuracy above a threshold, metrics equal to
scikit-learn's on the same predictions).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "example_notebooks"
NOTEBOOKS = [
    "01_quickstart.ipynb",
    "02_cnn_augmentation.ipynb",
    "03_sequences_rnn.ipynb",
    "04_regression.ipynb",
    "05_metrics_by_hand.ipynb",
    "06_finding_hyperparameters.ipynb",
    "07_inspecting_models.ipynb",
]


def _errors(nb: nbformat.NotebookNode) -> list[str]:
    out = []
    for i, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                tb = "\n".join(output.get("traceback", []))
                out.append(f"cell {i}: {output.get('ename')}: {output.get('evalue')}\n{tb}")
    return out


def test_every_notebook_is_listed():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_saved_without_outputs(name):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name} cell {i} is saved with outputs"
            assert cell.execution_count is None, f"{name} cell {i} has an execution count"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, monkeypatch):
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and traceback, on an error
    elapsed = time.perf_counter() - start
    assert _errors(nb) == []
    ran = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in ran)
    # the file on disk is untouched: still no outputs
    saved = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    assert all(c.outputs == [] for c in saved.cells if c.cell_type == "code")
    print(f"{name}: {elapsed:.1f} s")
    if os.environ.get("NBML_NOTEBOOK_OUTPUT"):  # debugging aid: print the last outputs
        for c in ran[-3:]:
            for o in c.outputs:
                print(o.get("text", "") or o.get("data", {}).get("text/plain", ""))
