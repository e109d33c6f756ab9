"""The overhead benchmark's machinery on a tiny workload: schedule, ratios, interval, report.

It checks how the benchmark measures, never how fast anything is (the numbers of
docs/reference.md#budgets come from ``make bench`` on a quiet machine).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import overhead  # noqa: E402


def test_bootstrap_interval_contains_the_median_and_narrows_with_more_rounds():
    few = [0.95, 1.0, 1.02, 1.05, 1.1]
    low, high = overhead.bootstrap_median(few)
    assert low <= 1.02 <= high and low >= 0.95 and high <= 1.1
    many_low, many_high = overhead.bootstrap_median(few * 8)
    assert many_high - many_low < high - low
    assert overhead.bootstrap_median([1.2]) == (1.2, 1.2)


def test_each_variant_is_sandwiched_between_baseline_runs(tmp_path):
    out = tmp_path / "overhead.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "overhead.py"),
            "--rounds", "2", "--samples", "1200", "--features", "16", "--epochs", "1",
            "--warmup-samples", "200", "--variants", "nbml_text,nbml_widget",
            "--skip-load-ext", "--output", str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    rounds = result["training"]["rounds"]
    assert [r["order"] for r in rounds] == [
        ["nbml_text", "nbml_widget"],
        ["nbml_widget", "nbml_text"],
    ]
    for row in rounds:
        base = row["seconds"]["verbose0"]
        assert len(base) == 3  # before, between and after the two variants
        # round 2 opens with round 1's closing baseline run
        for i, name in enumerate(row["order"]):
            mean = (base[i] + base[i + 1]) / 2
            assert abs(row["ratios"][name] - row["seconds"][name] / mean) < 1e-12
    assert rounds[1]["seconds"]["verbose0"][0] == rounds[0]["seconds"]["verbose0"][-1]
    variants = result["training"]["variants"]
    widget = variants["nbml_widget"]
    low, high = widget["ratio_ci95"]
    assert low <= widget["ratio"] <= high
    # the widget's comm_open carries its JavaScript; the text line sends far less
    assert widget["iopub_bytes"] > variants["nbml_text"]["iopub_bytes"] > 0
    assert "95% CI" in proc.stdout


def test_check_names_each_missed_budget():
    def variant(ratio):
        return {"median_s": 2.0, "ratio": ratio, "ratio_ci95": [ratio - 0.01, ratio + 0.01],
                "iopub_messages": 10, "iopub_bytes": 1000}  # fmt: skip

    def missed(ratios, *args):
        result = {"training": {"variants": {n: variant(r) for n, r in ratios.items()}}}
        return overhead.report(result, overhead.parse_args(["--rounds", "3", *args]))

    ratios = {"verbose0": 1.0, "nbml_text": 1.02, "nbml_widget": 1.025, "verbose1": 1.01,
              "livelossplot": 1.2}  # fmt: skip
    assert missed(ratios) == [
        "nbml_widget / verbose0 = 1.025 > 1.0",
        "the monitor (1.025) is behind verbose1 (1.010)",
    ]
    ratios.update(nbml_text=1.04, nbml_widget=0.9, nbml_widget_spe1=1.025, verbose1=1.03)
    assert missed(ratios) == [
        "nbml_text / verbose0 = 1.040 > 1.03",
        "nbml_widget_spe1 / verbose0 = 1.025 > 1.02",
    ]
    ratios.update(nbml_text=1.0, nbml_widget=0.9, nbml_widget_spe1=1.01, livelossplot=1.005)
    assert missed(ratios, "--defaults-budget", "0.8") == [
        "nbml_widget / verbose0 = 0.900 > 0.8",
        "the monitor (1.010) is not ahead of livelossplot (1.005)",
    ]
    ratios.update(nbml_widget=0.78, livelossplot=1.2)
    assert missed(ratios, "--defaults-budget", "0.8") == []


def test_every_benchmark_builds_the_row_one_model_by_default():
    """The benchmarks share one model expression (its hidden width became a field once and
    three benchmarks, formatting it themselves, broke); the default is the reference workload's
    784-128-10 (docs/reference.md#budgets)."""
    import keras
    import lr_find

    model = eval(overhead.model_code(784), {"keras": keras})  # noqa: S307  (our own expression)
    assert [layer.units for layer in model.layers] == [128, 10] and model.input_shape == (None, 784)
    cells = lr_find.cells(argparse.Namespace(features=784, batch_size=32), "x", "y", "d")
    assert all(overhead.model_code(784) in c or repr(overhead.model_code(784)) in c
               for c in cells.values())  # fmt: skip
    for name in ("messages", "distribute", "lr_find", "sweep", "store"):
        assert "MODEL.format" not in (ROOT / "benchmarks" / f"{name}.py").read_text(), name
