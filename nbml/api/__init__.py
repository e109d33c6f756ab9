"""nbml's public Python API: the one place where behaviour lives.

The magics parse their line, resolve names and call these functions. User mistakes raise
:class:`nbml.NbmlError` (a ``ValueError``) naming the bad value and the fix.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import store as _store
from ..core import hooks as _hooks
from ..core import options as _options
from ..core.errors import NbmlError, did_you_mean
from ..core.registry import REGISTRY, ModelRecord, Run, announce
from ..ml import data as _data
from ..ml import seeding
from ..ml.hardware import Device
from ..training import adopting, inspector, pipeline
from ..training import loop as training
from . import jobs
from .predicting import evaluate as evaluate  # the API's names (nbml.evaluate)
from .predicting import predict as predict
from .records import free_record as _free_record
from .records import namespace_of as _namespace
from .records import record_of as _record

_hooks.first_use()  # a user importing the API directly: the views show its runs (nbml/__init__)


def load_data(
    spec: Any,
    *,
    namespace: dict[str, Any] | None = None,
    target: str | None = None,
    task: str | None = None,
    test_split: float | None = None,
    validation_split: float | None = None,
    seed: int = 0,
    clean: bool = False,
) -> _data.Dataset:
    """Resolve a data spec (or object) and split it: see docs/reference.md#data."""
    raw = _data.resolve(spec, _namespace(namespace), target)
    return _data.prepare(
        raw,
        task=task,
        test_split=test_split,  # checked there (None: 0.2)
        validation_split=validation_split,
        seed=seed,
        clean=clean,
    )


def train(
    name: str,
    model: Any = None,
    data: Any = None,
    *,
    display: bool | str = "auto",
    update_interval: float = 0.1,
    namespace: dict[str, Any] | None = None,
    cell: int | None = None,
    callbacks: list[Any] | None = None,
    extra_params: dict[str, Any] | None = None,
    **options: Any,
) -> Run:
    """Train ``model`` as ``name`` on ``data`` and record the run.

    With ``model=None`` the model already known as ``name`` trains again, from its current
    weights (or fresh ones with ``reset=True``) and, unless ``data`` is given, on the same
    split. The trained Keras model is bound to ``name`` in ``namespace`` (the notebook's).

    Args:
        name: the model's name in this kernel.
        model: a Keras model (compiled or not); a function of no arguments that builds one
            (called after seeding, so ``seed`` fixes its initial weights: the ``%%train``
            cell's body is run so); or None to continue training ``name``.
        data: a data spec string (docs/reference.md#data) or the data itself.
        display: ``"auto"`` (the live widget where widgets work, else text), ``"widget"``,
            ``"text"`` or ``"none"`` (``True``/``False`` mean auto/none).
        update_interval: seconds between two live updates of the display.
        callbacks: more Keras callbacks for ``fit`` (after nbml's own).
        extra_params: more entries for the run's recorded hyperparameters (a sweep records
            its study, the trial number and the values it sampled).
        **options: the training options of :class:`nbml.core.options.TrainOptions` (``%%train``'s
            flags with underscores: ``epochs``, ``batch_size``, ``lr``, ``optimizer``,
            ``validation_split``, ``early_stopping``, ``background``, ``from_run``,
            ``wait``, ...), each checked once; an unknown one is an error naming close matches.

    Returns:
        The :class:`Run`; ``status`` is ``finished``, ``stopped`` or ``failed`` when it
        returns from a foreground training, ``running`` from a background one.

    Example:
        >>> run = nbml.train("mlp", model, "sklearn:digits", epochs=5)
    """
    opts = _options.from_kwargs(data=data, **options).checked()
    _store.ensure()  # attached on the API's first use (docs/reference.md#runs-and-the-store)
    _store.wait_saves()  # a %%train cell's model may still be being written (a Retrain click)
    source, model = model, built(model, opts.seed)
    ns = _namespace(namespace)
    show = {True: "auto", False: "none"}.get(display, display)  # type: ignore[call-overload]
    # checked free and held until its run is registered: a second training of it is refused
    with REGISTRY.claim(name, model, action="train it", wait=opts.wait):
        p = _plan(name, model, ns, opts, None if model is source else source)
        p.callbacks.extend(callbacks or ())
        p.params.update(extra_params or {})
        p.params["inspect"] = 1 if opts.inspect is None else opts.inspect
        inspector.attach(p, p.params["inspect"])
        return _launch(p, ns, cell, show, opts.background, update_interval)


train.__signature__ = _options.signature(train)  # type: ignore[attr-defined]


def _launch(p: Any, ns: dict[str, Any], cell: int | None, show: str, bg: bool, dt: float) -> Run:
    """Register the run, show it, train it (in the background with ``bg``) and publish its
    end as one piece: an interrupt at any moment ends the run (exactly one ``end``) instead
    of leaving it hanging."""
    with training.deferred_interrupts() as launch:
        run = p.commit(ns, cell)
        jobs.settle_store(p, run)  # several processes: only process 0 writes
        announce(p.record, run, show, foreground=not bg)
        training.execute(p, run, background=bg, interval=dt, launch=launch)
    return run


