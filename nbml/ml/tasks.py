"""Labels and the task they describe: classification, multi-label classification or regression.

:func:`as_labels` turns whatever holds the labels (a numpy array, a list, a pandas Series with an
extension dtype such as ``string``, ``category`` or nullable ``Int64``) into a plain numpy array
and a mask of the missing ones. :func:`detect_task` decides the task (the rules of README.md,
"Data and tasks"), :func:`make_task` the classes (for multi-label data: the labels, one per
column).

Rules beyond those, each ending in a correct result or an :class:`NbmlError` naming the fix:

- Missing labels (``None``, ``NaN``, ``pd.NA``) are rows that ``--clean`` drops; without it they
  are refused. A nullable integer column with missing values stays integer (classification).
- Labels mixing types (numbers and strings) are refused: nbml would have to guess.
- A single class is refused when training: a classifier needs at least two.
- Integer labels with more than :data:`MANY_CLASSES` different values that average fewer than two
  rows per value look like a quantity, not classes: refused, suggesting ``--task regression``
  (``--task classification`` keeps them as classes). String labels like that look like names or
  free text (the wrong ``--target`` column): refused the same way.
- Rows of 0s and 1s with at most one 1 per row, some of them all zeros, are refused: one-hot
  rows hold exactly one 1, and multi-label rows are recognised by a row with several. The
  message names the all-zero rows and ``--task multilabel`` (a sample may have no label) or
  ``--task regression``.
- Soft labels (rows of probabilities, e.g. smoothed one-hot rows) are floats that are not all 0
  or 1: a regression (``mse``, one output per column), by the rule for floats. A model the cell
  body compiles itself (say with ``categorical_crossentropy``) keeps its own loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import NbmlError

TASKS = ("classification", "multilabel", "regression")

#: Integer labels with more distinct values than this, and fewer than two rows per value on
#: average, are taken for a regression target mistaken for classes.
MANY_CLASSES = 20


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
        """Labels as class indices (classification) or float32 targets (regression).

        Classification takes the class values, one-hot rows of as many columns as there are
        classes, or (for classes that are not strings, such as iris's 0..2) the class names.
        """
        if self.kind == "regression":
            return np.asarray(y, dtype="float32")
        if self.kind == "multilabel":
            return self._label_rows(y)
        k = self.n_classes
        if y.ndim == 2 and y.shape[1] > 1:
            if y.shape[1] != k:
                raise NbmlError(
                    f"The labels are one-hot rows of {y.shape[1]} columns, but the model knows "
                    f"{k} classes ({self.class_names}). Evaluate on labels of the same classes."
                )
            return np.argmax(y, axis=1)
        y = y.reshape(-1)
        classes = np.asarray(self.classes)
        try:
            idx = np.clip(np.searchsorted(classes, y), 0, k - 1)
            ok = classes[idx] == y
        except TypeError:  # labels of another type than the classes
            ok, idx = np.zeros(len(y), dtype=bool), None
        if np.all(ok):
            return idx.astype("int64")
        if y.dtype.kind in "USO" and not self._strings:
            by_name = {name: i for i, name in enumerate(self.class_names)}
            if all(str(v) in by_name for v in y.tolist()):
                return np.array([by_name[str(v)] for v in y.tolist()], dtype="int64")
        bad = y[np.flatnonzero(~ok)[0]]
        bad = bad.item() if isinstance(bad, np.generic) else bad
        raise NbmlError(
            f"The labels contain {bad!r}, a class the model was not trained on (its classes "
            f"are {self.class_names}). Evaluate on data with the same classes."
        )

    def decode(self, idx: np.ndarray) -> np.ndarray:
        """Class indices back to the original label values.

        A model with more output units than classes can predict a unit that is no class: with
        classes ``0..k-1`` the unit's index is the label (as ``sparse_categorical_crossentropy``
        reads it); otherwise it has no label and this says so.
        """
        idx = np.asarray(idx)
        k = len(self.classes)
        out = idx[(idx < 0) | (idx >= k)] if idx.size else idx[:0]
        if out.size:
            if self.classes == list(range(k)):
                return idx
            raise NbmlError(
                f"The model predicted output unit {int(out[0])}, which is none of its {k} classes "
                f"({self.class_names}). End the model with Dense({k}, activation='softmax'), or "
                "pass --proba to see the raw outputs."
            )
        return np.asarray(self.classes, dtype=object if self._strings else None)[idx]

    def _label_rows(self, y: np.ndarray) -> np.ndarray:
        """Multi-label rows as an int64 0/1 matrix, one column per label of the model."""
        k = self.n_classes
        cols = y.shape[1] if y.ndim == 2 else 1
        if y.ndim != 2 or cols != k or not zero_one(y):
            raise NbmlError(
                f"The model is a multi-label classifier of {k} labels ({self.class_names}); these "
                f"labels are shaped {y.shape}{'' if zero_one(y) else ', not all 0 or 1'}. "
                f"Evaluate on rows of {k} 0s and 1s, one column per label."
            )
        return y.astype("int64")

    @property
    def _strings(self) -> bool:
        return any(isinstance(c, str) for c in self.classes)


# ---------------------------------------------------------------- labels as arrays


def _kind(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, (int, np.integer)):
        return "int"
    if isinstance(v, (float, np.floating)):
        return "float"
    if isinstance(v, (str, bytes)):
        return "str"
    return type(v).__name__


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, bytes, int, float, np.generic))


def unpandas(a: Any) -> Any:
    """A pandas Series/Index/array as numpy; extension dtypes (nullable, string, category)
    as an object array whose missing values are ``pd.NA``/``NaN``/``None``."""
    mod = type(a).__module__ or ""
    if not mod.startswith("pandas") or not hasattr(a, "dtype"):
        return a
    if isinstance(a.dtype, np.dtype):
        return a.to_numpy()
    return np.asarray(a.astype(object))


def as_labels(y: Any, what: str, spec: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``y`` as a numpy array, and a mask of its missing labels (None when none is missing)."""
    from .arrays import as_array

    if hasattr(y, "columns") and len(y.columns) == 1:  # a one-column DataFrame
        y = y.iloc[:, 0]
    if isinstance(y, (list, tuple)) and y and all(_scalar(v) for v in y[:1000]):
        y = np.asarray(y, dtype=object)  # numpy would make ["a", 1] two strings
    arr = as_array(unpandas(y), what, spec)
    if arr.dtype != object:
        return arr, None
    import pandas as pd

    missing = np.asarray(pd.isna(arr), dtype=bool)
    if arr.ndim != 1 or missing.all():
        if missing.all():
            return arr, missing
        raise NbmlError(
            f"{what} of '{spec}' is not a regular array of labels (shape {arr.shape}, mixed "
            "types). Pass one number or string per sample, or one-hot rows of numbers."
        )
    values = arr[~missing]
    kinds = sorted({_kind(v) for v in values.tolist()})
    if len(kinds) > 1 or kinds[0] not in ("bool", "int", "float", "str"):
        raise NbmlError(
            f"{what} of '{spec}' mixes label types ({', '.join(kinds)}). Give every label the "
            "same type, e.g. y.astype(str) for class names or y.astype(int) for class numbers."
        )
    typed = np.asarray(values.tolist())
    out = np.empty(arr.shape, dtype=typed.dtype)
    out[~missing] = typed
    if missing.any():
        out[missing] = typed[0] if len(typed) else 0
    return out, (missing if missing.any() else None)


