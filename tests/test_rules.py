"""The small rules written once in nbml.core.rules (the frontend mirrors them in format.ts)."""

from __future__ import annotations

from nbml.core import rules
from nbml.core.registry import Run


def run(status: str, epoch: int, epochs: int = 4) -> Run:
    r = Run("id", "m", {}, "sklearn:iris", epochs)
    r.status, r.epoch = status, epoch
    return r


def test_progress_counts_epochs_and_the_batch_of_a_running_epoch():
    assert rules.progress(run("running", 0)) == 0.0
    assert rules.progress(run("running", 1), batch=49, steps=100) == (1 + 0.5) / 4
    assert rules.progress(run("running", 4), batch=99, steps=100) == 1.0  # clamped
    assert rules.progress(run("stopped", 1), batch=49, steps=100) == 0.25  # ended: epochs only
    assert rules.progress(run("finished", 2)) == 1.0  # early stopping still finished
    assert rules.progress(run("running", 0, epochs=0)) == 0.0


def test_main_metric_and_model_state():
    assert rules.main_metric(["loss", "accuracy", "val_loss", "val_accuracy"]) == "val_accuracy"
    assert rules.main_metric(["loss", "val_loss"]) == "val_loss"
    assert rules.main_metric(["loss", "mae"]) == "mae"
    assert rules.main_metric(["loss"]) == "loss"
    assert rules.main_metric([]) is None
    assert [rules.model_state(s) for s in ("finished", "stopped", "failed", "odd")] == [
        "idle", "stopped", "failed", "failed",
    ]  # fmt: skip
