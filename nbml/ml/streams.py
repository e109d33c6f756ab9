"""Data streams (a generator, a ``keras.utils.PyDataset``, a ``tf.data.Dataset``): passed to
``fit`` as they are, with their first batch checked so that a stream that is empty, used up or
oddly shaped is a clear :class:`NbmlError` rather than a traceback from inside Keras.
"""

from __future__ import annotations

import inspect
import itertools
import types
import weakref
from typing import Any

import numpy as np

from ..core.errors import NbmlError
from .tasks import Task, detect_task, is_one_hot, make_task

BATCH_FORM = "(x, y) or (x, y, sample_weight) batches of arrays"


def _empty(spec: str) -> NbmlError:
    return NbmlError(
        f"The data stream '{spec}' yields no batches: it is empty, or a generator that an "
        "earlier run already used up (a generator runs once). Create it again, or pass a "
        "keras.utils.PyDataset, which can be read every epoch."
    )


def _batch(batch: Any, spec: str) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) arrays of one batch, checked."""
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
        got = f"a {type(batch).__name__}"
        if isinstance(batch, (tuple, list)):
            got += f" of {len(batch)} items"
        raise NbmlError(
            f"The data stream '{spec}' yields {got}; it must yield {BATCH_FORM}, e.g. "
            "`yield x[i:i + 32], y[i:i + 32]`."
        )
    try:
        xb, yb = np.asarray(batch[0]), np.asarray(batch[1])
    except ValueError as e:
        raise NbmlError(
            f"A batch of the data stream '{spec}' is not a regular array ({e}). Give every "
            "sample of a batch the same shape."
        ) from None
    if xb.ndim == 0 or yb.ndim == 0 or len(xb) != len(yb):
        raise NbmlError(
            f"The data stream '{spec}' yields x shaped {xb.shape} with y shaped {yb.shape}; "
            f"it must yield {BATCH_FORM} with one label per sample (the same first dimension)."
        )
    return xb, yb


def _prepend(first: Any, rest: Any) -> Any:
    """A generator yielding ``first`` then the rest, lists as tuples (Keras takes generators of
    tuples, not chains)."""
    for batch in itertools.chain([first], rest):
        yield tuple(batch) if isinstance(batch, list) else batch


#: The user's generators whose first batch nbml took, with the generator that puts it back:
#: a training planned again on the same generator (after a failed plan) loses no batch.
_PEEKED: weakref.WeakKeyDictionary[Any, tuple[Any, Any]] = weakref.WeakKeyDictionary()


def _fresh(wrapper: Any) -> bool:
    return inspect.getgeneratorstate(wrapper) == inspect.GEN_CREATED


def _resume(obj: Any) -> Any:
    """The generator to read ``obj``'s batches from (the one with its first batch put back)."""
    wrapper, _ = _PEEKED.get(obj, (None, None))
    return wrapper if wrapper is not None and _fresh(wrapper) else obj


def first_batch(obj: Any, spec: str) -> tuple[Any, np.ndarray, np.ndarray]:
    """The stream to pass to fit (a generator gets its first batch put back) and that batch."""
    import keras

    if isinstance(obj, types.GeneratorType):
        if obj in _PEEKED:
            wrapper, first = _PEEKED[obj]
            if not _fresh(wrapper):
                raise _empty(spec)
            return wrapper, *_batch(first, spec)
        first = next(obj, _empty)
        if first is _empty:
            raise _empty(spec)
        xb, yb = _batch(first, spec)
        wrapper = _prepend(first, obj)
        _PEEKED[obj] = (wrapper, first)
        return wrapper, xb, yb
    if isinstance(obj, keras.utils.PyDataset):
        n = obj.num_batches
        if n == 0:
            raise _empty(spec)
        return obj, *_batch(obj[0], spec)
    first = next(iter(obj), _empty)
    if first is _empty:
        raise _empty(spec)
    return obj, *_batch(first, spec)


def check_epochs(stream: Any, spec: str, epochs: int) -> None:
    """A Python generator feeds one epoch, once: refuse what Keras would silently get wrong
    (epochs after the first trained on a few re-read batches; a used-up generator)."""
    if not isinstance(stream, types.GeneratorType):
        return
    if not _fresh(stream):
        raise NbmlError(
            f"The generator '{spec}' was used up by an earlier run (a generator runs once). "
            "Pass a fresh one with --data, or a keras.utils.PyDataset, which can be read every "
            "epoch."
        )
    if epochs > 1:
        raise NbmlError(
            f"'{spec}' is a generator: it runs once, so it can feed one epoch, not {epochs} "
            "(Keras would train the others on its first batches only). Pass --epochs 1, or a "
            "keras.utils.PyDataset, which can be read every epoch."
        )


def stream_task(yb: np.ndarray, task: str | None, spec: str) -> Task:
    """The task of a stream, from its first batch (its classes: the model's output units)."""
    kind = detect_task(yb, task)
    if kind in ("regression", "multilabel") or is_one_hot(yb):
        return make_task(yb, kind, None)
    if yb.dtype.kind not in "iub":
        raise NbmlError(
            f"The labels of the data stream '{spec}' are {yb.dtype} values; a stream's class "
            "labels must be class indices (0, 1, ...) or one-hot rows. Encode them in the "
            "stream, or pass --task regression for numbers to predict."
        )
    # classes seen in the first batch only; integer labels index the model's outputs
    classes = list(range(int(np.max(yb)) + 1)) if yb.size else []
    return Task(kind, classes, [str(c) for c in classes])


def gather(obj: Any, spec: str) -> tuple[np.ndarray, np.ndarray]:
    """All (x, y) of a finite stream, for evaluation."""
    import keras

    obj = _resume(obj)
    if isinstance(obj, keras.utils.PyDataset):
        if obj.num_batches is None:
            raise NbmlError(f"The data stream '{spec}' is infinite; evaluate on finite data.")
        batches: Any = (obj[i] for i in range(obj.num_batches))
    else:
        batches = obj
    xs, ys = [], []
    for i, b in enumerate(batches):
        xb, yb = _batch(b, spec)
        xs.append(xb)
        ys.append(yb)
        if i > 100_000:
            raise NbmlError(f"The data stream '{spec}' did not end; evaluate on finite data.")
    if not xs:
        raise _empty(spec)
    try:
        return np.concatenate(xs), np.concatenate(ys)
    except ValueError as e:
        raise NbmlError(
            f"The batches of the data stream '{spec}' do not fit together ({e}). Give every "
            "batch samples of one shape."
        ) from None
