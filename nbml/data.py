"""Data for a run: check the arrays, detect the task, split seeded and stratified.

:mod:`nbml.sources` turns a ``--data SPEC`` into arrays; :func:`prepare` makes a
:class:`Dataset` of them with seeded, stratified test and validation parts. Preprocessing is not
done here: it travels inside the model (see :mod:`nbml.preprocessing`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import types
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import NbmlError
from .sources import SKLEARN_DATASETS, Raw, keras_cache_dir, keras_datasets, resolve

__all__ = [
    "SKLEARN_DATASETS",
    "TASKS",
    "Dataset",
    "Raw",
    "Task",
    "detect_task",
    "keras_cache_dir",
    "keras_datasets",
    "prepare",
    "prepare_eval",
    "resolve",
]

TASKS = ("classification", "regression")


@dataclass
class Task:
    """What the labels say: the task, the classes in encoded order, how labels are shaped."""

    kind: str
    classes: list[Any] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    one_hot: bool = False

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Labels as class indices (classification) or float32 targets (regression)."""
        if self.kind == "regression":
            return np.asarray(y, dtype="float32")
        if self.one_hot or (y.ndim == 2 and y.shape[1] > 1):
            return np.argmax(y, axis=1)
        y = y.reshape(-1)
        classes = np.asarray(self.classes)
        try:
            idx = np.clip(np.searchsorted(classes, y), 0, len(classes) - 1)
            ok = classes[idx] == y
        except TypeError:  # labels of another type than the classes
            ok, idx = np.zeros(len(y), dtype=bool), None
        if not np.all(ok):
            bad = y[np.flatnonzero(~ok)[0]]
            raise NbmlError(
                f"The labels contain {bad!r}, a class the model was not trained on (its classes "
                f"are {self.class_names}). Evaluate on data with the same classes."
            )
        return idx.astype("int64")

    def decode(self, idx: np.ndarray) -> np.ndarray:
        """Class indices back to the original label values."""
        return np.asarray(self.classes, dtype=object if self._strings else None)[idx]

    @property
    def _strings(self) -> bool:
        return any(isinstance(c, str) for c in self.classes)


@dataclass
class Dataset:
    """Training, validation and test parts of one data spec, and its task."""

    spec: str
    task: Task
    x_train: Any = None
    y_train: Any = None
    x_val: Any = None
    y_val: Any = None
    x_test: Any = None
    y_test: Any = None
    #: A PyDataset, tf.data.Dataset or generator passed to fit as is (no split).
    stream: Any = None
    dropped: int = 0

    @property
    def is_stream(self) -> bool:
        return self.stream is not None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


# ---------------------------------------------------------------- checking


def _as_array(a: Any, what: str, spec: str) -> np.ndarray:
    if hasattr(a, "to_numpy"):
        a = a.to_numpy()
    try:
        arr = np.asarray(a)
    except Exception as e:
        raise NbmlError(f"{what} of '{spec}' cannot be made an array: {e}") from None
    if arr.dtype == object and what.startswith("x"):
        raise NbmlError(
            f"{what} of '{spec}' is not a regular numeric array (ragged or mixed types). "
            "Pad sequences to one length (keras.utils.pad_sequences) or convert to numbers."
        )
    if arr.dtype == np.float64:
        arr = arr.astype("float32")
    if arr.ndim == 0:
        raise NbmlError(f"{what} of '{spec}' is a scalar; it needs one row per sample.")
    return arr


def detect_task(y: np.ndarray, override: str | None = None) -> str:
    """Classification or regression, by SPEC §2's rules (or ``override``)."""
    if override:
        if override not in TASKS:
            raise NbmlError(f"--task must be one of {', '.join(TASKS)}, not '{override}'.")
        return override
    if is_one_hot(y):
        return "classification"
    if y.dtype.kind in "iubUSO":
        return "classification"
    return "regression"


def is_one_hot(y: np.ndarray) -> bool:
    if y.ndim != 2 or y.shape[1] < 2 or y.dtype.kind not in "iubf":
        return False
    sample = y[: min(len(y), 10_000)]
    return bool(np.isin(sample, (0, 1)).all() and (sample.sum(axis=1) == 1).all())


def _task(y_all: np.ndarray, kind: str, class_names: list[str] | None) -> Task:
    if kind == "regression":
        if y_all.dtype.kind in "USO":
            raise NbmlError("--task regression needs numeric labels; these are strings.")
        return Task("regression")
    if is_one_hot(y_all):
        k = y_all.shape[1]
        names = class_names or [str(i) for i in range(k)]
        return Task("classification", list(range(k)), names, one_hot=True)
    flat = y_all.reshape(-1) if y_all.ndim == 2 and y_all.shape[1] == 1 else y_all
    if flat.ndim != 1:
        raise NbmlError(
            f"Classification labels must be one per sample or one-hot rows; got shape "
            f"{y_all.shape}. Pass --task regression for multi-output targets."
        )
    if flat.dtype.kind == "f":
        if not np.all(np.isfinite(flat)) or not np.all(flat == np.round(flat)):
            raise NbmlError(
                "--task classification needs whole-number or string labels; these floats have "
                "fractions. Use --task regression, or convert the labels to classes."
            )
        flat = flat.astype("int64")
    classes = np.unique(flat).tolist()
    if class_names is None or len(class_names) != len(classes):
        class_names = [str(c) for c in classes]
    return Task("classification", classes, class_names)


