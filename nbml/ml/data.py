"""Data for a run: check the arrays, detect the task, split seeded and stratified.

:mod:`nbml.ml.sources` turns a ``--data SPEC`` into arrays; :func:`prepare` makes a
:class:`Dataset` of them with seeded, stratified test and validation parts. Preprocessing is not
done here: it travels inside the model (see :mod:`nbml.ml.preprocessing`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
from collections import OrderedDict
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core import options
from ..core.errors import NbmlError
from ..core.options import check_split
from . import mapped, streams
from . import rows as _rows
from .arrays import as_array, as_source, same_index
from .sources import (
    SKLEARN_DATASETS,
    Raw,
    check_model_name,
    keras_cache_dir,
    keras_datasets,
    resolve,
)
from .tasks import TASKS, Task, as_labels, check_classes, detect_task, make_task

__all__ = [
    "SKLEARN_DATASETS",
    "TASKS",
    "Dataset",
    "Raw",
    "Task",
    "as_array",
    "check_model_name",
    "check_seed",
    "check_stream",
    "detect_task",
    "keras_cache_dir",
    "keras_datasets",
    "prepare",
    "prepare_eval",
    "resolve",
]


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

    @property
    def mapped(self) -> bool:
        """Its parts are rows of a memory-mapped array, read from disk as training goes."""
        return mapped.is_rows(self.x_train)


# ---------------------------------------------------------------- checking


def _split(
    n: int, frac: float, seed: int, strat: np.ndarray | None, option: str = "A split"
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (and, when each class can be, stratified) index split: (keep, held_out)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    n_out = int(np.ceil(frac * n))
    if n_out < 1 or n - n_out < 1:
        raise NbmlError(
            f"{option} {frac} of {n} rows leaves no samples on one side; use a split between "
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
    test_split: float | None = 0.2,
    validation_split: float | None = 0.2,
    seed: int = 0,
    clean: bool = False,
) -> Dataset:
    """Check arrays, detect the task, drop bad rows (``clean``) and split seeded."""
    test_split = check_split("--test-split", test_split)
    validation_split = check_split("--validation-split", validation_split)
    check_seed(seed)
    if raw.stream is not None:
        return _prepare_stream(raw, task)
    held = _HELD.get()
    same = (raw.spec, *map(id, (raw.x, raw.y, raw.x_test, raw.y_test)), task, test_split,
            validation_split, seed, clean)  # fmt: skip
    if held is not None and same in held:
        return dataclasses.replace(held[same][1])
    key = _key(raw, task, test_split, validation_split, seed, clean)
    if key is not None and key in _SPLITS:
        _SPLITS.move_to_end(key)
        dataset = _SPLITS[key]
    else:
        mark = key[1] if key is not None and raw.held else None
        dataset = _prepare(raw, task, test_split, validation_split, seed, clean, mark)
    if key is not None:
        _SPLITS[key] = dataset
        while len(_SPLITS) > _SPLITS_KEPT:
            _SPLITS.popitem(last=False)
    if held is not None:
        held[same] = (raw, dataset)  # raw is kept, so its arrays' ids stay theirs
    return dataclasses.replace(dataset)


#: Inside :func:`unchanged`: the splits made there, by the identity of the raw arrays.
_HELD: ContextVar[dict[tuple, tuple[Raw, Dataset]] | None] = ContextVar("nbml_held", default=None)


@contextlib.contextmanager
def unchanged() -> Iterator[None]:
    """The same data objects split the same way again in this block are not fingerprinted
    again (one pass over every element, 20-40 ms on 60,000 x 784): the caller says the data
    does not change while the block runs, as a sweep's trials, one cell, all train on it."""
    token = _HELD.set({})
    try:
        yield
    finally:
        _HELD.reset(token)


#: The last few splits, reused when the same data is split the same way again (re-running a
#: %%train cell is the notebook workflow): no second copy of the arrays, same split.
_SPLITS: OrderedDict[tuple, Dataset] = OrderedDict()
_SPLITS_KEPT = 2


def _fingerprint(a: Any) -> Any:
    """Shape, dtype, a hash of a strided sample and the sum of ``a``: changes when it does."""
    if a is None:
        return None
    if hasattr(a, "columns"):  # a DataFrame: each column (no copy of a column of numpy dtype)
        cols = tuple(_fingerprint(a[c]) for c in a.columns)
        return None if None in cols else (tuple(map(str, a.columns)), cols)
    if hasattr(a, "to_numpy") and isinstance(getattr(a, "dtype", None), np.dtype):
        a = a.to_numpy()  # a pandas Series of a numpy dtype
    if isinstance(a, np.memmap) and a.mode == "r" and a.filename:
        # a read-only mapped file: its name, place, size and time of change, not its contents
        st = os.stat(a.filename)
        place = a.__array_interface__["data"][0]
        return ("mapped", a.filename, place, a.shape, a.strides, a.dtype.str, st.st_mtime_ns,
                st.st_size)  # fmt: skip
    if not isinstance(a, np.ndarray):
        return None  # lists, extension dtypes: no cheap, reliable fingerprint; do not reuse
    arr = a
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


