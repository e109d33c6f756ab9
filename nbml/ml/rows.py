"""Rows of the data read a chunk at a time, so that no step holds a second whole array.

A split's parts are filled in by :func:`take` (one new array, chunk by chunk, converted to the
dtype nbml trains on as it is filled: no float64 or other whole-array temporaries); the checks for
NaN/inf (:func:`finite_rows`) and the normalisation statistics (:func:`statistics`) read the data
in one streaming pass. The sources are numpy arrays (memory-mapped ones too: see
:mod:`nbml.ml.mapped`) and pandas DataFrames (their numeric columns, read a chunk of rows at a
time).
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from typing import Any

import numpy as np

#: About how many bytes one chunk of rows holds.
CHUNK_BYTES = 16 << 20


def is_frame(a: Any) -> bool:
    """A pandas DataFrame or Series."""
    return (type(a).__module__ or "").startswith("pandas") and hasattr(a, "iloc")


def is_mapped(a: Any) -> bool:
    """An array whose memory is a mapped file (``np.load(path, mmap_mode="r")``, a view of one)."""
    base = a
    for _ in range(64):
        if isinstance(base, mmap.mmap):
            return True
        base = getattr(base, "base", None)
        if base is None:
            return False
    return False


def row_dtype(a: Any) -> np.dtype:
    """The dtype a model trains on for ``a``: float32 for floats64, booleans and tables."""
    if is_frame(a):
        return np.dtype("float32")
    dt = np.dtype(a.dtype)
    return np.dtype("float32") if dt == np.float64 or dt.kind == "b" else dt


def sample_shape(a: Any) -> tuple[int, ...]:
    if is_frame(a):
        return (a.shape[1],) if a.ndim == 2 else ()
    return tuple(a.shape[1:])


def chunk_rows(a: Any) -> int:
    """Rows per chunk: about :data:`CHUNK_BYTES` of them (at least one)."""
    per_row = int(np.prod(sample_shape(a), dtype=np.int64)) * max(row_dtype(a).itemsize, 8)
    return max(1, CHUNK_BYTES // max(per_row, 1))


def read(a: Any, which: Any, dtype: Any = None) -> np.ndarray:
    """Rows ``which`` (a slice or an index array) of ``a``, as ``dtype`` (its training dtype)."""
    dtype = row_dtype(a) if dtype is None else np.dtype(dtype)
    if is_frame(a):
        return a.iloc[which].to_numpy(dtype=dtype, na_value=np.nan)
    return np.asarray(a[which]).astype(dtype, copy=False)


def take(a: Any, index: np.ndarray, dtype: Any = None, out: np.ndarray | None = None) -> np.ndarray:
    """Rows ``index`` of ``a`` as ``dtype``, filled a chunk at a time into ``out`` (by default
    a new array)."""
    dtype = row_dtype(a) if dtype is None else np.dtype(dtype)
    if out is None:
        out = np.empty((len(index), *sample_shape(a)), dtype)
    step = chunk_rows(a)
    direct = isinstance(a, np.ndarray) and a.dtype == dtype
    for i in range(0, len(index), step):
        part = index[i : i + step]
        if direct:
            np.take(a, part, axis=0, out=out[i : i + len(part)], mode="clip")
        else:
            out[i : i + len(part)] = read(a, part, dtype)
    return out


def chunks(a: Any, dtype: Any = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, rows)`` over all of ``a`` in order, a chunk at a time, as ``dtype``."""
    step = chunk_rows(a)
    for i in range(0, len(a), step):
        yield i, read(a, slice(i, i + step), dtype)


def finite_rows(x: Any, y: np.ndarray) -> np.ndarray | None:
    """A mask of rows without NaN/inf in ``x`` (as trained on) or ``y``, or None when every row
    is finite (the common case), in one pass over ``x`` without whole-array temporaries."""
    ok: np.ndarray | None = None
    if row_dtype(x).kind == "f":
        for start, part in chunks(x):
            with np.errstate(all="ignore"):
                if np.isfinite(np.sum(part)):  # NaN and inf propagate through a sum
                    continue
            if ok is None:
                ok = np.ones(len(x), dtype=bool)
            ok[start : start + len(part)] = np.isfinite(part.reshape(len(part), -1)).all(axis=1)
    if y.dtype.kind == "f":
        with np.errstate(all="ignore"):
            fine = np.isfinite(np.sum(y))
        if not fine:
            good = np.isfinite(y.reshape(len(y), -1)).all(axis=1)
            ok = good if ok is None else ok & good
    return ok


def statistics(x: Any, normalize: str, axis: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, variance)`` of a Normalization layer for ``normalize`` (``minmax``: the minimum
    and the squared span; ``standard``: the mean and variance), over ``axis`` (None: one value
    for all), in one streaming pass over the rows of ``x``."""
    over = None if axis is None else (tuple(axis) or (0,))
    if normalize == "minmax":
        lo = hi = None
        for _, part in chunks(x, "float32"):
            a, b = np.min(part, axis=over), np.max(part, axis=over)
            lo, hi = (a, b) if lo is None else (np.minimum(lo, a), np.maximum(hi, b))
        span = np.where(hi - lo > 0, hi - lo, 1.0)
        return np.asarray(lo, "float32"), np.asarray(span**2, "float32")
    n, mean, m2 = 0, 0.0, 0.0
    for _, part in chunks(x, "float32"):
        k = part.size if over is None else len(part)
        mu = np.mean(part, axis=over, dtype=np.float64)
        sq = np.sum(np.square(part - mu, dtype=np.float64), axis=over)
        delta = mu - mean
        total = n + k
        mean = mean + delta * (k / total)
        m2 = m2 + sq + delta**2 * (n * k / total)
        n = total
    var = m2 / max(n, 1)
    var = np.where(var > 0, var, 1.0)
    return np.asarray(mean, "float32"), np.asarray(var, "float32")