def _finite_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """A mask of rows without NaN/inf, or None when every row is finite (the common case)."""
    with np.errstate(all="ignore"):
        # NaN and inf propagate through a sum: one pass, no temporary array.
        fine = all(a.dtype.kind != "f" or np.isfinite(np.sum(a)) for a in (x, y))
    if fine:
        return None
    ok = np.ones(len(x), dtype=bool)
    if x.dtype.kind == "f":
        ok &= np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if y.dtype.kind == "f":
        ok &= np.isfinite(y.reshape(len(y), -1)).all(axis=1)
    return ok


def _split(
    n: int, frac: float, seed: int, strat: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (and, when each class can be, stratified) index split: (keep, held_out)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    n_out = int(np.ceil(frac * n))
    if n_out < 1 or n - n_out < 1:
        raise NbmlError(
            f"A split of {frac} leaves no samples on one side of {n} rows; use a split between "
            "0 and 1 that leaves both parts non-empty, or 0 for none."
        )
    if strat is not None:
        _, counts = np.unique(strat, return_counts=True)
        k = len(counts)
        if counts.min() < 2 or n_out < k or n - n_out < k:
            strat = None
    keep, out = train_test_split(idx, test_size=n_out, random_state=seed, stratify=strat)
    return np.sort(keep), np.sort(out)


def _check_pair(x: np.ndarray, y: np.ndarray, spec: str, part: str) -> None:
    if len(x) != len(y):
        raise NbmlError(
            f"x and y of '{spec}'{part} have different lengths: {len(x)} samples but {len(y)} "
            "labels. Pass one label per sample."
        )
    if len(x) == 0:
        raise NbmlError(f"'{spec}'{part} has no samples.")


def prepare(
    raw: Raw,
    *,
    task: str | None = None,
    test_split: float = 0.2,
    validation_split: float = 0.2,
    seed: int = 0,
    clean: bool = False,
) -> Dataset:
    """Check arrays, detect the task, drop bad rows (``clean``) and split seeded."""
    for name, v in (("--test-split", test_split), ("--validation-split", validation_split)):
        if not 0 <= v < 1:
            raise NbmlError(f"{name} must be at least 0 and below 1, not {v}.")
    if raw.stream is not None:
        return _prepare_stream(raw, task)
    key = _key(raw, task, test_split, validation_split, seed, clean)
    if key is not None and key in _SPLITS:
        _SPLITS.move_to_end(key)
        return dataclasses.replace(_SPLITS[key])
    dataset = _prepare(raw, task, test_split, validation_split, seed, clean)
    if key is not None:
        _SPLITS[key] = dataset
        while len(_SPLITS) > _SPLITS_KEPT:
            _SPLITS.popitem(last=False)
    return dataclasses.replace(dataset)


#: The last few splits, reused when the same data is split the same way again (re-running a
#: %%train cell is the notebook workflow): no second copy of the arrays, same split.
_SPLITS: OrderedDict[tuple, Dataset] = OrderedDict()
_SPLITS_KEPT = 2


def _fingerprint(a: Any) -> Any:
    """Shape, dtype, a hash of a strided sample and the sum of ``a``: changes when it does."""
    if a is None:
        return None
    arr = np.asarray(a) if not hasattr(a, "to_numpy") else a.to_numpy()
    if arr.dtype == object:
        return None  # no cheap, reliable fingerprint: do not reuse
    flat = arr.reshape(-1)
    sample = np.ascontiguousarray(flat[:: max(1, flat.size // 4096)])
    digest = hashlib.blake2b(sample.tobytes(), digest_size=16).hexdigest()
    return (arr.shape, arr.dtype.str, digest, _checksum(flat))


def _checksum(flat: np.ndarray) -> Any:
    """A sum over every element: one pass at memory speed (the bits, when they allow)."""
    if flat.flags.c_contiguous and flat.nbytes % 8 == 0 and flat.dtype.kind in "iufb":
        # the bits as uint64 words, summed with wrap-around: exact, and no float rounding
        return int(np.add.reduce(flat.view(np.uint64)))
    return float(np.sum(flat)) if flat.dtype.kind in "iufb" else None


def _key(raw: Raw, *options: Any) -> tuple | None:
    parts = [_fingerprint(a) for a in (raw.x, raw.y, raw.x_test, raw.y_test)]
    if parts[0] is None or parts[1] is None:
        return None
    return (raw.spec, *parts, tuple(raw.class_names or ()), *options)


def _prepare(
    raw: Raw, task: str | None, test_split: float, validation_split: float, seed: int, clean: bool
) -> Dataset:
    x, y = _as_array(raw.x, "x", raw.spec), _as_array(raw.y, "y", raw.spec)
    _check_pair(x, y, raw.spec, "")
    xt = yt = None
    if raw.x_test is not None:
        xt, yt = (
            _as_array(raw.x_test, "x_test", raw.spec),
            _as_array(raw.y_test, "y_test", raw.spec),
        )
        _check_pair(xt, yt, raw.spec, " (test part)")
        if xt.shape[1:] != x.shape[1:]:
            raise NbmlError(
                f"x_test of '{raw.spec}' has samples shaped {xt.shape[1:]} but x has {x.shape[1:]}."
            )
    dropped = 0
    for part in ("train", "test"):
        a, b = (x, y) if part == "train" else (xt, yt)
        if a is None:
            continue
        ok = _finite_rows(a, b)
        bad = 0 if ok is None else int(len(ok) - ok.sum())
        if bad and not clean:
            raise NbmlError(
                f"{bad} rows of '{raw.spec}' contain NaN or infinite values. Pass --clean to "
                "drop them, or fill them in first."
            )
        if bad:
            dropped += bad
            a, b = a[ok], b[ok]
            if part == "train":
                x, y = a, b
            else:
                xt, yt = a, b
    y_all = y if yt is None else np.concatenate([y, yt])
    t = _task(y_all, detect_task(y_all, task), raw.class_names)
    y = _labels(y, t)
    yt = None if yt is None else _labels(yt, t)

    def strat(lab: np.ndarray) -> np.ndarray | None:
        if t.kind != "classification":
            return None
        return np.argmax(lab, axis=1) if t.one_hot else lab

    if xt is None and test_split > 0:
        keep, out = _split(len(x), test_split, seed, strat(y))
        x, y, xt, yt = x[keep], y[keep], x[out], y[out]
    xv = yv = None
    if validation_split > 0:
        keep, out = _split(len(x), validation_split, seed, strat(y))
        x, y, xv, yv = x[keep], y[keep], x[out], y[out]
    return Dataset(raw.spec, t, x, y, xv, yv, xt, yt, dropped=dropped)


def _labels(y: np.ndarray, t: Task) -> np.ndarray:
    """Labels as the model is fitted on them: one-hot floats, class indices, or floats."""
    if t.kind == "regression":
        return y.astype("float32")
    if t.one_hot:
        return y.astype("float32")
    return t.encode(y.reshape(-1) if y.ndim == 2 else y)


def prepare_eval(raw: Raw, t: Task) -> tuple[Any, Any]:
    """The part of ``raw`` to evaluate on (its test part, else all), labels encoded by ``t``."""
    if raw.stream is not None:
        return _gather_stream(raw)
    x, y = (raw.x_test, raw.y_test) if raw.x_test is not None else (raw.x, raw.y)
    x, y = _as_array(x, "x", raw.spec), _as_array(y, "y", raw.spec)
    _check_pair(x, y, raw.spec, "")
    return x, y


def _prepend(first: Any, rest: Any) -> Any:
    """A generator yielding ``first`` then the rest (Keras takes generators, not chains)."""
    yield first
    yield from rest


def _first_batch(obj: Any) -> tuple[Any, Any]:
    import keras

    batch = obj[0] if isinstance(obj, keras.utils.PyDataset) else next(iter(obj))
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise NbmlError("A data stream must yield (x, y) or (x, y, sample_weight) batches.")
    return np.asarray(batch[0]), np.asarray(batch[1])


def _prepare_stream(raw: Raw, task: str | None) -> Dataset:
    obj = raw.stream
    if isinstance(obj, types.GeneratorType):
        first = next(obj)
        obj = _prepend(first, obj)
        xb, yb = np.asarray(first[0]), np.asarray(first[1])
    else:
        xb, yb = _first_batch(obj)
    kind = detect_task(yb, task)
    t = _task(yb, kind, None) if kind == "regression" or is_one_hot(yb) else Task(kind)
    if kind == "classification" and not t.classes:
        # classes seen in the first batch only; integer labels index the model's outputs
        t.classes = list(range(int(np.max(yb)) + 1)) if yb.dtype.kind in "iu" else []
        t.class_names = [str(c) for c in t.classes]
    d = Dataset(raw.spec, t, stream=obj)
    d.x_train = xb  # one batch, for shape checks and preprocessing statistics
    return d


def _gather_stream(raw: Raw) -> tuple[np.ndarray, np.ndarray]:
    import keras

    obj = raw.stream
    batches = (obj[i] for i in range(len(obj))) if isinstance(obj, keras.utils.PyDataset) else obj
    xs, ys = [], []
    for i, b in enumerate(batches):
        xs.append(np.asarray(b[0]))
        ys.append(np.asarray(b[1]))
        if i > 100_000:
            raise NbmlError("The data stream did not end; evaluate on a finite dataset.")
    return np.concatenate(xs), np.concatenate(ys)
