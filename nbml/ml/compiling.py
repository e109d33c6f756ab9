"""Compiling a model from nbml's options: optimizer, learning rate, loss and metrics.

``--loss auto`` follows README.md's task rules: ``categorical_crossentropy`` for one-hot
labels, ``binary_crossentropy`` for two classes and one output unit and for multi-label rows (one
sigmoid output per label), ``sparse_categorical_crossentropy`` for other classifiers, ``mse`` for
regression; a final layer without softmax/sigmoid is treated as producing logits. ``--metrics
auto`` is ``accuracy`` for classifiers, ``mae`` for regression, and ``binary_accuracy`` (the
share of label decisions that are right, at probability 0.5) for multi-label classifiers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..compat import keras as keras_compat
from ..core.errors import NbmlError, did_you_mean
from .data import Task


def optimizer_names() -> dict[str, type]:
    import keras

    base = keras.optimizers.Optimizer
    out = {}
    for value in vars(keras.optimizers).values():
        is_optimizer = isinstance(value, type) and issubclass(value, base) and value is not base
        if is_optimizer and value.__name__ != "LossScaleOptimizer":
            out[value.__name__.lower()] = value
    return out


def make_optimizer(name: str, lr: float | None) -> Any:
    known = optimizer_names()
    cls = known.get(str(name).lower())
    if cls is None:
        raise NbmlError(
            f"Unknown optimizer '{name}'.{did_you_mean(name, known)} Use a Keras optimizer "
            f"name: {', '.join(sorted(known))}."
        )
    return cls(learning_rate=float(lr)) if lr is not None else cls()


def _names(module: Any) -> list[str]:
    return sorted(n for n in dir(module) if not n.startswith("_") and n[0].islower())


def resolve_loss(name: str) -> Any:
    import keras

    try:
        return keras.losses.get(name)
    except (ValueError, TypeError):
        names = _names(keras.losses)
        raise NbmlError(
            f"Unknown loss '{name}'.{did_you_mean(name, names)} Use a Keras loss name such as "
            "sparse_categorical_crossentropy, categorical_crossentropy, binary_crossentropy, "
            "mse or mae, or auto."
        ) from None


def resolve_metric(name: str) -> Any:
    import keras

    if name in ("accuracy", "acc", "mae", "mse"):
        return name
    try:
        keras.metrics.get(name)
    except (ValueError, TypeError):
        names = ["accuracy", *_names(keras.metrics)]
        raise NbmlError(
            f"Unknown metric '{name}'.{did_you_mean(name, names)} Use Keras metric names "
            "separated by commas, e.g. --metrics accuracy or --metrics mae,mse, or auto."
        ) from None
    return name


def final_activation(model: Any) -> str | None:
    """The name of the activation of the model's last layer (looking into nested models)."""
    import keras

    layer = model
    while getattr(layer, "layers", None):
        layer = layer.layers[-1]
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", None) if act is not None else None


def output_units(model: Any) -> int | None:
    try:
        shape = model.output_shape
    except Exception:  # not built
        return None
    if isinstance(shape, list):
        return None
    return shape[-1] if len(shape) > 1 else 1


def check_head(model: Any, task: Task, y: np.ndarray) -> None:
    """Raise a clear error when the model's outputs cannot fit the labels."""
    units = output_units(model)
    if units is None:
        return
    shape = tuple(model.output_shape)
    label_rank = 1 if y is None or task.kind == "classification" and not task.one_hot else y.ndim
    if len(shape) > max(label_rank, 1) + 1:
        raise NbmlError(
            f"The model outputs shape {shape}: a block of values per sample, but the labels have "
            f"{'one value' if label_rank == 1 else 'one vector'} per sample. Add "
            "keras.layers.Flatten() (or GlobalAveragePooling2D()) before the last Dense layer."
        )
    if task.kind == "multilabel":
        _check_multilabel_head(model, task, units)
        return
    if task.kind == "regression":
        want = 1 if y is None or y.ndim == 1 else int(np.prod(y.shape[1:]))
        if units != want:
            raise NbmlError(
                f"The model outputs {units} values per sample but the regression targets have "
                f"{want}. End the model with Dense({want}) (no activation)."
            )
        return
    k = task.n_classes
    if y is None and not task.one_hot and units > max(k, 1) and task.classes == list(range(k)):
        # a stream's classes were read from its first batch, which may miss the last ones:
        # its class indices are the model's output units
        task.classes = list(range(units))
        task.class_names = [str(c) for c in task.classes]
        return
    binary_ok = k == 2 and units == 1 and not task.one_hot
    if units == k or binary_ok or (units > k and not task.one_hot and k > 0):
        return
    raise NbmlError(
        f"The model outputs {units} values per sample but the labels have {k} classes. End the "
        f"model with Dense({k}, activation='softmax')"
        + (" or Dense(1, activation='sigmoid')." if k == 2 else ".")
    )


