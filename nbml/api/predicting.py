"""What a trained model says about data: :func:`evaluate` (scikit-learn's metrics on its
held-out test set or on given data) and :func:`predict`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import NbmlError
from ..core.registry import ModelRecord
from ..ml import data as _data
from ..ml import distribution, preprocessing
from ..ml.evaluation import Evaluation, check_average
from . import jobs
from .records import free_record as _free_record
from .records import namespace_of as _namespace


def _predict_raw(record: ModelRecord, x: Any) -> np.ndarray:
    """The model's raw outputs for ``x``; inputs and outputs that cannot be right are errors."""
    if _data.mapped.is_rows(x):  # rows of a file on disk (checked when loaded): in batches
        return _finite(record, _data.mapped.predict(record.model, x))
    x = _data.as_array(x, "x", "the inputs")  # strings, ragged samples, sparse: named errors
    if len(x) == 0:
        raise NbmlError(f"There is nothing to predict: the inputs have shape {x.shape}.")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        bad = int((~np.isfinite(x.reshape(len(x), -1))).any(axis=1).sum())
        raise NbmlError(
            f"{bad} of {len(x)} input rows hold NaN or inf, which give no prediction: drop or "
            "fill them first (e.g. x[np.isfinite(x).all(axis=1)])."
        )
    preprocessing.check_input(record.model, tuple(x.shape[1:]))
    out = np.asarray(distribution.local(record.model).predict(x, batch_size=256, verbose=0))
    return _finite(record, out)


def _finite(record: ModelRecord, out: np.ndarray) -> np.ndarray:
    if out.dtype.kind == "f" and not np.isfinite(out).all():
        raise NbmlError(
            f"{record.name} outputs NaN or inf: its weights are not finite (a training that "
            f"diverged?). Train it again from fresh weights with a lower learning rate: "
            f"%train {record.name} --reset --lr 0.0001."
        )
    return out


def _classes_of(record: ModelRecord, out: np.ndarray) -> np.ndarray:
    if record.task is not None and record.task.kind == "multilabel":
        # a label counts as predicted at probability >= 0.5 (a logit >= 0)
        return (out >= (0.0 if record.from_logits else 0.5)).astype("int64")
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
    wait: bool = False,
) -> Evaluation:
    """Evaluate the model ``name`` on its held-out test set, or on ``data``.

    Classification metrics are scikit-learn's on the model's predicted classes; see
    :class:`Evaluation`. A model training in the background is busy: ``wait=True`` waits for
    its run to end, else :class:`NbmlError` says so.

    Example:
        >>> ev = nbml.evaluate("mlp")
        >>> ev.accuracy
    """
    record = _free_record(name, "evaluate it", wait)
    task = record.task
    check_average(average)
    if data is None:
        ds = record.dataset
        if ds is None or ds.x_test is None:
            raise NbmlError(
                f"{name} has no held-out test set (it was trained with --test-split 0 or on a "
                f"stream). Pass one: %evaluate {name} --data NAME."
            )
        x, y, spec = ds.x_test, ds.y_test, f"test set of {ds.spec}"
        _data.mapped.check_unchanged(x, ds.spec, name)
        y_true = (np.argmax(y, axis=1) if task.one_hot else y) if task.kind != "regression" else y
        y_true = y_true.astype("int64") if task.kind == "multilabel" else y_true
    else:
        raw = _data.resolve(data, _namespace(namespace), target)
        x, y = _data.prepare_eval(raw, task)
        spec = raw.spec
        y_true = y.astype("float32") if task.kind == "regression" else task.encode(y)
    out = _predict_raw(record, x)
    x, y_true, out = jobs.whole(record.model, x, y_true, out)  # every process's rows
    if task.kind != "regression":  # classification, multi-label
        y_pred = _classes_of(record, out)
        ev = Evaluation(
            name,
            task.kind,
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


def predict(name: str, x: Any, *, proba: bool = False, wait: bool = False) -> np.ndarray:
    """Predictions of model ``name`` for ``x``: class labels (or probabilities) or values.

    A multi-label classifier predicts a 0/1 matrix, one row per sample and one column per label
    (1: the label's probability is >= 0.5); ``proba=True`` gives the probabilities.
    ``wait``: if the model is training in the background, wait for the run to end.
    """
    record = _free_record(name, "predict with it", wait)
    out = _predict_raw(record, x)
    task = record.task
    if task.kind == "regression":
        return out.reshape(len(out)) if out.ndim == 2 and out.shape[1] == 1 else out
    if task.kind == "multilabel" and not proba:
        return _classes_of(record, out)
    if proba:
        if record.from_logits:
            if out.shape[-1] == 1 or task.kind == "multilabel":  # sigmoid per output
                return 1 / (1 + np.exp(-out))
            z = np.exp(out - out.max(axis=-1, keepdims=True))
            return z / z.sum(axis=-1, keepdims=True)
        return out
    return task.decode(_classes_of(record, out))
