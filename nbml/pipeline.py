"""Setting up one training: the model pipeline, its compile state and every check.

:func:`plan` validates everything a run needs *before* anything changes, so a bad option never
leaves a model half-modified: the registry, the notebook's variables and the model's weights and
optimizer are touched only by :meth:`Plan.commit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import compiling, distribution, preprocessing
from . import data as _data
from .errors import NbmlError, did_you_mean
from .registry import REGISTRY, ModelRecord, Run

REGRESSION_LOSSES = {"mse", "mae", "mean_squared_error", "mean_absolute_error", "huber", "log_cosh"}


@dataclass
class Plan:
    """A checked training, ready to run."""

    name: str
    record: ModelRecord
    model: Any
    dataset: _data.Dataset
    epochs: int
    batch_size: int
    params: dict[str, Any]
    callbacks: list[Any] = field(default_factory=list)
    compile_args: dict[str, Any] | None = None
    copy_compile_from: Any = None
    #: A ``keras.distribution.DataParallel`` for ``--distribute data``, else None.
    distribution: Any = None

    def commit(self, namespace: dict[str, Any], cell: int | None) -> Run:
        """Apply the plan: compile, register the run, bind the name in the notebook."""
        if self.distribution is not None:
            src = self.model
            self.model = distribution.replicate(src, self.distribution)
            if self.copy_compile_from is None and self.compile_args is None:
                self.copy_compile_from = src if src.compiled else None
            if self.copy_compile_from is None and self.compile_args is None:
                self.compile_args = {}
        with distribution.scope(self.distribution):
            if self.copy_compile_from is not None:
                compiling.copy_compile(self.copy_compile_from, self.model)
            if self.compile_args is not None:
                compiling.compile_model(self.model, self.dataset.task, **self.compile_args)
        rec = self.record
        rec.device = distribution.describe(self.distribution)
        rec.model, rec.dataset, rec.task = self.model, self.dataset, self.dataset.task
        rec.from_logits = compiling.from_logits(self.model)
        self.params.update(
            optimizer=type(self.model.optimizer).__name__.lower() if self.model.optimizer else None,
            lr=compiling.learning_rate(self.model),
            loss=_loss_name(self.model.loss),
        )
        run = Run(REGISTRY.new_run_id(), self.name, self.params, self.dataset.spec, self.epochs)
        run.samples = 0 if self.dataset.is_stream else len(self.dataset.x_train)
        rec.runs.append(run)
        rec.status = "training"
        rec.cell = cell if cell is not None else rec.cell
        REGISTRY.put(rec)
        namespace[self.name] = self.model
        return run


def _loss_name(loss: Any) -> str | None:
    if loss is None or isinstance(loss, str):
        return loss
    return getattr(loss, "name", None) or getattr(loss, "__name__", type(loss).__name__)


def positive_int(option: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise NbmlError(f"{option} must be a whole number of at least 1, not {value!r}.")
    return int(value)


def check_split(option: str, value: float | None) -> float:
    value = 0.2 if value is None else value
    if not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise NbmlError(f"{option} must be at least 0 and below 1 (0 for none), not {value!r}.")
    return float(value)


def unknown_model(name: str) -> NbmlError:
    known = REGISTRY.names()
    listing = f" Known models: {', '.join(known)}." if known else ""
    return NbmlError(
        f"No model named '{name}' in this kernel.{did_you_mean(name, known)}{listing} Train one "
        f"first with %%train {name} --data ...."
    )


def plan(
    name: str,
    model: Any,
    data: Any,
    ns: dict[str, Any],
    *,
    epochs: int,
    batch_size: int,
    target: str | None,
    task: str | None,
    optimizer: str | None,
    lr: float | None,
    loss: str | None,
    metrics: Any,
    validation_split: float | None,
    test_split: float | None,
    seed: int,
    normalize: str | None,
    clean: bool,
    augment: Any,
    early_stopping: int | None,
    reset: bool,
    distribute: str | None = None,
    devices: str | list[str] | None = None,
) -> Plan:
    """Check every option and build (without applying) the training of ``name``."""
    import keras

    if not isinstance(name, str) or not name.isidentifier():
        raise NbmlError(f"A model name must be a Python identifier such as mlp, not {name!r}.")
    epochs = positive_int("--epochs", epochs)
    batch_size = positive_int("--batch-size", batch_size)
    if lr is not None and not (isinstance(lr, (int, float)) and lr > 0 and np.isfinite(lr)):
        raise NbmlError(f"--lr must be a positive number such as 0.001, not {lr!r}.")
    if early_stopping is not None and (not isinstance(early_stopping, int) or early_stopping < 0):
        raise NbmlError(
            f"--early-stopping takes a patience of 0 or more epochs, not {early_stopping!r}."
        )
    vsplit = check_split("--validation-split", validation_split)
    tsplit = check_split("--test-split", test_split)
    if normalize is not None and normalize not in preprocessing.NORMALIZE:
        raise NbmlError(
            f"--normalize must be one of {', '.join(preprocessing.NORMALIZE)}, not "
            f"'{normalize}'.{did_you_mean(normalize, preprocessing.NORMALIZE)}"
        )
    if task is not None and task not in _data.TASKS:
        raise NbmlError(
            f"--task must be classification or regression, not '{task}'."
            f"{did_you_mean(task, _data.TASKS)}"
        )
    augment_list = preprocessing.parse_augment(augment)
    dist = distribution.plan(distribute, devices, batch_size)
    if loss not in (None, "auto"):
        compiling.resolve_loss(loss)
    if metrics not in (None, "auto"):
        items = metrics.split(",") if isinstance(metrics, str) else list(metrics)
        for m in items:
            compiling.resolve_metric(m.strip())
    if optimizer is not None:
        compiling.make_optimizer(optimizer, lr)

    previous = REGISTRY.get(name)
    if model is None and previous is None:
        if not isinstance(ns.get(name), keras.Model):
            raise unknown_model(name)
        model = ns[name]
    REGISTRY.ensure_free(name, model, action="train it")
    if model is not None and not isinstance(model, keras.Model):
        raise NbmlError(
            f"The model for {name} is a {type(model).__name__}, not a Keras model. End the cell "
            "with the model (or assign it to `model`)."
        )
    load = {"target": target, "task": task, "clean": clean, "seed": seed}
    split = {"test_split": tsplit, "validation_split": vsplit}
    recompile = any(v is not None for v in (optimizer, lr, loss, metrics))
    compile_args = {"optimizer": optimizer, "lr": lr, "loss": loss, "metrics": metrics}
    copy_from = None
    if model is not None:  # a new model: build the pipeline around it
        if data is None:
            raise NbmlError(
                f"Say what to train {name} on: --data sklearn:digits, --data NAME (a variable), "
                "--data keras:mnist or --data file.csv --target COLUMN."
            )
        dataset = _load(data, ns, load, split)
        record = ModelRecord(name, model, dataset, dataset.task)
        if previous is not None:
            record.runs = previous.runs
        full, record.normalize = _attach(name, model, dataset, normalize, augment_list, seed)
        if full is not model and model.compiled:
            copy_from = model
        if not model.compiled:
            recompile = True
    else:  # train `name` again
        record = previous
        full = record.model
        given = [
            opt
            for opt, v in (
                ("--target", target),
                ("--task", task),
                ("--test-split", test_split),
                ("--validation-split", validation_split),
            )
            if v is not None
        ] + (["--clean"] if clean else [])
        if data is None and given:
            raise NbmlError(
                f"{', '.join(given)} apply when data is loaded; %train {name} without --data "
                f"reuses {name}'s data and split. Add --data SPEC to load new data."
            )
        if normalize is not None or augment_list:
            raise NbmlError(
                f"The preprocessing of {name} (normalize {record.normalize}) was fixed when it was "
                f"first trained and travels inside the model. Build a new model with %%train "
                f"{name} ... --normalize/--augment to change it."
            )
        dataset = record.dataset
        if data is not None:
            dataset = _load(data, ns, load, split)
            _same_classes(record, dataset)
            if not dataset.is_stream:
                preprocessing.check_input(full, dataset.sample_shape)
        if reset:
            src = full
            full = keras.models.clone_model(full)
            if not recompile:
                copy_from = src
    compiling.check_head(full, dataset.task, None if dataset.is_stream else dataset.y_train)
    _check_loss_fits(loss, dataset.task)
    params = {
        "epochs": epochs,
        "batch_size": batch_size,
        "task": dataset.task.kind,
        "validation_split": vsplit,
        "test_split": tsplit,
        "seed": seed,
        "normalize": record.normalize,
        "augment": ",".join(augment_list) or None,
        "early_stopping": early_stopping,
        "reset": reset,
        "distribute": distribution.describe(dist) or None,
    }
    callbacks = []
    if early_stopping is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss" if dataset.x_val is not None else "loss",
                patience=early_stopping,
                restore_best_weights=True,
            )
        )
    return Plan(
        name,
        record,
        full,
        dataset,
        epochs,
        batch_size,
        params,
        callbacks,
        compile_args if recompile else None,
        copy_from,
        dist,
    )


def _load(data: Any, ns: dict[str, Any], load: dict[str, Any], split: dict[str, Any]) -> Any:
    raw = _data.resolve(data, ns, load["target"])
    return _data.prepare(raw, task=load["task"], seed=load["seed"], clean=load["clean"], **split)


def _attach(
    name: str,
    model: Any,
    dataset: _data.Dataset,
    normalize: str | None,
    augment: list[str],
    seed: int,
) -> tuple[Any, str]:
    if dataset.is_stream:
        if augment or normalize not in (None, "none"):
            raise NbmlError(
                "--normalize and --augment need array data; a PyDataset, tf.data.Dataset or "
                "generator is passed to fit as is. Preprocess inside the stream or the model."
            )
        preprocessing.check_input(model, tuple(np.shape(dataset.x_train)[1:]))
        return model, "none"
    x = dataset.x_train
    chosen = normalize or preprocessing.default_normalize(x)
    layers = preprocessing.build_layers(x, chosen, augment, seed)
    return preprocessing.attach(model, layers, tuple(x.shape[1:]), name), chosen


def _same_classes(record: ModelRecord, dataset: _data.Dataset) -> None:
    old, new = record.task, dataset.task
    if old is None or old.kind != new.kind or old.classes != new.classes:
        raise NbmlError(
            f"The new data's labels ({new.kind}, classes {new.class_names}) differ from what "
            f"{record.name} was trained on ({old.kind if old else '?'}, classes "
            f"{old.class_names if old else '?'}). Train a new model with %%train instead."
        )


def _check_loss_fits(loss: str | None, task: _data.Task) -> None:
    if loss in (None, "auto") or task.kind != "classification" or task.one_hot:
        return
    if str(loss).lower() in REGRESSION_LOSSES:
        raise NbmlError(
            f"--loss {loss} compares outputs with targets of the same shape, but these labels are "
            "class indices. Use --loss auto (sparse_categorical_crossentropy), or pass "
            "--task regression if the labels are numbers to predict."
        )


def adopt(
    name: str,
    stored: Any,
    data: Any,
    ns: dict[str, Any],
    *,
    target: str | None,
    task: str | None,
    clean: bool,
) -> Any:
    """Make the saved model of ``stored`` (a store's run) the model ``name``, on that run's data
    and split (or ``data``), so that ``plan(name, None, None, ...)`` continues it.

    Everything is loaded and checked before the registry changes. Returns a function that
    puts back what ``name`` was before (for when planning fails afterwards).
    """
    import keras

    if not isinstance(name, str) or not name.isidentifier():
        raise NbmlError(f"A model name must be a Python identifier such as mlp, not {name!r}.")
    REGISTRY.ensure_free(name, action="train it")
    previous = REGISTRY.get(name)
    model_file = stored.model_file()  # a file in the store's models folder, else NbmlError
    p = stored.params
    load = {
        "target": target,
        "task": task or p.get("task"),
        "clean": clean,
        "seed": p.get("seed", 0),
    }
    split = {
        "test_split": check_split("--test-split", p.get("test_split")),
        "validation_split": check_split("--validation-split", p.get("validation_split")),
    }
    try:
        dataset = _load(stored.data_spec() if data is None else data, ns, load, split)
    except NbmlError as exc:
        if data is not None:
            raise
        raise NbmlError(
            f"Run {stored.id} was trained on '{stored.data}', which cannot be loaded here ({exc}) "
            f"Add --data SPEC (and --target COLUMN) to continue it on data you name."
        ) from None
    try:
        model = keras.saving.load_model(model_file)
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise NbmlError(f"Could not load {model_file} (run {stored.id}): {detail}") from None
    if not dataset.is_stream:
        preprocessing.check_input(model, dataset.sample_shape)
    normalize = p.get("normalize") or "none"
    runs = previous.runs if previous is not None else []
    REGISTRY.put(ModelRecord(name, model, dataset, dataset.task, runs, normalize=normalize))

    def undo() -> None:
        if previous is not None:
            REGISTRY.put(previous)
        else:
            REGISTRY.remove(name)

    return undo
