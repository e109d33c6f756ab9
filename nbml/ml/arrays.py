"""Arrays from what the user passes: numpy arrays, lists, pandas objects, sparse matrices.

:func:`as_array` makes one numpy array of features or labels, or raises an :class:`NbmlError`
that names the fix (ragged samples, strings, sparse matrices, object arrays).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import NbmlError
from .sources import check_frame, frame_values


def as_array(a: Any, what: str, spec: str) -> np.ndarray:
    """``a`` as a numpy array (float64 as float32), or an :class:`NbmlError` naming the fix."""
    if what.startswith("x") and (type(a).__module__ or "").startswith("pandas"):
        a = frame_values(a, spec)
    arr = as_source(a, what, spec)
    if arr.dtype == np.float64 or (what.startswith("x") and arr.dtype.kind == "b"):
        arr = arr.astype("float32")
    return arr


def as_source(a: Any, what: str, spec: str) -> Any:
    """``a`` checked as :func:`as_array` checks it, but not converted: the user's numpy array
    itself (float64, booleans and memory-mapped arrays as they are, converted a chunk at a time
    where rows are read: :mod:`nbml.ml.rows`), or a pandas DataFrame or Series of numeric
    columns (features)."""
    if what.startswith("x") and (type(a).__module__ or "").startswith("pandas"):
        check_frame(a, spec)
        return a
    if hasattr(a, "toarray") and hasattr(a, "nnz"):
        raise NbmlError(
            f"{what} of '{spec}' is a sparse matrix; pass a dense array, {what}.toarray() "
            "(or a keras.utils.PyDataset that densifies one batch at a time)."
        )
    try:
        arr = np.asarray(a)
    except ValueError:
        raise NbmlError(_ragged(a, what, spec)) from None
    except Exception as e:
        raise NbmlError(f"{what} of '{spec}' cannot be made an array: {e}") from None
    if what.startswith("x"):
        arr = _features(arr, what, spec)
        if arr.ndim >= 2 and arr.size == 0 and len(arr):
            raise NbmlError(
                f"{what} of '{spec}' has no features: its samples have shape {arr.shape[1:]}. "
                "Pass at least one feature per sample."
            )
    if arr.ndim == 0:
        raise NbmlError(f"{what} of '{spec}' is a scalar; it needs one row per sample.")
    return arr


def _ragged(a: Any, what: str, spec: str) -> str:
    shapes: list[tuple] = []
    for item in list(a)[:10_000] if isinstance(a, (list, tuple)) else []:
        try:
            shape = np.shape(item)
        except ValueError:
            continue
        if shape not in shapes:
            shapes.append(shape)
        if len(shapes) == 2:
            break
    seen = f" ({shapes[0]} and {shapes[1]})" if len(shapes) == 2 else ""
    return (
        f"{what} of '{spec}' holds samples of different shapes{seen}, so it is not one array. "
        "Resize images to one size (e.g. keras.ops.image.resize) or pad sequences to one "
        "length (keras.utils.pad_sequences) first."
    )


def _object_numbers(arr: np.ndarray) -> np.ndarray | None:
    """An object array of numbers (``df.values`` of nullable columns) as float32, missing
    values (``None``, ``pd.NA``) as NaN; None when it holds anything else (strings, lists)."""
    import pandas as pd

    missing = np.asarray(pd.isna(arr), dtype=bool)
    if not all(isinstance(v, (int, float, np.number)) for v in arr[~missing].tolist()):
        return None
    out = np.empty(arr.shape, dtype="float32")
    out[~missing] = arr[~missing].astype("float32")
    out[missing] = np.nan
    return out


def _features(arr: np.ndarray, what: str, spec: str) -> np.ndarray:
    kind = arr.dtype.kind
    if kind in "iuf":
        return arr
    if kind == "b":
        return arr  # trained on as float32 (nbml.ml.rows.row_dtype)
    if kind == "O":
        numbers = _object_numbers(arr)
        if numbers is not None:
            return numbers
        raise NbmlError(
            f"{what} of '{spec}' is not a regular numeric array (ragged or mixed types). "
            "Pad sequences to one length (keras.utils.pad_sequences) or convert to numbers."
        )
    if kind in "US":
        raise NbmlError(
            f"{what} of '{spec}' holds strings; a model trains on numbers. Encode them first, "
            "e.g. with keras.layers.TextVectorization or StringLookup, or pandas.get_dummies."
        )
    raise NbmlError(
        f"{what} of '{spec}' has dtype {arr.dtype}; a model trains on numbers. Convert it, "
        "e.g. x.astype('float32')."
    )


def same_index(x: Any, y: Any, spec: str, what: str) -> None:
    """pandas x and y are paired by position: refuse them when their rows are not the same."""
    xi, yi = getattr(x, "index", None), getattr(y, "index", None)
    pandas = all((type(a).__module__ or "").startswith("pandas") for a in (x, y))
    if pandas and xi is not None and yi is not None and len(xi) == len(yi) and not xi.equals(yi):
        raise NbmlError(
            f"x and y of '{spec}'{what} are pandas objects whose row indexes differ (shuffled or "
            "filtered apart?), and nbml pairs rows by position. Align them first, e.g. "
            "y = y.loc[x.index]."
        )
