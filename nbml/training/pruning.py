"""The Keras callback of a sweep's trial: it reports the objective to the Optuna trial at each
epoch's end and stops the trial when the study's pruner says so."""

from __future__ import annotations

import math
import time
from typing import Any

import keras

from ..core.registry import REGISTRY


class _Complete:
    """The study as a median (percentile) pruner reads it: its direction and its complete
    trials, read once when the trial starts. Trials that complete in other kernels while
    this trial trains count from the next trial on; in one kernel nothing else completes."""

    def __init__(self, study: Any) -> None:
        import optuna

        self.direction = study.direction
        self.complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
        return [t for t in self.complete if states is None or t.state in states]


def local_pruning(pruner: Any) -> bool:
    """Whether ``pruner`` decides from the study's complete trials alone (median, percentile),
    so its decision can be made here without a storage read per epoch."""
    import optuna

    return type(pruner) in (optuna.pruners.MedianPruner, optuna.pruners.PercentilePruner)


class TrialReporter(keras.callbacks.Callback):
    """Reports ``objective`` to an Optuna trial at each epoch's end and prunes the trial (the
    run ends ``stopped`` by the sweep's pruner, its epochs kept) when the pruner says so.

    The median pruner's decision is Optuna's own ``prune``, given the trial's reported values
    and the study's complete trials read once at the trial's start (:class:`_Complete`): with
    SQLite storage Optuna's ``should_prune`` reads the storage each epoch (2.7 ms measured).
    Other pruners ask Optuna each epoch; ``none`` never asks.

    It also measures the fit's own time (``fit_seconds``: from the first epoch's start to the
    end of training, less the time spent talking to Optuna), for the sweep's bookkeeping.
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
        self._study: _Complete | None = None
        self._reported: dict[int, float] = {}

    def on_train_begin(self, logs: dict | None = None) -> None:
        record = REGISTRY.get(self.name)
        self.run = record.run if record is not None else None
        self._t0 = t0 = time.perf_counter()
        if local_pruning(self.trial.study.pruner):
            self._study = _Complete(self.trial.study)
        self.own += time.perf_counter() - t0

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
            self._reported[epoch] = float(value)
            if self._should_prune():
                self.pruned = True
                self._stop("the sweep's pruner")
        self.own += time.perf_counter() - t0

    def _should_prune(self) -> bool:
        import optuna

        pruner = self.trial.study.pruner
        if isinstance(pruner, optuna.pruners.NopPruner):
            return False
        if self._study is None:
            return bool(self.trial.should_prune())
        now = optuna.trial.FrozenTrial(
            number=self.trial.number, trial_id=self.trial._trial_id,
            state=optuna.trial.TrialState.RUNNING, value=None, datetime_start=None,
            datetime_complete=None, params={}, distributions={}, user_attrs={},
            system_attrs={}, intermediate_values=dict(self._reported),
        )  # fmt: skip
        return bool(pruner.prune(self._study, now))

    def _stop(self, reason: str) -> None:
        self.model.stop_training = True
        if self.run is not None and not self.run.stop_requested:
            self.run.stop_reason = reason
            self.run.stop_requested = True

    def on_train_end(self, logs: dict | None = None) -> None:
        self.fit_seconds = time.perf_counter() - self._t0 - self.own
