"""A sweep's trial on a Dask worker (docs/sweeps-at-scale.md#a-cluster): what the notebook
ships (:class:`TrialJob`) and :func:`run_trial`, which runs there.

A worker asks the study for a trial itself (within the study's total, under the storage's
lock), so a trial exists only once a worker starts it: trials the sweep never submits, or
submits after a stop, never start. The trial reports every epoch to the shared storage
(Optuna's ``report``/``should_prune``: the pruner judges it against every worker's trials, and
the notebook's views read it live), trains through :func:`nbml.train` as a trial in the
notebook would (no run store on the worker), is told to the study, and goes back to the
notebook with its run (history) and its model file, which the notebook records in its store.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import time
from dataclasses import dataclass
from typing import Any

import keras

from ..core import space as _space
from ..core.files import first_line, serialise
from ..core.registry import REGISTRY
from ..store import liveness
from ..training import cluster, pruning, search
from . import train as _train

#: One trial at a time in a worker process (a model's name is one record in its registry).
_ONE = threading.Lock()
#: The study a worker process opened, by (storage, study name): one engine per process.
_STUDIES: dict[tuple[Any, ...], Any] = {}
#: Seconds between two questions to the scheduler whether the running trials should stop.
STOP_CHECK_S = 0.5


@dataclass
class TrialJob:
    """What every trial of a sweep on a cluster shares; pickled once per sweep."""

    name: str
    study: str
    #: ``--storage`` as given, or None for the default file in ``store_path``.
    storage: str | None
    #: The notebook's run store folder (where its trials' runs are recorded).
    store_path: str | None
    total: int
    objective: str
    pruner: Any
    seed: int
    space: dict[str, Any]
    fixed: dict[str, Any]
    #: The data spec the worker loads, or the notebook variable's name of scattered data.
    data: Any
    build: Any
    #: The Dask events: no new trials (a first stop), stop the running ones (a second).
    no_new: str
    stop_now: str


def run_trial(job: TrialJob, value: Any, task: str) -> dict[str, Any] | None:
    """Ask the study for a trial and run it; None when the study has its trials or the sweep
    stopped before this task started."""
    with _ONE, search.quiet():
        if cluster.stop_asked(job.no_new):
            return None
        study, lock_path = _study(job)
        trial, _ = search.ask(study, job.total, lock_path)
        if trial is None:
            return None
        return _run(job, study, trial, value, task)


def warm() -> None:
    """Run on each worker as the cluster starts: Keras, its backend and nbml imported (by
    unpickling this), the backend's first array made."""
    keras.ops.convert_to_numpy(keras.ops.zeros((1,)))


def _study(job: TrialJob) -> tuple[Any, str | None]:
    import optuna

    key = (job.storage, job.store_path, job.study)
    store, lock_path, _ = search.storage(job.storage, job.store_path)
    if key not in _STUDIES:
        _STUDIES[key] = optuna.load_study(study_name=job.study, storage=store)
    study = _STUDIES[key]
    study.pruner = job.pruner
    return study, lock_path


def _run(job: TrialJob, study: Any, trial: Any, value: Any, task: str) -> dict[str, Any]:
    n = trial.number
    where = {
        "host": liveness.HOST, "pid": liveness.PID, "pid_start": liveness.PID_START,
        "store": job.store_path, "run_id": None, "worker": cluster.worker_address(),
        "task": task,
    }  # fmt: skip
    trial.set_user_attr("nbml", where)  # alive, where and for which task: before it trains
    watch = _Watch(job.name, job.stop_now)
    try:
        study.sampler = search.sampler(job.seed, n)
        values = {k: s.suggest(trial, k) for k, s in job.space.items()}
        hp = _space.HP(trial, reserved=job.space)
        search.seed_trial(job.seed, n)
        model = _build(job.build, hp)
        reporter = pruning.TrialReporter(trial, job.objective, job.name)
        extra = {"sweep": job.study, "trial": n, **values, **hp.values}
        ns = {job.data: value} if value is not None and isinstance(job.data, str) else {}
        data = value if value is not None and not ns else job.data
        run = _train(
            job.name, model, data, display="none", namespace=ns, callbacks=[reporter, watch],
            extra_params=extra, **job.fixed, **values,
        )  # fmt: skip
        run.done.wait()
    except BaseException as exc:
        with contextlib.suppress(Exception):  # the notebook may have failed it (lost)
            study.tell(trial, state=search.state("FAIL"))
        return {"number": n, "state": "FAIL", "error": f"{type(exc).__name__}: {first_line(exc)}",
                "worker": where["worker"]}  # fmt: skip
    return _tell(job, study, trial, where, run, reporter, watch)