def _check_multilabel_head(model: Any, task: Task, units: int) -> None:
    """One sigmoid output (or logit) per label: a softmax makes the labels compete."""
    k = task.n_classes
    fix = f"End the model with Dense({k}, activation='sigmoid') (one probability per label)."
    if units != k:
        raise NbmlError(
            f"The model outputs {units} values per sample but the multi-label rows have {k} "
            f"labels. {fix}"
        )
    if final_activation(model) == "softmax":
        raise NbmlError(
            "The model ends with a softmax, which makes the labels compete (their "
            "probabilities sum to 1), so a sample could not have two labels; these labels are "
            f"multi-label rows. {fix}"
        )


def from_logits(model: Any) -> bool:
    """True when the model's outputs are logits (no softmax/sigmoid at the end)."""
    loss = getattr(model, "loss", None)
    if getattr(loss, "from_logits", False):
        return True
    if loss is not None and not isinstance(loss, str) and hasattr(loss, "from_logits"):
        return False
    return final_activation(model) == "linear"


def _key(name: str) -> str:
    """A loss or metric name without case or underscores: SparseTopK... == sparse_top_k..."""
    return str(name).replace("_", "").lower()


#: Metrics that read class indices against one output per class (what sparse labels need).
INDEX_METRICS = {
    _key(n)
    for n in (
        "accuracy",
        "acc",
        "sparse_categorical_accuracy",
        "sparse_top_k_categorical_accuracy",
        "sparse_categorical_crossentropy",
    )
}


def _loss_key(name: str) -> str:
    import keras

    obj = keras.losses.get(name)
    return _key(getattr(obj, "__name__", None) or getattr(obj, "name", None) or name)


def check_loss(loss: Any, task: Task, units: int | None) -> None:
    """Refuse a --loss that cannot compare the model's outputs with these labels (Keras would
    fail inside fit, or, worse, train on a loss that means nothing)."""
    if not isinstance(loss, str) or loss == "auto" or units is None:
        return
    key = _loss_key(loss)
    sparse = key == "sparsecategoricalcrossentropy"
    if task.kind == "regression" and sparse:
        fix = "Use --loss auto (mse), or --task classification if the targets are classes."
        raise NbmlError(f"--loss {loss} needs class labels; these targets are numbers. {fix}")
    if task.kind == "multilabel":
        if sparse or key.startswith("categorical"):
            raise NbmlError(
                f"--loss {loss} treats the labels as one class per sample; these are "
                "multi-label rows (each label a yes or no of its own). Use --loss auto "
                "(binary_crossentropy)."
            )
        return
    if task.kind != "classification":
        return
    if task.one_hot and sparse:
        raise NbmlError(
            f"--loss {loss} takes class indices, but these labels are one-hot rows. Use --loss "
            "auto (categorical_crossentropy)."
        )
    if task.one_hot:
        return
    if units == 1 and sparse:
        raise NbmlError(
            f"--loss {loss} needs one output per class; this model has one output. Use --loss "
            "auto (binary_crossentropy), or end the model with "
            f"Dense({task.n_classes}, activation='softmax')."
        )
    binary = key in ("binarycrossentropy", "binaryfocalcrossentropy", "hinge", "squaredhinge")
    if units > 1 and not sparse:
        if binary:
            why = f"takes one sigmoid output per sample, but this model has {units} outputs"
        else:
            why = "compares the outputs with one-hot rows, but these labels are class indices"
        raise NbmlError(
            f"--loss {loss} {why}. Use --loss auto (sparse_categorical_crossentropy), or pass "
            "one-hot labels (keras.utils.to_categorical(y))."
        )


def check_metrics(metrics: Any, task: Task, units: int | None) -> None:
    """Refuse --metrics that cannot read these labels against the model's outputs."""
    if metrics in (None, "auto") or units is None or task.kind == "regression":
        return
    items = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    for m in (i.strip() for i in items if isinstance(i, str) and i.strip()):
        key = _key(m)
        if task.kind == "multilabel":
            if key in INDEX_METRICS or key.startswith(("sparse", "categorical")) or "topk" in key:
                raise NbmlError(
                    f"--metrics {m} reads one class per sample (the largest output); these "
                    "labels are multi-label rows. Use --metrics binary_accuracy (or auto, or "
                    "auc, precision, recall); %evaluate reports precision, recall and F1 per "
                    "label."
                )
            continue
        if task.one_hot or units == 1:
            bad = key.startswith("sparse") or (units == 1 and key.startswith("categorical"))
        else:
            bad = key not in INDEX_METRICS
        if bad:
            what = "one-hot rows" if task.one_hot else "class indices"
            raise NbmlError(
                f"--metrics {m} does not fit these labels ({what}, a model with {units} "
                "outputs). Use --metrics accuracy (or auto); %evaluate reports precision, "
                "recall and F1 per class."
            )
        if "topk" in key and units <= 5:  # Keras's k is 5: always 1 here (torch refuses it)
            raise NbmlError(
                f"--metrics {m} counts a hit among the top 5 classes, but this model has "
                f"{units} outputs, so it is always 1. Use --metrics accuracy (or auto)."
            )