CLEAN_FIX = "Pass --clean to drop those rows, or fill them in first."
EVAL_FIX = "Drop or fill in those rows first (a prediction for them would mean nothing)."


def _part(raw: Raw, which: str, clean: bool, fix: str = CLEAN_FIX) -> tuple[Any, Any, Any, int]:
    """The checked training (``""``) or test (``"_test"``) part: its x as given (not converted:
    see :func:`as_source`), its labels, the rows kept (None: all; ``clean`` drops rows with
    NaN/inf features or targets, or a missing label) and how many rows were dropped."""
    what = " (test part)" if which else ""
    same_index(getattr(raw, f"x{which}"), getattr(raw, f"y{which}"), raw.spec, what)
    x = as_source(getattr(raw, f"x{which}"), f"x{which}", raw.spec)
    y, missing = as_labels(getattr(raw, f"y{which}"), f"y{which}", raw.spec)
    _check_pair(x, y, raw.spec, what)
    if missing is not None and not clean:
        raise NbmlError(
            f"{int(missing.sum())} labels of '{raw.spec}'{what} are missing (None, NaN or "
            f"pd.NA). {fix}"
        )
    ok = _rows.finite_rows(x, y)
    bad = 0 if ok is None else int(len(ok) - ok.sum())
    if bad and not clean:
        raise NbmlError(f"{bad} rows of '{raw.spec}'{what} contain NaN or infinite values. {fix}")
    if missing is not None:
        ok = ~missing if ok is None else ok & ~missing
    if ok is None:
        return x, y, None, 0
    if not ok.any():
        raise NbmlError(f"--clean dropped every row of '{raw.spec}'{what}: none is complete.")
    kept = np.flatnonzero(ok)
    return x, y[kept], kept, int(len(ok) - ok.sum())


def _prepare(
    raw: Raw,
    task: str | None,
    test_split: float,
    validation_split: float,
    seed: int,
    clean: bool,
    mark: Any = None,
) -> Dataset:
    """The checked, split dataset; ``mark``: the fingerprint of ``raw.x`` when a notebook
    variable holds it (its held-out test rows are then read from it, see :func:`_gather`)."""
    x, y, kept, dropped = _part(raw, "", clean)
    xt = yt = kept_t = None
    if raw.x_test is not None or raw.y_test is not None:
        if raw.x_test is None or raw.y_test is None:
            raise NbmlError(
                f"'{raw.spec}' has {'x_test' if raw.y_test is None else 'y_test'} without "
                f"{'y_test' if raw.y_test is None else 'x_test'}; give both, or neither (nbml "
                "then holds out --test-split of the data)."
            )
        xt, yt, kept_t, more = _part(raw, "_test", clean)
        dropped += more
        if _rows.sample_shape(xt) != _rows.sample_shape(x):
            raise NbmlError(
                f"x_test of '{raw.spec}' has samples shaped {_rows.sample_shape(xt)} but x has "
                f"{_rows.sample_shape(x)}."
            )
    y_all = y if yt is None else np.concatenate([y, yt])
    t = make_task(y_all, detect_task(y_all, task), raw.class_names)
    check_classes(t, y_all, raw.spec, chosen=task is not None)
    y = _labels(y, t)
    yt = None if yt is None else _labels(yt, t)

    def strat(lab: np.ndarray) -> np.ndarray | None:
        if t.kind != "classification":
            return None
        return np.argmax(lab, axis=1) if t.one_hot else lab

    # the parts as sorted row indices (into the complete rows), as two seeded splits choose them
    train, val, test = np.arange(len(y)), None, None
    if xt is None and test_split > 0:
        train, test = _split(len(y), test_split, seed, strat(y), "--test-split")
    if validation_split > 0:
        keep, out = _split(
            len(train), validation_split, seed, strat(y[train]), "--validation-split"
        )
        train, val = train[keep], train[out]
    held = mark if x is raw.x else None
    (x, y), (xv, yv), (x_test, y_test) = _gather(x, y, kept, [train, val, test], held)
    if xt is not None:
        x_test, y_test = _whole(xt, kept_t), yt
    return Dataset(raw.spec, t, x, y, xv, yv, x_test, y_test, dropped=dropped)


