"""The Keras callback of a sweep's trial: it reports the objective to the Optuna trial at each
epoch's end and stops the trial when the study's pruner says so (Optuna's public
``Trial.report`` and ``Trial.should_prune``)."""

from __future__ import annotations

import math
import time
from typing import Any

import keras
import optuna

from ..core.registry import REGISTRY


class TrialReporter(keras.callbacks.Callback):
    """Reports ``objective`` to an Optuna trial at each epoch's end and prunes the trial (the
    run ends ``stopped`` by the sweep's pruner, its epochs kept) when the pruner says so.

    Everything it does with the trial happens here, on the training thread, between the
    sweep's ask and tell (the sweep's thread waits for the run meanwhile), so one trial object
    is used by one thread at a time. Optuna's storage is written once per epoch (``report``)
    and read once (``should_prune``): a few milliseconds on SQLite, under 1 % of an epoch
    of a trial of >= 10 s (benchmarks/sweep.py measures it).

    It also measures the fit's own time (``fit_seconds``: from the first epoch's start to the
    end of training, less the time spent talking to Optuna, ``own``), for the sweep's
    bookkeeping.
    """

    def __init__(self, trial: Any, objective: str, name: str) -> None:
        super().__init__()
        self.trial, self.objective, self.name = trial, objective, name
        self.run: Any = None
        self.values: list[float] = []
        self.pruned = False
        self.bad: float | None = None  # a NaN or infinite objective
        self.missing: list[str] | None = None  # the logs' keys when the objective is not one
        self.fit_seconds = 0.0
        self.own = 0.0
        self._t0 = time.perf_counter()
        # with no pruner (--pruner none) nothing is asked: should_prune reads the storage
        self._may_prune = not isinstance(trial.study.pruner, optuna.pruners.NopPruner)

    def on_train_begin(self, logs: dict | None = None) -> None:
        record = REGISTRY.get(self.name)
        self.run = record.run if record is not None else None
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        t0 = time.perf_counter()
        logs = logs or {}
        value = logs.get(self.objective)
        if value is None:
            self.missing = sorted(logs)
            self._stop("a missing objective")
        elif not math.isfinite(value):
            self.bad = float(value)
            self._stop(f"a {value} {self.objective}")
        else:
            self.values.append(float(value))
            self.trial.report(float(value), epoch)
            if self._may_prune and self.trial.should_prune():
                self.pruned = True
                self._stop("the sweep's pruner")
        self.own += time.perf_counter() - t0

    def _stop(self, reason: str) -> None:
        self.model.stop_training = True
        if self.run is not None and not self.run.stop_requested:
            self.run.stop_reason = reason
            self.run.stop_requested = True

    def on_train_end(self, logs: dict | None = None) -> None:
        self.fit_seconds = time.perf_counter() - self._t0 - self.own
