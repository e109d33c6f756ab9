"""nbml's public Python API: the one place where behaviour lives.

The magics parse their line, resolve names and call these functions. User mistakes raise
:class:`nbml.NbmlError` (a ``ValueError``) naming the bad value and the fix.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from . import compiling, preprocessing, training
from . import data as _data
from .devices import Device, host
from .display import ProgressView, Table, seconds
from .errors import NbmlError, did_you_mean
from .evaluation import Evaluation
from .registry import REGISTRY, Event, ModelRecord, Run

MODEL_STATES = {"finished": "idle", "stopped": "stopped", "failed": "failed"}


def _namespace(namespace: dict[str, Any] | None) -> dict[str, Any]:
    if namespace is not None:
        return namespace
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover
        shell = None
    return shell.user_ns if shell is not None else {}


def _positive_int(option: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise NbmlError(f"{option} must be a whole number of at least 1, not {value!r}.")
    return int(value)


def _record(name: str, namespace: dict[str, Any] | None = None) -> ModelRecord:
    record = REGISTRY.get(name)
    if record is None:
        known = REGISTRY.names()
        hint = did_you_mean(name, known)
        listing = f" Known models: {', '.join(known)}." if known else ""
        raise NbmlError(
            f"No model named '{name}' in this kernel.{hint}{listing} Train one first with "
            f"%%train {name} --data ...."
        )
    return record


def load_data(
    spec: Any,
    *,
    namespace: dict[str, Any] | None = None,
    target: str | None = None,
    task: str | None = None,
    test_split: float = 0.2,
    validation_split: float = 0.2,
    seed: int = 0,
    clean: bool = False,
) -> _data.Dataset:
    """Resolve a data spec (or object) and split it: see SPEC §2."""
    raw = _data.resolve(spec, _namespace(namespace), target)
    return _data.prepare(
        raw,
        task=task,
        test_split=test_split,
        validation_split=validation_split,
        seed=seed,
        clean=clean,
    )


def train(
    name: str,
    model: Any = None,
    data: Any = None,
    *,
    target: str | None = None,
    task: str | None = None,
    epochs: int = 10,
    batch_size: int = 32,
    optimizer: str | None = None,
    lr: float | None = None,
    loss: str | None = None,
    metrics: str | list[str] | None = None,
    validation_split: float = 0.2,
    test_split: float = 0.2,
    seed: int = 0,
    normalize: str | None = None,
    clean: bool = False,
    augment: str | list[str] | None = None,
    early_stopping: int | None = None,
    reset: bool = False,
    display: bool = True,
    update_interval: float = 0.1,
    namespace: dict[str, Any] | None = None,
    cell: int | None = None,
) -> Run:
    """Train ``model`` as ``name`` on ``data`` and record the run.

    With ``model=None`` the model already known as ``name`` trains again, from its current
    weights (or fresh ones with ``reset=True``) and, unless ``data`` is given, on the same
    split. The trained Keras model is bound to ``name`` in ``namespace`` (the notebook's).

    Args:
        name: the model's name in this kernel.
        model: a Keras model (compiled or not), or None to continue training ``name``.
        data: a data spec string (SPEC §2) or the data itself.
        epochs, batch_size, optimizer, lr, loss, metrics: as in ``Model.compile``/``fit``;
            ``None``/``"auto"`` chooses by task (loss) or keeps the compiled state.
        validation_split, test_split, seed: seeded, stratified splits made by nbml.
        normalize, augment: preprocessing layers placed inside the model.
        early_stopping: patience in epochs (restores the best weights), or None.
        display: show the in-place progress line.

    Returns:
        The :class:`Run`, with ``status`` ``finished``, ``stopped`` or ``failed``.

    Example:
        >>> run = nbml.train("mlp", model, "sklearn:digits", epochs=5)
    """
    import keras

    ns = _namespace(namespace)
    if not isinstance(name, str) or not name.isidentifier():
        raise NbmlError(f"A model name must be a Python identifier such as mlp, not {name!r}.")
    epochs = _positive_int("--epochs", epochs)
    batch_size = _positive_int("--batch-size", batch_size)
    if lr is not None and not (isinstance(lr, (int, float)) and lr > 0 and np.isfinite(lr)):
        raise NbmlError(f"--lr must be a positive number such as 0.001, not {lr!r}.")
    if early_stopping is not None and (not isinstance(early_stopping, int) or early_stopping < 0):
        raise NbmlError(
            f"--early-stopping takes a patience of 0 or more epochs, not {early_stopping!r}."
        )
    previous = REGISTRY.get(name)
    if previous is not None and previous.status == "training":
        raise NbmlError(
            f"{name} is already training. Wait for it to finish or stop it with %stop {name}, "
            "or train under another name."
        )
    if model is None and previous is None:
        if isinstance(ns.get(name), keras.Model):
            model = ns[name]
        else:
            _record(name)
    if model is not None and not isinstance(model, keras.Model):
        raise NbmlError(
            f"The model for {name} is a {type(model).__name__}, not a Keras model. End the "
            "cell with the model (or assign it to `model`)."
        )
    augment_list = preprocessing.parse_augment(augment)
    split = {"test_split": test_split, "validation_split": validation_split, "seed": seed}
    if model is not None:
        if data is None:
            raise NbmlError(f"Say what to train {name} on: --data sklearn:digits, --data NAME, ...")
        dataset = load_data(data, namespace=ns, target=target, task=task, clean=clean, **split)
        record = _new_record(name, model, dataset, normalize, augment_list, seed, previous)
        fresh = not model.compiled
        if model is not record.model:  # wrapped in preprocessing layers
            if model.compiled:
                compiling.copy_compile(model, record.model)
            model = record.model
    else:
        record = previous
        model = record.model
        if data is not None:
            dataset = load_data(data, namespace=ns, target=target, task=task, clean=clean, **split)
            _same_classes(record, dataset)
            record.dataset = dataset
        if reset:
            config_src = model
            model = keras.models.clone_model(model)
            if not any(v is not None for v in (optimizer, lr, loss, metrics)):
                compiling.copy_compile(config_src, model)
            record.model = model
        fresh = False
    dataset = record.dataset
    if fresh or any(v is not None for v in (optimizer, lr, loss, metrics)):
        compiling.compile_model(
            model, dataset.task, optimizer=optimizer, lr=lr, loss=loss, metrics=metrics
        )
    compiling.check_head(model, dataset.task, None if dataset.is_stream else dataset.y_train)
    record.from_logits = compiling.from_logits(model)
    params = {
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": type(model.optimizer).__name__.lower() if model.optimizer else None,
        "lr": compiling.learning_rate(model),
        "loss": _loss_name(model.loss),
        "task": dataset.task.kind,
        "validation_split": validation_split,
        "test_split": test_split,
        "seed": seed,
        "normalize": record.normalize,
        "augment": ",".join(augment_list) or None,
        "early_stopping": early_stopping,
        "reset": reset,
    }
    run = Run(REGISTRY.new_run_id(), name, params, dataset.spec, epochs)
    run.samples = 0 if dataset.is_stream else len(dataset.x_train)
    record.runs.append(run)
    record.status = "training"
    record.cell = cell if cell is not None else record.cell
    REGISTRY.put(record)
    ns[name] = model
    view = ProgressView(run) if display else None
    REGISTRY.publish(Event("begin", run, {"params": params}))
    callbacks = []
    if early_stopping is not None:
        monitor = "val_loss" if dataset.x_val is not None else "loss"
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=early_stopping, restore_best_weights=True
            )
        )
    try:
        training.fit(
            model,
            dataset,
            run,
            batch_size=batch_size,
            callbacks=callbacks,
            interval=update_interval,
            lr=params["lr"],
        )
    except BaseException as exc:
        run.status, run.ended = "failed", time.time()
        run.message = f"Training failed: {type(exc).__name__}: {str(exc)[:300]}"
        REGISTRY.publish(Event("end", run, {"status": "failed", "message": run.message}))
        raise
    finally:
        record.status = MODEL_STATES.get(run.status, "failed")
        if view is not None and run.status == "running":
            view._unsubscribe()
    return run


def _loss_name(loss: Any) -> str | None:
    if loss is None or isinstance(loss, str):
        return loss
    return getattr(loss, "name", None) or getattr(loss, "__name__", type(loss).__name__)


def _new_record(
    name: str,
    model: Any,
    dataset: _data.Dataset,
    normalize: str | None,
    augment: list[str],
    seed: int,
    previous: ModelRecord | None,
) -> ModelRecord:
    if dataset.is_stream and (augment or normalize not in (None, "none")):
        raise NbmlError(
            "--normalize and --augment need array data; a PyDataset, tf.data.Dataset or "
            "generator is passed to fit as is. Preprocess inside the stream or the model."
        )
    x = dataset.x_train
    chosen = normalize or (preprocessing.default_normalize(x) if not dataset.is_stream else "none")
    layers = preprocessing.build_layers(x, chosen, augment, seed)
    full = preprocessing.attach(model, layers, tuple(x.shape[1:]), name)
    record = ModelRecord(name, full, dataset, dataset.task)
    record.normalize = chosen
    if previous is not None:
        record.runs = previous.runs
    return record


def _same_classes(record: ModelRecord, dataset: _data.Dataset) -> None:
    old, new = record.task, dataset.task
    if old is None or old.kind != new.kind or old.classes != new.classes:
        raise NbmlError(
            f"The new data's labels ({new.kind}, classes {new.class_names}) differ from what "
            f"{record.name} was trained on ({old.kind if old else '?'}, classes "
            f"{old.class_names if old else '?'}). Train a new model with %%train instead."
        )


def _predict_raw(record: ModelRecord, x: Any) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == np.float64:
        x = x.astype("float32")
    preprocessing.check_input(record.model, tuple(x.shape[1:]))
    return np.asarray(record.model.predict(x, batch_size=256, verbose=0))


def _classes_of(record: ModelRecord, out: np.ndarray) -> np.ndarray:
    if out.ndim == 1 or out.shape[-1] == 1:
        threshold = 0.0 if record.from_logits else 0.5
        return (out.reshape(len(out)) > threshold).astype("int64")
    return np.argmax(out, axis=-1)


def evaluate(
    name: str,
    data: Any = None,
    *,
    average: str = "macro",
    target: str | None = None,
    namespace: dict[str, Any] | None = None,
) -> Evaluation:
    """Evaluate the model ``name`` on its held-out test set, or on ``data``.

    Classification metrics are scikit-learn's on the model's predicted classes; see
    :class:`Evaluation`.

    Example:
        >>> ev = nbml.evaluate("mlp")
        >>> ev.accuracy
    """
    record = _record(name)
    task = record.task
    if average not in ("macro", "weighted", "micro"):
        raise NbmlError(f"--average must be macro, weighted or micro, not '{average}'.")
    if data is None:
        ds = record.dataset
        if ds is None or ds.x_test is None:
            raise NbmlError(
                f"{name} has no held-out test set (it was trained with --test-split 0 or on a "
                f"stream). Pass one: %evaluate {name} --data NAME."
            )
        x, y, spec = ds.x_test, ds.y_test, f"test set of {ds.spec}"
        y_true = (np.argmax(y, axis=1) if task.one_hot else y) if task.kind != "regression" else y
    else:
        raw = _data.resolve(data, _namespace(namespace), target)
        x, y = _data.prepare_eval(raw, task)
        spec = raw.spec
        y_true = task.encode(y) if task.kind == "classification" else y.astype("float32")
    out = _predict_raw(record, x)
    if task.kind == "classification":
        y_pred = _classes_of(record, out)
        ev = Evaluation(
            name,
            "classification",
            np.asarray(y_true),
            y_pred,
            labels=task.class_names,
            average=average,
            data=spec,
        )
    else:
        y_pred = out.reshape(np.shape(y_true)) if out.size == np.size(y_true) else out
        ev = Evaluation(name, "regression", np.asarray(y_true), y_pred, data=spec)
    ev.x = x
    return ev


def predict(name: str, x: Any, *, proba: bool = False) -> np.ndarray:
    """Predictions of model ``name`` for ``x``: class labels (or probabilities) or values."""
    record = _record(name)
    out = _predict_raw(record, x)
    task = record.task
    if task.kind != "classification":
        return out.reshape(len(out)) if out.ndim == 2 and out.shape[1] == 1 else out
    if proba:
        if record.from_logits:
            if out.shape[-1] == 1:
                return 1 / (1 + np.exp(-out))
            z = np.exp(out - out.max(axis=-1, keepdims=True))
            return z / z.sum(axis=-1, keepdims=True)
        return out
    return task.decode(_classes_of(record, out))


def models() -> list[ModelRecord]:
    """This kernel's models (name, status, epoch, epochs, history, model, runs)."""
    return REGISTRY.records()


def runs(name: str | None = None) -> list[Run]:
    """Runs of this kernel, oldest first; only those of ``name`` when given."""
    records = [_record(name)] if name else REGISTRY.records()
    out = [r for rec in records for r in rec.runs]
    return sorted(out, key=lambda r: r.started)


def devices() -> list[Device]:
    """The devices the Keras backend sees (kind, id, memory in bytes or None)."""
    from .devices import devices as _devices

    return _devices()


def save(name: str, path: str | None = None, *, store_path: str = ".nbml") -> str:
    """Save model ``name`` as a ``.keras`` file; returns the path."""
    record = _record(name)
    path = path or os.path.join(store_path, "saved", f"{name}.keras")
    if not path.endswith(".keras"):
        raise NbmlError(f"Keras saves models to files ending in .keras; got '{path}'.")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    record.model.save(path)
    return path


def stop(name: str) -> str:
    """Ask a training of ``name`` to stop at the next batch boundary; says what happened."""
    record = _record(name)
    run = record.run
    if record.status != "training" or run is None or not hasattr(run, "stop"):
        return f"{name} is not training (status {record.status}); nothing to stop."
    run.stop()
    return f"Stopping {name} at the next batch boundary; weights and history are kept."


def model_table() -> Table:
    """This kernel's models as a table (what ``%models`` shows)."""
    rows = []
    for rec in REGISTRY.records():
        m = rec.metrics
        metric = next((k for k in m if k not in ("loss",) and not k.startswith("val_")), None)
        rows.append(
            [
                rec.name,
                rec.status,
                f"{rec.epoch}/{rec.epochs}",
                f"{rec.params:,}",
                m.get("loss", ""),
                m.get("val_loss", ""),
                f"{metric} {m[metric]:.4g}" if metric else "",
                rec.device or _device_label(),
                seconds(rec.duration),
            ]
        )
    note = "" if rows else "No models yet: train one with %%train NAME --data SPEC."
    headers = ["name", "status", "epoch", "params", "loss", "val_loss", "metric", "device", "time"]
    return Table(headers, rows, note)


def _device_label() -> str:
    from .devices import describe

    return describe()


def device_table() -> Table:
    """The backend's devices and the host (what ``%devices`` shows)."""
    import keras

    rows = [
        [d.kind, d.id, d.name, _bytes(d.memory), d.backend or keras.backend.backend()]
        for d in devices()
    ]
    h = host()
    note = (
        f"host: {h.cpus} CPUs, {_bytes(h.memory)} memory; Keras backend {keras.backend.backend()}"
    )
    return Table(["kind", "id", "name", "memory", "backend"], rows, note)


def _bytes(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return str(n)


def run_table(name: str | None = None) -> Table:
    """Runs side by side (what ``%runs`` shows): hyperparameters, final metrics, duration."""
    rs = runs(name)
    keys = ["epochs", "batch_size", "optimizer", "lr", "loss"]
    metric_keys: list[str] = []
    for r in rs:
        metric_keys += [k for k in r.metrics if k not in metric_keys]
    rows = [
        [r.id, r.name, r.status, f"{r.epoch}/{r.epochs}"]
        + [r.params.get(k, "") if r.params.get(k) is not None else "" for k in keys]
        + [r.metrics.get(k, "") for k in metric_keys]
        + [seconds(r.duration)]
        for r in rs
    ]
    note = "" if rows else "No runs yet."
    return Table(["run", "name", "status", "epoch", *keys, *metric_keys, "time"], rows, note)
