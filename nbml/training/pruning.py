"""The Keras callback of a sweep's trial: it reports the objective to the Optuna trial at each
epoch's end and stops the trial when the study's pruner says so."""

from __future__ import annotations

import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import keras

from ..core.registry import REGISTRY


class _Complete:
    """The study as a median (percentile) pruner reads it: its direction and its complete
    trials, as read once when the trial was asked for (or else at its start). Trials that
    complete in other kernels while this trial trains count from the next trial on; in one
    kernel nothing else completes meanwhile."""

    def __init__(self, study: Any, seen: list[Any] | None = None) -> None:
        import optuna

        complete = optuna.trial.TrialState.COMPLETE
        self.direction = study.direction
        if seen is None:
            seen = study.get_trials(deepcopy=False, states=(complete,))
        self.complete = [t for t in seen if t.state == complete]

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
        return [t for t in self.complete if states is None or t.state in states]


def local_pruning(pruner: Any) -> bool:
    """Whether ``pruner`` decides from the study's complete trials alone (median, percentile),
    so its decision can be made here without a storage read per epoch."""
    import optuna

    return type(pruner) in (optuna.pruners.MedianPruner, optuna.pruners.PercentilePruner)


def _never_prunes(pruner: Any) -> bool:
    import optuna

    return isinstance(pruner, optuna.pruners.NopPruner)


#: Reported values wait at most this long to be written together (Optuna's storage then shows a
#: running trial's curve at most this late; a pruner of this kernel never waits for it).
WRITE_EVERY_S = 2.0


class TrialReporter(keras.callbacks.Callback):
    """Reports ``objective`` to an Optuna trial at each epoch's end and prunes the trial (the
    run ends ``stopped`` by the sweep's pruner, its epochs kept) when the pruner says so.

    The median pruner's decision is Optuna's own ``prune``, given the trial's reported values
    and the study's complete trials read once per trial (:class:`_Complete`): with
    SQLite storage Optuna's ``should_prune`` reads the storage each epoch (2.7 ms measured).
    Then nothing waits for the storage during ``fit``: the values are written by a thread of
    the trial's own, in order, those of at most :data:`WRITE_EVERY_S` together (a write takes
    3-4x less CPU right after another: 0.7 against 2.4 ms measured), and training ends only
    once every value is written (an error writing one is raised there). Other pruners read the
    values back each epoch, so their values are written at once; ``none`` never asks.

    It also measures the fit's own time (``fit_seconds``: from the first epoch's start to the
    end of training, less the time spent talking to Optuna) and the CPU time of the writing
    thread (``writer_cpu``), for the sweep's bookkeeping.
    """

    def __init__(
        self, trial: Any, objective: str, name: str, seen: list[Any] | None = None
    ) -> None:
        """``seen``: the study's trials as read when the trial was asked for (else read at
        the start of training)."""
        super().__init__()
        self.trial, self.objective, self.name = trial, objective, name
        self._seen = seen
        self.run: Any = None
        self.values: list[float] = []
        self.pruned = False
        self.bad: float | None = None  # a NaN or infinite objective
        self.missing: list[str] | None = None  # the logs' keys when the objective is not one
        self.fit_seconds = 0.0
        self.own = 0.0
        self._t0 = time.perf_counter()
        self.writer_cpu = 0.0
        self._study: _Complete | None = None
        self._reported: dict[int, float] = {}
        self._writer: ThreadPoolExecutor | None = None
        self._writes: list[Future[None]] = []
        self._pending: list[tuple[float, int]] = []
        self._sent = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        record = REGISTRY.get(self.name)
        self.run = record.run if record is not None else None
        self._t0 = t0 = time.perf_counter()
        pruner = self.trial.study.pruner
        if local_pruning(pruner):
            self._study = _Complete(self.trial.study, self._seen)
        if self._study is not None or _never_prunes(pruner):
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="nbml-trial-report")
        self._sent = t0
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
            self._report(float(value), epoch)
            self._reported[epoch] = float(value)
            if self._should_prune():
                self.pruned = True
                self._stop("the sweep's pruner")
        self.own += time.perf_counter() - t0

    def _report(self, value: float, epoch: int) -> None:
        writer = self._writer
        if writer is None:
            self.trial.report(value, epoch)
            return
        self._pending.append((value, epoch))
        if time.perf_counter() - self._sent >= WRITE_EVERY_S:
            pending, self._pending = self._pending, []
            self._writes.append(writer.submit(self._write, pending))
            self._sent = time.perf_counter()

    def _write(self, pending: list[tuple[float, int]]) -> None:
        t0 = time.thread_time()
        try:
            for value, epoch in pending:
                self.trial.report(value, epoch)
        finally:
            self.writer_cpu += time.thread_time() - t0

    def flush(self) -> None:
        """Wait until every reported value is in the storage (raises the first error): those
        on their way, then those still waiting, written here."""
        writes, self._writes = self._writes, []
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        for w in writes:
            w.result()
        pending, self._pending = self._pending, []
        for value, epoch in pending:
            self.trial.report(value, epoch)

    def _should_prune(self) -> bool:
        import optuna

        pruner = self.trial.study.pruner
        if _never_prunes(pruner):
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
        t0 = time.perf_counter()
        self.flush()
        self.own += time.perf_counter() - t0
        self.fit_seconds = time.perf_counter() - self._t0 - self.own
