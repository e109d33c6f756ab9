"""``nbml.sweep``: a hyperparameter search on Optuna whose every trial is an nbml run
(docs/reference.md#sweeps).

The loop asks the study for a trial (within ``trials``, the study's total), samples the search
space and the body's ``hp`` values, builds a fresh model and trains it through
:func:`nbml.train` (the same plan, checks, run store and interrupt handling as ``%%train``),
reporting the objective each epoch so the pruner can stop hopeless trials. When the study has
its trials (those running in other kernels waited for), ``name`` is bound to the best trial's
model, loaded from the run store.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .. import store as _store
from ..core import options as _options
from ..core import space as _space
from ..core.errors import NbmlError
from ..core.registry import REGISTRY, Event
from ..ml import data as _data
from ..ml import sources
from ..store.records import lower_is_better
from ..training import loop, pipeline, pruning, search
from ..training.sweeps import STATES, Sweep, Trial
from . import _namespace, sweep_cluster, sweep_end
from . import train as _train

__all__ = ["Sweep", "sweep"]


@dataclass
class _Job:
    """What every trial of one sweep shares."""

    build: Callable[[Any], Any]
    data: Any
    fixed: dict[str, Any]
    space: dict[str, _space.Space]
    ns: dict[str, Any]
    seed: int
    background: bool
    interval: float
    cell: int | None
    store_path: str | None
    lock: str | None
    #: The study's Optuna storage (set once opened).
    store: Any = None
    #: Without a run store: (trial number, objective, model) of this kernel's best trial.
    kept: tuple[int, float, Any] | None = None
    #: Where the trials run when not here: a Dask cluster (:mod:`.sweep_cluster`).
    remote: Any = None


def sweep(
    name: str,
    build: Callable[..., Any],
    data: Any = None,
    *,
    trials: int,
    space: dict[str, Any] | None = None,
    objective: str = "val_loss",
    direction: str | None = None,
    pruner: str = "median",
    storage: str | None = None,
    study: str | None = None,
    workers: int | str | None = None,
    cluster: str | None = None,
    display: bool | str = "auto",
    update_interval: float = 0.1,
    namespace: dict[str, Any] | None = None,
    cell: int | None = None,
    **options: Any,
) -> Sweep:
    """Search hyperparameters of ``build``'s model: every trial is a run of ``name``.

    Args:
        name: the model's name; bound to the best trial's model at the end.
        build: makes a fresh Keras model; called as ``build(hp)`` when it takes an argument,
            where ``hp.int``/``hp.float``/``hp.choice`` sample the model's own hyperparameters.
        data: a data spec (docs/reference.md#data) or the data itself.
        trials: the study's total number of trials (several kernels may share it).
        space: searched training options: ``{"lr": (1e-4, 1e-1, "log"), "batch_size": [32, 64],
            "epochs": "5:30"}`` (a tuple is a range, a list the choices, text as on the line).
        objective: the metric judged at each epoch (default ``val_loss``).
        direction: ``minimize`` or ``maximize`` (default: from the objective's name).
        pruner: ``median`` (default), ``hyperband`` or ``none``.
        storage: an Optuna RDB URL or a ``.log`` path (default: SQLite at ``<store>/sweeps.db``).
        study: the study's name (default ``name``): created, or joined if it exists.
        workers, cluster: run the trials on a local Dask cluster of ``workers`` processes
            (``"auto"``: one per core), or at a Dask scheduler's address (docs/sweeps-at-scale.md).
        display: ``"auto"``, ``"widget"``, ``"text"`` or ``"none"``.
        **options: fixed training options (``epochs``, ``seed``, ``background``, ...).

    Returns the :class:`Sweep` (still running when ``background=True``).

    Example:
        >>> s = nbml.sweep("mlp", build, "sklearn:digits", trials=12, epochs=5,
        ...                space={"lr": (1e-4, 1e-1, "log"), "batch_size": [32, 64, 128]})
        >>> s.best_params
    """
    job, opts = _job(name, build, data, space, namespace, cell, update_interval, options)
    objective, direction = _objective(objective, direction, opts)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise NbmlError(f"--trials must be a whole number of at least 1, not {trials!r}.")
    show = {True: "auto", False: "none"}.get(display, display)  # type: ignore[call-overload]
    remote = sweep_cluster.plan(workers, cluster, storage, job, build)  # pickled: checked
    with sweep_cluster.starting(remote):  # a cluster starts while the study opens
        st, where = _open(name, job, storage, study or name, direction, objective, pruner)
        sw = Sweep(name, st, objective, direction, trials, show)
        sw.storage, sw.update_interval = where, update_interval
        job.remote = remote and remote.ship(job, sw, storage)
    _show(sw)
    return _start(sw, job)


def _open(
    name: str, job: _Job, storage: Any, study: str, direction: str, objective: str, pruner: str
) -> Any:
    """The study with its pruner (and its storage's description), once one trial is planned."""
    prune = search.pruner(pruner, job.fixed.get("epochs"))
    with search.quiet():
        _check_first(name, job)  # before the study is touched: no failed trial for a mistake
        job.store, job.lock, where = search.storage(storage, job.store_path)
        st = search.open_study(study, job.store, job.lock, direction, objective)
    st.pruner = prune
    return st, where


def _start(sw: Sweep, job: _Job) -> Sweep:
    """Run the sweep here, or in a kernel thread for a background sweep."""
    if not job.background:
        _work(sw, job, raise_errors=True)
        return sw
    context = contextvars.copy_context()  # keeps the cell's output routing in the thread
    sw.thread = threading.Thread(
        target=context.run, args=(_work, sw, job, False), name=f"nbml-sweep-{sw.name}", daemon=True
    )
    sw.thread.start()
    return sw


def _job(
    name: str,
    build: Any,
    data: Any,
    space: dict[str, Any] | None,
    namespace: dict[str, Any] | None,
    cell: int | None,
    interval: float,
    options: dict[str, Any],
) -> tuple[_Job, _options.TrainOptions]:
    """Everything checked before the study is touched: names, options, space, data spec."""
    if not isinstance(name, str) or not name.isidentifier():
        raise NbmlError(f"A model name must be a Python identifier such as mlp, not {name!r}.")
    if not callable(build):
        raise NbmlError(
            f"build must be a function that returns a fresh Keras model, not {build!r}."
        )
    given = dict(options)
    spaces = {k: v for k, v in given.items() if isinstance(v, (_space.Range, _space.Choice))}
    spaces.update(space or {})
    fixed = {k: v for k, v in given.items() if k not in spaces}
    searched = {k: _space.from_value(k, v) for k, v in spaces.items()}
    fixed_now, searched = _space.split(searched)  # a space written as one value is fixed
    fixed.update(fixed_now)
    opts = _options.from_kwargs(data=data, **fixed).checked()
    background = bool(fixed.pop("background", False))
    for key in ("wait", "from_run", "reset"):
        if fixed.get(key):
            raise NbmlError(f"{_options.flag(key)} does not apply to a sweep: each trial trains "
                            "a fresh model from the cell body.")  # fmt: skip
    ns = _namespace(namespace)
    if data is None:
        raise NbmlError("Say what to train on: --data sklearn:digits, --data NAME (a variable)...")
    sources.resolve(data, ns, opts.target)  # an unknown data spec is an error before any trial
    st = _store.ensure()
    job = _Job(
        _builder(build), data, fixed, searched, ns, opts.seed, background, interval, cell,
        st.path if st is not None else None, None,
    )  # fmt: skip
    return job, opts


def _check_first(name: str, job: _Job) -> None:
    """Plan one trial before the study is asked for any (the body's model on values of a
    throwaway study, ``nbml.train``'s checks, nothing trained): a mistake is then an error, not
    a failed trial the study keeps (Optuna deletes none). The body runs once more, for this."""
    probe = search.probe(job.seed)
    values = {k: s.suggest(probe, k) for k, s in job.space.items()}
    search.seed_trial(job.seed, 0)
    model = job.build(_space.HP(probe, reserved=job.space))
    opts = _options.from_kwargs(data=job.data, **job.fixed, **values).checked()
    pipeline.plan(name, model, job.ns, opts)


def _builder(build: Callable[..., Any]) -> Callable[[Any], Any]:
    try:
        takes = len(inspect.signature(build).parameters) > 0
    except (TypeError, ValueError):
        takes = True
    return build if takes else (lambda hp: build())


def _objective(objective: str, direction: str | None, opts: Any) -> tuple[str, str]:
    if not isinstance(objective, str) or not objective.strip():
        raise NbmlError(f"--objective takes a metric name such as val_loss, not {objective!r}.")
    if objective.startswith("val_") and opts.validation_split == 0:
        raise NbmlError(
            f"--objective {objective} is measured on the validation part, but --validation-split "
            f"is 0. Use --objective {objective[4:]}, or a validation split (0.2)."
        )
    direction = direction or ("minimize" if lower_is_better(objective) else "maximize")
    if direction not in ("minimize", "maximize"):
        raise NbmlError(f"--direction must be minimize or maximize, not '{direction}'.")
    return objective, direction


def _show(sw: Sweep) -> None:
    """Display the sweep in the notebook (the views draw it: a live widget, or a table)."""
    if sw.display == "none":
        return
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover
        return
    if get_ipython() is not None:
        sw._views["handle"] = display(sw, display_id=True)


def _work(sw: Sweep, job: _Job, raise_errors: bool) -> None:
    """Run the sweep's trials, wait for other kernels' trials, bind the best model."""
    sw.listen()
    try:
        with _interrupts(sw), search.quiet(), _data.unchanged():  # one data for every trial
            try:
                with loop.first_interrupt(lambda: sw.stop("an interrupt")):
                    _trials(sw, job)  # an interrupt lets the running trial finish
                sweep_end.wait_others(sw)
            except KeyboardInterrupt:  # a second interrupt: the trial it cut is failed
                sw.stop("a second interrupt")
            sw.refresh()
            sweep_end.bind_best(sw, job)
        sw.status = "stopped" if sw.stop_reason else "finished"
    except BaseException as exc:
        sw.status, sw.error = "failed", exc
        sw.message = f"The sweep failed: {exc}" if isinstance(exc, NbmlError) else repr(exc)
        if raise_errors:
            raise
        logging.getLogger("nbml").error("background sweep of %s failed: %s", sw.name, exc)
    finally:
        if job.remote is not None:
            job.remote.closed()  # its cluster closed while the best model was bound
        sw.unlisten()
        sw.ended = time.time()
        sw.done.set()
        sw.notify("end", None)
        _announce_end(sw)


def _announce_end(sw: Sweep) -> None:
    """A ``sweep`` event on the last trial's run: views of the model (the sidebar) hear that
    the sweep has ended."""
    runs = [t.run for t in sw.rows if t.run is not None]
    if runs:
        REGISTRY.post(Event("sweep", runs[-1], {"status": sw.status, "message": sw.message}))


@contextlib.contextmanager
def _interrupts(sw: Sweep) -> Iterator[None]:
    """Between trials, a first interrupt ends the sweep after the running trial; a second one
    raises. (During a trial, :func:`loop.first_interrupt` gives the first interrupt the same
    meaning; a second stops that trial's ``fit``.)"""

    def first() -> None:
        loop.raise_next_interrupt()
        sw.stop("an interrupt")

    with loop.on_sigint(first):
        yield


def _trials(sw: Sweep, job: _Job) -> None:
    if job.remote is not None:
        job.remote.run(sw, job)
        return
    while not sw.stop_reason:
        trial, seen = search.ask(sw.study, sw.total, job.lock)
        sw.refresh(seen)  # other kernels' trials join the views
        if trial is None:
            return
        _trial(sw, job, trial)


def _trial(sw: Sweep, job: _Job, trial: Any) -> None:
    """Run one trial: sample, build, train (reporting each epoch), tell the study. The trial
    object is used here and, while its run trains, by its reporter on the training thread
    (this thread waits for the run meanwhile): one thread at a time."""
    n = trial.number
    row = sw.begin(trial)
    try:
        search.mark(trial, job.store_path, None)  # alive, and where: before it trains
        sw.study.sampler = search.sampler(job.seed, n)
        values = {k: s.suggest(trial, k) for k, s in job.space.items()}
        hp = _space.HP(trial, reserved=job.space)
        search.seed_trial(job.seed, n)
        model = job.build(hp)
        row.params = dict(trial.params)
        reporter = pruning.TrialReporter(trial, sw.objective, sw.name)
        extra = {"sweep": sw.study_name, "trial": n, **values, **hp.values}
        # the trial's model is saved to the run store off this thread while the sweep goes on
        # (nothing touches it again; the next trial, and binding the best, wait for the save)
        with _store.deferred_saves():
            run = _train(
                sw.name, model, job.data, display="none", update_interval=job.interval,
                namespace=job.ns, cell=job.cell, callbacks=[reporter], extra_params=extra,
                background=job.background, **job.fixed, **values,
            )  # fmt: skip
            run.done.wait()  # a background sweep trains each trial in its own thread
    except BaseException:
        with contextlib.suppress(Exception):
            sw.study.tell(trial, state=search.state("FAIL"))
        sw.settle(row, "failed")
        raise
    _tell(sw, job, trial, row, run, reporter)


def _tell(sw: Sweep, job: _Job, trial: Any, row: Trial, run: Any, rep: Any) -> None:
    """The trial's outcome, told to the study: complete, pruned or failed."""
    row.run, row.run_id, row.fit_seconds = run, run.id, rep.fit_seconds
    search.mark(trial, job.store_path, run.id)  # the run that holds its model
    value = None
    if rep.missing is not None or run.status == "failed" or rep.bad is not None:
        state = "FAIL"
    elif rep.pruned:
        state, value = "PRUNED", rep.values[-1]
    elif run.status == "stopped" or not rep.values:
        state = "FAIL"
        sw.stop(run.stop_reason)  # an interrupt or %stop ended the trial: the sweep ends
    else:
        state, value = "COMPLETE", rep.values[-1]
        _keep(sw, job, row, value)
    sw.study.tell(trial, value if state == "COMPLETE" else None, state=search.state(state))
    sw.settle(row, STATES[state], value)
    if rep.missing is not None:
        raise NbmlError(
            f"--objective {sw.objective} is not among the training's logs "
            f"({', '.join(rep.missing)}). Pick one of them, e.g. --objective "
            f"{'val_accuracy' if 'val_accuracy' in rep.missing else rep.missing[0]}."
        )


def _keep(sw: Sweep, job: _Job, row: Trial, value: float) -> None:
    """Without a run store, keep the best complete trial's model in memory."""
    if job.store_path is not None:
        return
    kept = job.kept
    better = kept is None or (value < kept[1] if sw.direction == "minimize" else value > kept[1])
    record = REGISTRY.get(sw.name)
    if better and record is not None:
        job.kept = (row.number, value, record.model)
