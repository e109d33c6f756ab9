"""Setting up one training: the model pipeline, its compile state and every check.

:func:`plan` validates everything a run needs *before* anything changes, so a bad option never
leaves a model half-modified: the registry, the notebook's variables and the model's weights and
optimizer are touched only by :meth:`Plan.commit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import NbmlError, did_you_mean
from ..core.options import TrainOptions, check_split, flag, split_seed
from ..core.registry import REGISTRY, ModelRecord, Run
from ..ml import compiling, distribution, preprocessing
from ..ml import data as _data
from . import resets

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
    #: Batches per compiled call: ``"auto"``, a number, or None to keep the model's own.
    steps: Any = "auto"

    def commit(self, namespace: dict[str, Any], cell: int | None) -> Run:
        """Apply the plan: compile, register the run, bind the name in the notebook."""
        rec = self.apply()
        run_id = distribution.job_run_id(REGISTRY.new_run_id(), self.distribution)
        run = Run(run_id, self.name, self.params, self.dataset.spec, self.epochs)
        run.samples = 0 if self.dataset.is_stream else len(self.dataset.x_train)
        rec.runs.append(run)
        rec.status = "training"
        self.bind(namespace, cell)
        return run

    def apply(self) -> ModelRecord:
        """Compile the model as planned and set up its record, registering nothing (the
        learning-rate finder trains it so, then registers it with :meth:`bind`, without a run)."""
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
        if self.compile_args is not None:
            rec.user_compiled = False  # compiled by nbml from now on
        rec.device = distribution.describe(self.distribution)
        rec.model, rec.dataset, rec.task = self.model, self.dataset, self.dataset.task
        rec.from_logits = compiling.from_logits(self.model)
        self.params.update(
            optimizer=type(self.model.optimizer).__name__.lower() if self.model.optimizer else None,
            lr=compiling.learning_rate(self.model),
            loss=_loss_name(self.model.loss),
        )
        return rec

    def bind(self, namespace: dict[str, Any], cell: int | None) -> None:
        """Register the record and bind the name to the model in the notebook."""
        rec = self.record
        rec.cell = cell if cell is not None else rec.cell
        REGISTRY.put(rec)
        namespace[self.name] = self.model


def _loss_name(loss: Any) -> str | None:
    if loss is None or isinstance(loss, str):
        return loss
    return getattr(loss, "name", None) or getattr(loss, "__name__", type(loss).__name__)


def unknown_model(name: str) -> NbmlError:
    known = REGISTRY.names()
    listing = f" Known models: {', '.join(known)}." if known else ""
    return NbmlError(
        f"No model named '{name}' in this kernel.{did_you_mean(name, known)}{listing} Train one "
        f"first with %%train {name} --data ...."
    )


#: The options that change how a model is compiled.
COMPILE_OPTIONS = ("optimizer", "lr", "loss", "metrics")
#: The options that only apply when data is loaded.
DATA_OPTIONS = ("target", "task", "test_split", "validation_split")


def plan(name: str, model: Any, ns: dict[str, Any], opts: TrainOptions, build: Any = None) -> Plan:
    """Check every option and build (without applying) the training of ``name``.

    ``model`` is a new Keras model to train as ``name``, or None to train ``name`` again;
    ``opts`` are checked options (:meth:`TrainOptions.checked`); ``build``: what built ``model``
    (a ``%%train`` cell's body), kept so that ``--reset`` can build it afresh.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise NbmlError(f"A model name must be a Python identifier such as mlp, not {name!r}.")
    _data.check_model_name(name, opts.data, ns)
    augment = preprocessing.parse_augment(opts.augment)
    dist = distribution.plan(opts.distribute, opts.devices, opts.batch_size)
    _check_compile_options(opts)
    previous = REGISTRY.get(name)
    model = _resolve_model(name, model, previous, ns)
    step = _Step(name, ns, opts, augment)
    if model is not None:  # a new model: build the pipeline around it
        step.new_model(model, previous)
        step.record.fresh = resets.recipe(name, build, model, step.full)
    else:  # train `name` again
        step.again(previous)
    dataset = step.dataset = distribution.shard(step.dataset, dist, _named(opts.data))
    _data.check_stream(dataset, opts.epochs)
    compiling.check_head(step.full, dataset.task, None if dataset.is_stream else dataset.y_train)
    _check_loss_fits(opts.loss, dataset.task)
    return Plan(
        name,
        step.record,
        step.full,
        dataset,
        opts.epochs,
        opts.batch_size,
        _params(opts, step, dist),
        _callbacks(opts, dataset),
        step.compile_args(),
        step.copy_from,
        dist,
        step.steps(),
    )


def _named(data: Any) -> bool:
    """Whether ``data`` names a dataset every process loads whole (``sklearn:digits``, a file),
    not a variable holding this process's own rows."""
    return isinstance(data, str) and not data.strip().isidentifier()


def _check_compile_options(opts: TrainOptions) -> None:
    """Names Keras must know: the loss, each metric, the optimizer (with the rate)."""
    if opts.loss not in (None, "auto"):
        compiling.resolve_loss(opts.loss)
    if opts.metrics not in (None, "auto"):
        items = opts.metrics.split(",") if isinstance(opts.metrics, str) else list(opts.metrics)
        for m in items:
            compiling.resolve_metric(m.strip())
    if opts.optimizer is not None:
        compiling.make_optimizer(opts.optimizer, opts.lr)


def _resolve_model(name: str, model: Any, previous: ModelRecord | None, ns: dict) -> Any:
    """The new model to train as ``name`` (None: train the known ``name`` again)."""
    import keras

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
    return model


class _Step:
    """The model side of a plan: the record, the model that trains, its data and compile."""

    def __init__(self, name: str, ns: dict, opts: TrainOptions, augment: list[str]) -> None:
        self.name, self.ns, self.opts, self.augment = name, ns, opts, augment
        self.recompile = any(getattr(opts, k) is not None for k in COMPILE_OPTIONS)
        self.copy_from: Any = None
        self.user_compiled = False
        self.record: ModelRecord
        self.full: Any = None
        self.dataset: _data.Dataset

    def load(self, data: Any) -> _data.Dataset:
        o = self.opts
        raw = _data.resolve(data, self.ns, o.target)
        split = {"test_split": o.test_split, "validation_split": o.validation_split}
        return _data.prepare(raw, task=o.task, seed=split_seed(o.seed), clean=o.clean, **split)

    def new_model(self, model: Any, previous: ModelRecord | None) -> None:
        o, name = self.opts, self.name
        if o.data is None:
            raise NbmlError(
                f"Say what to train {name} on: --data sklearn:digits, --data NAME (a variable), "
                "--data keras:mnist or --data file.csv --target COLUMN."
            )
        self.dataset = dataset = self.load(o.data)
        self.record = ModelRecord(name, model, dataset, dataset.task)
        if previous is not None:
            self.record.runs = previous.runs
        self.full, self.record.normalize = _attach(
            name, model, dataset, o.normalize, self.augment, o.seed
        )
        if self.full is not model and model.compiled:
            self.copy_from = model
        if not model.compiled:
            self.recompile = True
        self.user_compiled = self.record.user_compiled = not self.recompile

    def again(self, record: ModelRecord) -> None:
        o, name = self.opts, self.name
        self.record, self.full = record, record.model
        self.user_compiled = record.user_compiled and not self.recompile
        given = [flag(k) for k in DATA_OPTIONS if getattr(o, k) is not None]
        given += ["--clean"] if o.clean else []
        if o.data is None and given:
            raise NbmlError(
                f"{', '.join(given)} apply when data is loaded; %train {name} without --data "
                f"reuses {name}'s data and split. Add --data SPEC to load new data."
            )
        if o.normalize is not None or self.augment:
            raise NbmlError(
                f"The preprocessing of {name} (normalize {record.normalize}) was fixed when it was "
                f"first trained and travels inside the model. Build a new model with %%train "
                f"{name} ... --normalize/--augment to change it."
            )
        self.dataset = record.dataset
        if o.data is not None:
            self.dataset = self.load(o.data)
            _same_classes(record, self.dataset)
            if not self.dataset.is_stream:
                preprocessing.check_input(self.full, self.dataset.sample_shape)
        if o.reset:  # the cell's body again, seeded as its first run, or a copy (resets.py)
            src, self.full = self.full, resets.fresh_model(record, o.seed, self.dataset)
            if not self.recompile:
                self.copy_from = src

    def steps(self) -> Any:
        """``--steps-per-execution``: as given; by default auto, unless the user compiled."""
        given = self.opts.steps_per_execution
        if given is not None:
            return given
        return None if self.user_compiled else "auto"

    def compile_args(self) -> dict[str, Any] | None:
        if not self.recompile:
            return None
        return {k: getattr(self.opts, k) for k in COMPILE_OPTIONS}


def _params(opts: TrainOptions, step: _Step, dist: Any) -> dict[str, Any]:
    """The run's hyperparameters as the store and ``%runs`` show them (and, for rows of a
    memory-mapped file, ``data``: that they stream from disk, which the monitor says)."""
    streamed = {"data": "streamed from disk"} if step.dataset.mapped else {}
    return {
        "epochs": opts.epochs,
        "batch_size": opts.batch_size,
        "task": step.dataset.task.kind,
        "validation_split": check_split("--validation-split", opts.validation_split),
        "test_split": check_split("--test-split", opts.test_split),
        "seed": opts.seed,
        "normalize": step.record.normalize,
        "augment": ",".join(step.augment) or None,
        "early_stopping": opts.early_stopping,
        "reset": opts.reset,
        "distribute": distribution.describe(dist) or None,
        **streamed,
    }


def _callbacks(opts: TrainOptions, dataset: _data.Dataset) -> list[Any]:
    if opts.early_stopping is None:
        return []
    import keras

    return [
        keras.callbacks.EarlyStopping(
            monitor="val_loss" if dataset.x_val is not None else "loss",
            patience=opts.early_stopping,
            restore_best_weights=True,
        )
    ]


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
