"""Small rules every view and layer must agree on, written once.

The sidebar and the widgets' TypeScript mirror them in ``labextension/src/format.ts``
(``progressFraction``, ``mainMetric``); keep the two in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: A model's status word after a run of its ends with this status (``%models``).
MODEL_STATES = {"finished": "idle", "stopped": "stopped", "failed": "failed"}


def model_state(run_status: str) -> str:
    """The model's status word once its run ended with ``run_status``."""
    return MODEL_STATES.get(run_status, "failed")


def progress(run: Any, batch: int | None = None, steps: int | None = None) -> float:
    """How much of ``run`` is done, 0 to 1: its finished epochs, plus ``batch + 1`` of the
    epoch's ``steps`` while it runs; 1 once it finished."""
    if run.status == "finished":
        return 1.0
    done = float(run.epoch)
    if run.status == "running" and steps and batch is not None:
        done += (batch + 1) / steps
    return min(max(done / max(run.epochs, 1), 0.0), 1.0)


def main_metric(keys: Sequence[str]) -> str | None:
    """The metric a run is judged by: the first validation metric other than the loss, else
    ``val_loss``, else the first training metric, else ``loss``."""
    vals = [k for k in keys if k.startswith("val_")]
    for pool in ([k for k in vals if k != "val_loss"], vals, [k for k in keys if k != "loss"]):
        if pool:
            return pool[0]
    return "loss" if "loss" in keys else None