def compile_model(
    model: Any,
    task: Task,
    *,
    optimizer: str | None = None,
    lr: float | None = None,
    loss: str | None = None,
    metrics: str | list[str] | None = None,
) -> None:
    """Compile ``model`` from nbml's options, choosing loss and metrics when they are auto.

    What an option leaves out (None) a compiled model keeps: ``--lr`` alone gives the model's
    own optimizer (its class and settings, momentum included) the new rate, and its loss and
    metrics stay; an uncompiled model gets adam and the automatic loss and metrics.
    """
    units = output_units(model)
    check_loss(loss, task, units)
    check_metrics(metrics, task, units)
    before = _compiled_with(model) or {}
    if optimizer is None and before and model.optimizer is not None:
        opt = _same_optimizer(model.optimizer, lr)
    else:
        opt = make_optimizer(optimizer or "adam", lr)
    if loss is None and before.get("loss") is not None:
        loss_obj = before["loss"]
    else:
        loss_obj = _loss_for(model, task, units, loss)
    if metrics is None and before.get("metrics") is not None:
        metric_list = before["metrics"]
    else:
        metric_list = _metrics_for(model, task, units, metrics, loss_obj)
    model.compile(optimizer=opt, loss=loss_obj, metrics=metric_list)


def _loss_for(model: Any, task: Task, units: int | None, loss: str | None) -> Any:
    """The loss ``--loss`` names, or the automatic one for ``task`` and the output layer."""
    import keras

    if loss not in (None, "auto"):
        return resolve_loss(loss)
    logits = final_activation(model) == "linear"
    if task.kind == "regression":
        return "mse"
    if task.kind == "multilabel":  # one independent yes/no per label
        return keras.losses.BinaryCrossentropy(from_logits=logits)
    if task.one_hot:
        return keras.losses.CategoricalCrossentropy(from_logits=logits)
    if task.kind == "classification" and units == 1:
        return keras.losses.BinaryCrossentropy(from_logits=logits)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=logits)


def _metrics_for(
    model: Any, task: Task, units: int | None, metrics: str | list[str] | None, loss_obj: Any
) -> list[Any]:
    """The metrics ``--metrics`` names, or the automatic ones for ``task``."""
    import keras

    if metrics not in (None, "auto"):
        items = metrics.split(",") if isinstance(metrics, str) else list(metrics)  # type: ignore[arg-type]
        return [resolve_metric(m.strip()) for m in items if m.strip()]
    if task.kind == "regression":
        return ["mae"]
    logits = final_activation(model) == "linear"
    threshold = 0.0 if logits and not isinstance(loss_obj, str) else 0.5
    if task.kind == "multilabel":  # the share of label decisions that are right
        return [keras.metrics.BinaryAccuracy(name="binary_accuracy", threshold=threshold)]
    if task.kind == "classification" and units == 1:
        return [keras.metrics.BinaryAccuracy(name="accuracy", threshold=threshold)]
    return ["accuracy"]


def _compiled_with(model: Any) -> dict[str, Any] | None:
    """The arguments ``model`` was last compiled with, or None for an uncompiled model."""
    return keras_compat.compile_arguments(model)


def _same_optimizer(optimizer: Any, lr: float | None) -> Any:
    """A fresh optimizer of ``optimizer``'s class and settings, at rate ``lr`` when given."""
    config = keras_compat.model_config(optimizer)
    if lr is not None:
        config["learning_rate"] = float(lr)
    try:
        return type(optimizer).from_config(config)
    except Exception as exc:  # a custom optimizer that does not round-trip its config
        raise NbmlError(
            f"nbml could not make a new {type(optimizer).__name__} from its settings ({exc}). "
            "Name the optimizer: --optimizer adam (or sgd, rmsprop, ...) with --lr."
        ) from None


def copy_compile(src: Any, dst: Any) -> None:
    """Compile ``dst`` the way the user compiled ``src`` (fresh optimizer state)."""
    try:
        with keras_compat.no_tensorflow_import():
            dst.compile_from_config(src.get_compile_config())
    except Exception:  # custom objects that do not round-trip through config
        dst.compile(**(keras_compat.compile_arguments(src) or {}))


def learning_rate(model: Any) -> float | None:
    import keras

    try:
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except Exception:  # a schedule, or no optimizer
        return None