# ---------------------------------------------------------------- the task


def detect_task(y: np.ndarray, override: str | None = None) -> str:
    """The task of labels ``y`` (or ``override``), by these rules, in order: rows of 0s and 1s
    where some row holds more than one 1 are multi-label; one-hot rows, and integer, boolean
    or string labels, are classification; other floats are regression (even whole numbers).
    """
    if override:
        if override not in TASKS:
            raise NbmlError(f"--task must be one of {', '.join(TASKS)}, not '{override}'.")
        return override
    ones = _ones_per_row(y)
    if ones is not None and ones.max(initial=0) > 1:
        return "multilabel"
    if is_one_hot(y):
        return "classification"
    if ones is not None and ones.min(initial=1) == 0:
        empty = np.flatnonzero(ones == 0)
        raise NbmlError(
            f"The labels are rows of 0s and 1s with at most one 1, but {len(empty)} of the "
            f"{len(y)} rows are all zeros (row {int(empty[0])} first): a one-hot row holds "
            "exactly one 1. Give those rows their class (or drop them), or pass --task "
            "multilabel if a sample may have no label or several, or --task regression."
        )
    if y.dtype.kind in "iubUSO":
        return "classification"
    return "regression"


def zero_one(y: np.ndarray) -> bool:
    """True when every value of ``y`` is 0 or 1 (False for strings and objects)."""
    if y.dtype.kind == "b":
        return True
    if y.dtype.kind not in "iuf":
        return False
    return bool(((y == 0) | (y == 1)).all())