def _gather(
    x: Any, y: np.ndarray, kept: Any, parts: list[Any], mark: Any = None
) -> list[tuple[Any, Any]]:
    """The ``(x, y)`` of each part (row indices into the complete rows, or None): views of one
    permuted copy of the rows, converted to the dtype nbml trains on as it is filled (rows of the
    memory-mapped file, read as needed, for a mapped ``x``). One part of every row in order is
    ``x`` itself where it needs no conversion. With ``mark`` (the fingerprint of ``x``, which a
    notebook variable holds) the test part, the last, is not copied: its rows are read from
    ``x`` by ``%evaluate``, which refuses them if ``x`` changed since."""
    source = [None if p is None else (p if kept is None else kept[p]) for p in parts]
    if _rows.is_mapped(x):
        return [(None, None) if p is None else (mapped.Rows(x, s), y[p])
                for p, s in zip(parts, source, strict=True)]  # fmt: skip
    lazy = mark is not None and parts[-1] is not None and any(p is not None for p in parts[:-1])
    out = _copied(x, y, [*parts[:-1], None] if lazy else parts, source)
    if lazy:
        unchanged = lambda: _fingerprint(x) == mark  # noqa: E731
        out[-1] = (mapped.Rows(x, source[-1], unchanged), y[parts[-1]])
    return out


def _copied(x: Any, y: np.ndarray, parts: list[Any], source: list[Any]) -> list[tuple[Any, Any]]:
    """The parts given (not None) as views of one permuted copy of their rows ``source``."""
    given = [p for p in parts if p is not None]
    if len(given) == 1 and len(given[0]) == len(x):  # every row, in order
        return [(None, None) if p is None else (_whole(x, None), y) for p in parts]
    order = np.concatenate([s for p, s in zip(parts, source, strict=True) if p is not None])
    xs = _rows.take(x, order)
    ys = y[np.concatenate(given)]
    out, at = [], 0
    for p in parts:
        if p is None:
            out.append((None, None))
            continue
        out.append((xs[at : at + len(p)], ys[at : at + len(p)]))
        at += len(p)
    return out


def _whole(x: Any, kept: Any) -> Any:
    """All (kept) rows of ``x`` as trained on: ``x`` itself when no row is dropped and its
    dtype is the one trained on, else one converted copy (rows of the file, when mapped)."""
    if _rows.is_mapped(x):
        return mapped.Rows(x, kept)
    if kept is None and isinstance(x, np.ndarray) and x.dtype == _rows.row_dtype(x):
        return x
    return _rows.take(x, np.arange(len(x)) if kept is None else kept)


def _labels(y: np.ndarray, t: Task) -> np.ndarray:
    """Labels as the model is fitted on them: one-hot floats, class indices, or floats."""
    if t.kind == "regression":
        return y.astype("float32")
    if t.one_hot or t.kind == "multilabel":  # rows of 0s and 1s, fitted as floats
        return y.astype("float32")
    return t.encode(y.reshape(-1) if y.ndim == 2 else y)


def prepare_eval(raw: Raw, t: Task) -> tuple[Any, Any]:
    """The part of ``raw`` to evaluate on (its test part, else all), checked against ``t``:
    complete rows only (a prediction for NaN features means nothing), labels of its kind."""
    if raw.stream is not None:
        return streams.gather(raw.stream, raw.spec)
    which = "_test" if raw.x_test is not None else ""
    x, y, _, _ = _part(raw, which, False, EVAL_FIX)
    x = _whole(x, None)
    if t.kind == "regression" and y.dtype.kind not in "iufb":
        raise NbmlError(
            f"The labels of '{raw.spec}' are {y.dtype} values, but the model is a regression "
            "and predicts numbers. Evaluate on numeric targets."
        )
    return x, y


def check_seed(seed: Any) -> int:
    """``--seed``: a whole number from 0 to 2**32 - 1 (the rule of :mod:`nbml.core.options`)."""
    return options.check_seed("--seed", seed)


def check_stream(dataset: Dataset, epochs: int) -> None:
    """Refuse a training that a Python generator cannot feed (see :func:`streams.check_epochs`)."""
    if dataset.is_stream:
        streams.check_epochs(dataset.stream, dataset.spec, epochs)


def _prepare_stream(raw: Raw, task: str | None) -> Dataset:
    obj, xb, yb = streams.first_batch(raw.stream, raw.spec)
    d = Dataset(raw.spec, streams.stream_task(yb, task, raw.spec), stream=obj)
    d.x_train = xb  # one batch, for shape checks and preprocessing statistics
    return d