def _build(build: Any, hp: Any) -> Any:
    try:
        takes = len(inspect.signature(build).parameters) > 0
    except (TypeError, ValueError):
        takes = True
    return build(hp) if takes else build()


def _tell(
    job: TrialJob, study: Any, trial: Any, where: dict[str, Any], run: Any, rep: Any, watch: Any
) -> dict[str, Any]:
    """Tell the study the trial's outcome (as a trial in the notebook is told); the result
    the notebook records: the run, its epochs' times and its model file."""
    value, error, stop = None, None, ""
    if rep.missing is not None or run.status == "failed" or rep.bad is not None:
        state = "FAIL"
    elif rep.pruned:
        state, value = "PRUNED", rep.values[-1]
    elif run.status == "stopped" or not rep.values:
        state, stop = "FAIL", run.stop_reason
    else:
        state, value = "COMPLETE", rep.values[-1]
    if rep.missing is not None:
        error = (
            f"--objective {job.objective} is not among the training's logs "
            f"({', '.join(rep.missing)}). Pick one of them, e.g. --objective "
            f"{'val_accuracy' if 'val_accuracy' in rep.missing else rep.missing[0]}."
        )
    record = REGISTRY.get(job.name)
    blob, why = None, ""
    try:
        blob = serialise(record.model) if record is not None else None
    except Exception as exc:  # the run is still recorded, without its model
        why = f"Keras cannot save it ({first_line(exc, 120)})"
    trial.set_user_attr("nbml", {**where, "run_id": run.id})
    study.tell(trial, value if state == "COMPLETE" else None, state=search.state(state))
    fields = ("id", "name", "params", "data", "epochs", "status", "epoch", "history", "metrics",
              "started", "ended", "message")  # fmt: skip
    return {
        "number": trial.number, "state": state, "value": value, "values": list(rep.values),
        "params": dict(trial.params), "worker": where["worker"], "error": error, "stop": stop,
        "run": {k: getattr(run, k) for k in fields}, "times": watch.times, "model": blob,
        "why": why, "fit_seconds": rep.fit_seconds, "inspection": run.inspection,
    }  # fmt: skip


class _Watch(keras.callbacks.Callback):
    """At each epoch's end: the time (for the run's epoch rows), and, at most every
    ``STOP_CHECK_S``, whether the notebook asked the running trials to stop (a second
    interrupt), which stops this one as ``%stop`` would. (Asking the scheduler is a round trip
    of a few milliseconds: at every epoch of a trial of short epochs it cost a third of the
    trial's time, benchmarks/sweep.py --workers 2.)"""

    def __init__(self, name: str, stop_now: str) -> None:
        super().__init__()
        self.name, self.stop_now = name, stop_now
        self.times: list[float] = []
        self._asked = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.times.append(time.time())
        now = time.monotonic()
        if now - self._asked < STOP_CHECK_S:
            return
        self._asked = now
        if cluster.stop_asked(self.stop_now):
            self.model.stop_training = True
            record = REGISTRY.get(self.name)
            run = record.run if record is not None else None
            if run is not None and not run.stop_requested:
                run.stop_reason, run.stop_requested = "a second interrupt", True