def built(model: Any, seed: int | None) -> Any:
    """``model``, or the model that ``model`` builds when it is a build function: called after
    :func:`nbml.ml.seeding.seed_all` (``seed``), so its weights are the seed's."""
    import keras

    if model is None or isinstance(model, keras.Model) or not callable(model):
        return model
    seeding.seed_all(seed)
    return model()


def _plan(
    name: str, model: Any, ns: dict[str, Any], opts: _options.TrainOptions, build: Any = None
) -> Any:
    """The checked plan of a training (``--from-run`` first adopts the stored model, and is
    undone if planning then fails); ``build``: the function that built ``model``, if any."""
    if opts.from_run is None:
        return pipeline.plan(name, model, ns, opts, build)
    run_id = opts.from_run
    rest, undo = _adopt(name, model, opts, ns)
    try:
        p = pipeline.plan(name, model, ns, rest)
    except BaseException:
        undo()
        raise
    p.params["from_run"] = run_id
    return p


def _adopt(
    name: str, model: Any, opts: _options.TrainOptions, ns: dict[str, Any]
) -> tuple[_options.TrainOptions, Any]:
    """``--from-run``: make the stored run's saved model ``name``; the options that then go on
    to the plan (the run's own data and split, unless ``data`` is given), and the undo."""
    if model is not None:
        raise NbmlError(
            f"--from-run continues the saved model of a stored run; a cell that builds a "
            f"model does not mix with it. Use the line form: %train {name} --from-run "
            f"{opts.from_run}."
        )
    stored = _current_store("--from-run").run(opts.from_run)
    loaded = {"target": opts.target, "task": opts.task, "clean": opts.clean}
    undo = adopting.adopt(name, stored, opts.data, ns, **loaded)
    rest = dataclasses.replace(
        opts, data=None, target=None, task=None, test_split=None, validation_split=None,
        clean=False, from_run=None,
    )  # fmt: skip
    return rest, undo


def models() -> list[ModelRecord]:
    """This kernel's models (name, status, epoch, epochs, history, model, runs)."""
    return REGISTRY.records()


def _current_store(option: str) -> _store.Store:
    st = _store.ensure()
    if st is None:
        raise NbmlError(
            f"{option} needs a run store: %load_ext nbml attaches one at NbmlMagics.store_path, "
            "or call nbml.store.open(PATH)."
        )
    return st


def runs(name: str | None = None, *, limit: int | None = None) -> list[Run | _store.StoredRun]:
    """Runs of the attached store and of this kernel, oldest first
    (docs/reference.md#runs-and-the-store).

    Args:
        name: only the runs of this model.
        limit: only the last ``limit`` runs.

    Returns:
        Records with ``id``, ``name``, ``status`` (``interrupted`` for a run whose kernel
        died), ``epoch``, ``params``, ``history``, ``metrics``, ``started``, ``ended``: this
        kernel's :class:`Run` objects, and :class:`nbml.store.StoredRun` for the others.
    """
    st = _store.ensure()
    mine = [r for rec in REGISTRY.records() if name in (None, rec.name) for r in rec.runs]
    stored = st.runs(name, limit) if st is not None else []
    if name and not mine and not stored and REGISTRY.get(name) is None:
        known = set(REGISTRY.names()) | set(st.names() if st is not None else [])
        where = " or in the run store" if st is not None else ""
        raise NbmlError(
            f"No model named '{name}' in this kernel{where}.{did_you_mean(name, known)} "
            f"%runs without a name lists every run."
        )
    by_id: dict[str, Any] = {r.id: r for r in stored}
    by_id.update((r.id, r) for r in mine)  # this kernel's live records win
    out = sorted(by_id.values(), key=lambda r: r.started)
    return out[-limit:] if limit else out


def devices() -> list[Device]:
    """The devices the Keras backend sees (kind, id, memory in bytes or None)."""
    from ..ml.hardware import devices as _devices

    return _devices()


def save(
    name: str,
    path: str | None = None,
    *,
    store_path: str = ".nbml",
    format: str = "keras",
    wait: bool = False,
) -> str:
    """Save model ``name`` as a ``.keras`` file, or export it; returns the path.

    Args:
        format: ``keras`` (default), ``saved_model`` (a TensorFlow SavedModel folder for TF
            Serving; needs TensorFlow) or ``onnx`` (where the Keras backend can export it).
        path: where to; default ``<store_path>/saved/NAME.keras`` (or ``NAME_saved_model``,
            ``NAME.onnx``).
        wait: if the model is training in the background, wait for the run to end.
    """
    model = _free_record(name, "save it", wait).model
    return jobs.save(model, name, path, store_path, format)


def stop(name: str) -> str:
    """Ask a training of ``name`` to stop at the next batch boundary; says what happened."""
    record = _record(name)
    run = record.run
    if record.status != "training" or run is None:
        return f"{name} is not training (status {record.status}); nothing to stop."
    run.stop_reason = "a stop request"
    run.stop_requested = True  # applied on the training thread at the next batch
    return f"Stopping {name} at the next batch boundary; weights and history are kept."