def _ones_per_row(y: np.ndarray) -> np.ndarray | None:
    """The number of 1s in each row of 2-D labels of 0s and 1s (at least two columns), or None
    for any other labels. Reads every row: a multi-label row may come late."""
    if y.ndim != 2 or y.shape[1] < 2 or not zero_one(y):
        return None
    return np.count_nonzero(y, axis=1)


def is_multi_hot(y: np.ndarray) -> bool:
    """Rows of 0s and 1s where some row holds more than one 1: multi-label labels."""
    ones = _ones_per_row(y)
    return ones is not None and bool(ones.max(initial=0) > 1)


def is_one_hot(y: np.ndarray) -> bool:
    if y.ndim != 2 or y.shape[1] < 2 or y.dtype.kind not in "iubf":
        return False
    sample = y[: min(len(y), 10_000)]
    return bool(np.isin(sample, (0, 1)).all() and (sample.sum(axis=1) == 1).all())


def make_task(y_all: np.ndarray, kind: str, class_names: list[str] | None) -> Task:
    """The :class:`Task` of labels ``y_all`` (already known to be ``kind``)."""
    if y_all.dtype.kind not in "iufbUSO":
        raise NbmlError(
            f"Labels of dtype {y_all.dtype} are neither numbers nor classes. Convert them, e.g. "
            "to numbers with y.astype('int64') or to class names with y.astype(str)."
        )
    if kind == "regression":
        if y_all.dtype.kind in "USO":
            raise NbmlError("--task regression needs numeric labels; these are strings.")
        return Task("regression")
    if kind == "multilabel":
        return _multilabel_task(y_all, class_names)
    if is_one_hot(y_all):
        k = y_all.shape[1]
        names = class_names or [str(i) for i in range(k)]
        return Task("classification", list(range(k)), names, one_hot=True)
    flat = y_all.reshape(-1) if y_all.ndim == 2 and y_all.shape[1] == 1 else y_all
    if flat.ndim != 1:
        raise NbmlError(
            f"Classification labels must be one per sample or one-hot rows; got shape "
            f"{y_all.shape}. Pass --task multilabel for rows of 0s and 1s (several labels per "
            "sample), or --task regression for multi-output targets."
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


def _multilabel_task(y_all: np.ndarray, class_names: list[str] | None) -> Task:
    """The task of multi-label rows: one label per column, named by ``class_names`` when they
    are one per column."""
    if y_all.ndim != 2 or y_all.shape[1] < 2:
        raise NbmlError(
            f"--task multilabel needs one row of 0s and 1s per sample, one column per label (at "
            f"least two); these labels are shaped {y_all.shape}. For one yes/no label use "
            "--task classification."
        )
    if not zero_one(y_all):
        raise NbmlError(
            "--task multilabel needs labels of 0s and 1s (1: the sample has that label); these "
            "hold other values. Binarise them, e.g. (y > 0).astype('int64'), or use --task "
            "regression for numbers to predict."
        )
    k = y_all.shape[1]
    names = class_names if class_names and len(class_names) == k else [str(i) for i in range(k)]
    return Task("multilabel", list(range(k)), [str(n) for n in names])


def check_classes(t: Task, y_all: np.ndarray, spec: str, chosen: bool) -> None:
    """Refuse labels a classifier cannot learn from: one class, or a quantity (see module)."""
    if t.kind != "classification" or t.one_hot:
        return
    k, n = t.n_classes, len(y_all)
    if k < 2:
        raise NbmlError(
            f"The labels of '{spec}' have a single class ({t.class_names[0] if k else 'none'}): "
            "a classifier needs at least two. Check the labels (did a filter leave one class?), "
            "or pass --task regression if they are numbers to predict."
        )
    if chosen or k <= MANY_CLASSES or k * 2 <= n:
        return
    if y_all.dtype.kind in "USO":
        raise NbmlError(
            f"The labels of '{spec}' are {k} different strings over {n} rows (fewer than 2 rows "
            "per class): names or free text rather than classes. Check that --target names the "
            "label column, or pass --task classification if they really are classes."
        )
    if y_all.dtype.kind in "iu":
        raise NbmlError(
            f"The labels of '{spec}' are {k} different whole numbers over {n} rows: that looks "
            "like a quantity to predict, not classes (fewer than 2 rows per class). Pass "
            "--task regression, or --task classification if they really are classes."
        )
