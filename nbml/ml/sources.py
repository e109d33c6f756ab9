"""Where data comes from: the ``--data SPEC`` forms, loaded into :class:`Raw` arrays.

A spec is a variable name, ``sklearn:NAME``, ``keras:NAME`` or a ``.csv``/``.npz`` path; the
Python API also takes the objects themselves (tuples, dicts, DataFrames, streams).
"""

from __future__ import annotations

import keyword
import os
import types
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..compat import keras as keras_compat
from ..core.errors import NbmlError, did_you_mean
from ..core.files import first_line
from . import mapped

SKLEARN_DATASETS = ("digits", "iris", "wine", "breast_cancer", "diabetes")


@dataclass
class Raw:
    """Arrays as loaded, before checks and splits."""

    spec: str
    x: Any
    y: Any
    x_test: Any = None
    y_test: Any = None
    class_names: list[str] | None = None
    stream: Any = None
    #: Loaded from a table (a DataFrame or CSV) or a .npy file, whose labels --target names.
    table: bool = False
    #: ``x`` is an array a notebook variable holds (``--data NAME`` of an ``(x, y)`` tuple or
    #: an ``{"x": ..., "y": ...}`` dict): its held-out test rows are read from it, not copied.
    held: bool = False


def resolve(spec: Any, namespace: dict[str, Any] | None = None, target: str | None = None) -> Raw:
    """Load a data spec (string) or data object into :class:`Raw` arrays."""
    raw = _resolve(spec, namespace, target)
    if target is not None and not raw.table:
        raise NbmlError(
            f"--target names the label column of a DataFrame or CSV file; '{raw.spec}' is not a "
            "table, its labels come with it. Leave out --target."
        )
    return raw


def _resolve(spec: Any, namespace: dict[str, Any] | None, target: str | None) -> Raw:
    if not isinstance(spec, str):
        return _from_object(spec, type(spec).__name__, target)
    s = spec.strip()
    if s.startswith("sklearn:"):
        return _sklearn(s[len("sklearn:") :])
    if s.startswith("keras:"):
        return _keras(s[len("keras:") :])
    low = s.lower()
    if low.endswith((".csv", ".npz", ".npy")):
        return _file(s, target)
    if s.isidentifier() and not keyword.iskeyword(s):
        ns = namespace or {}
        if s not in ns:
            names = [k for k in ns if not k.startswith("_")]
            raise NbmlError(
                f"No variable named '{s}' in the notebook.{did_you_mean(s, names)} "
                "Define it first, or use a built-in dataset such as --data sklearn:digits."
            )
        raw = _from_object(ns[s], s, target)
        raw.held = isinstance(ns[s], (tuple, list, dict)) and isinstance(raw.x, np.ndarray)
        return raw
    raise NbmlError(
        f"Cannot read the data spec '{s}'. Use a variable name, sklearn:NAME "
        f"({', '.join(SKLEARN_DATASETS)}), keras:NAME (mnist, fashion_mnist, cifar10, ...), "
        "or a path ending in .csv, .npz or .npy."
    )


def check_model_name(name: str, data: Any, ns: dict[str, Any]) -> None:
    """Refuse a model name whose binding would replace the user's data, a module or a built-in
    (``%%train x --data x`` would overwrite the data variable ``x`` with the model)."""
    import builtins

    import keras

    current = ns.get(name)
    if keyword.iskeyword(name):
        raise NbmlError(
            f"'{name}' is a Python keyword; name the model otherwise, e.g. {name}_model."
        )
    if isinstance(current, keras.Model):
        return  # a model trained again, or rebound to a new one
    spec = data.strip() if isinstance(data, str) else None
    if name in ns and (spec == name or (spec is None and data is not None and current is data)):
        raise NbmlError(
            f"Naming the model '{name}' would replace the data variable {name} with the model. "
            f"Give the model another name, e.g. %%train {name}_model --data {name}."
        )
    if isinstance(current, types.ModuleType):
        raise NbmlError(
            f"'{name}' is the module {current.__name__} in the notebook; naming the model so "
            f"would replace it. Give the model another name, e.g. {name}_model."
        )
    if hasattr(builtins, name) and (name not in ns or current is getattr(builtins, name)):
        raise NbmlError(
            f"'{name}' is a Python built-in; naming the model so would hide it in the notebook. "
            f"Give the model another name, e.g. {name}_model."
        )


def _sklearn(name: str) -> Raw:
    if name not in SKLEARN_DATASETS:
        raise NbmlError(
            f"Unknown scikit-learn dataset '{name}'.{did_you_mean(name, SKLEARN_DATASETS)} "
            f"The bundled ones are: {', '.join(SKLEARN_DATASETS)}."
        )
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    if name == "digits":
        x = bunch.images[..., None].astype("float32")
        return Raw(f"sklearn:{name}", x, bunch.target, class_names=[str(c) for c in range(10)])
    names = [str(n) for n in bunch.target_names] if "target_names" in bunch else None
    return Raw(f"sklearn:{name}", bunch.data.astype("float32"), bunch.target, class_names=names)


def keras_datasets() -> list[str]:
    import keras

    return sorted(n for n in dir(keras.datasets) if not n.startswith("_"))


def keras_cache_dir() -> str:
    """Where ``keras.datasets`` keeps its downloads (``$KERAS_HOME/datasets``)."""
    return os.path.join(keras_compat.keras_home(), "datasets")


def _keras(name: str) -> Raw:
    import keras

    available = keras_datasets()
    if name not in available:
        raise NbmlError(
            f"Unknown Keras dataset '{name}'.{did_you_mean(name, available)} "
            f"keras.datasets has: {', '.join(available)}."
        )
    cache = keras_cache_dir()
    try:
        (x, y), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    except Exception as e:  # offline, or a broken partial download
        raise NbmlError(
            f"keras:{name} is not cached in {cache} and could not be downloaded "
            f"({type(e).__name__}: {str(e)[:200]}). Connect once to download it, copy the file "
            "into that folder, or use an offline dataset such as --data sklearn:digits."
        ) from None
    return Raw(f"keras:{name}", x, y, x_test, y_test)


def _file(path: str, target: str | None) -> Raw:
    if "://" in path:
        raise NbmlError(
            f"'{path}' is a URL; nbml reads local files. Download it first, e.g. with "
            "keras.utils.get_file(origin=URL), and pass the file's path."
        )
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        raise NbmlError(
            f"No file '{path}' (looked in {os.getcwd()}). Check the path, relative to the notebook."
        )
    if os.path.isdir(path):
        raise NbmlError(f"'{path}' is a folder, not a file. Name the .csv or .npz file itself.")
    if path.lower().endswith(".npz"):
        return _npz(path)
    if path.lower().endswith(".npy"):
        return _npy(path, target)
    import pandas as pd

    try:
        # nullable dtypes: an integer column with a missing value stays integer (not float)
        df = pd.read_csv(path, dtype_backend="numpy_nullable")
        if len(df.columns) == 1 and any(sep in str(df.columns[0]) for sep in ";\t|"):
            df = pd.read_csv(path, sep=None, engine="python", dtype_backend="numpy_nullable")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        # EmptyDataError is a ValueError
        raise NbmlError(
            f"Could not read {path} as a CSV table ({first_line(e, 200)}). Check that it is a text table "
            "with a header row of column names, separated by commas."
        ) from None
    if len(df) == 0:
        raise NbmlError(f"{path} has a header row but no data rows. Check that it is the file.")
    return _from_frame(df, path, target)


def _npz(path: str) -> Raw:
    try:
        f = np.load(path, allow_pickle=False)
        with f:
            keys = set(f.files)
            if not {"x", "y"} <= keys:
                raise NbmlError(
                    f"{path} has arrays {sorted(keys)}; an npz for nbml needs arrays named "
                    "'x' and 'y' (and optionally 'x_test', 'y_test')."
                )
            # x and x_test stored uncompressed are mapped from the file, never read whole
            arrays = {
                k: (mapped.npz_member(path, k) if k.startswith("x") else None)
                for k in ("x", "y", "x_test", "y_test")
                if k in keys
            }
            arrays = {k: f[k] if a is None else a for k, a in arrays.items()}
    except (ValueError, OSError, EOFError) as e:
        raise NbmlError(
            f"Could not read {path} as an npz file of arrays ({first_line(e, 200)}). Write it with "
            "np.savez(path, x=x, y=y) from numeric or string arrays (no Python objects)."
        ) from None
    return Raw(path, arrays["x"], arrays["y"], arrays.get("x_test"), arrays.get("y_test"))


def _npy(path: str, target: str | None) -> Raw:
    """``PATH.npy`` memory-mapped as x, its labels from the ``.npy`` file ``--target`` names."""
    if target is None or not str(target).lower().endswith(".npy"):
        raise NbmlError(
            f"{path} holds the samples; say which .npy file holds their labels with --target "
            "LABELS.npy (one label per row), or save both in one file: np.savez(path, x=x, y=y)."
        )
    arrays = []
    for p in (path, os.path.expanduser(str(target))):
        if not os.path.isfile(p):
            raise NbmlError(f"No file '{p}' (looked in {os.getcwd()}). Check the path.")
        try:
            arrays.append(np.load(p, mmap_mode="r", allow_pickle=False))
        except (ValueError, OSError) as e:
            raise NbmlError(
                f"Could not read {p} as a .npy array ({first_line(e, 200)}). Write it with "
                "np.save(path, array) from a numeric array (no Python objects)."
            ) from None
    x, y = arrays
    return Raw(path, x, np.array(y), table=True)  # labels are small: read whole


def _from_frame(df: Any, spec: str, target: str | None) -> Raw:
    cols = [str(c) for c in df.columns]
    if target is None:
        raise NbmlError(
            f"{spec} is a table; say which column holds the labels with --target COLUMN "
            f"(columns: {', '.join(cols[:20])})."
        )
    if target not in df.columns and cols.count(str(target)) == 1:
        target = df.columns[cols.index(str(target))]  # --target 0 for a column named 0
    if target not in df.columns:
        raise NbmlError(
            f"{spec} has no column '{target}'.{did_you_mean(target, cols)} "
            f"Its columns are: {', '.join(cols[:20])}."
        )
    if list(df.columns).count(target) > 1:
        raise NbmlError(
            f"{spec} has {list(df.columns).count(target)} columns named '{target}'. Rename them "
            "so that the target column is one, e.g. df.columns = [...]."
        )
    x = df.drop(columns=[target])
    if len(x.columns) == 0:
        raise NbmlError(
            f"{spec} has no columns besides the target '{target}'; a model needs feature "
            "columns to learn from."
        )
    check_frame(x, spec)  # read a chunk of rows at a time where the split takes them
    return Raw(spec, x, df[target], table=True)


def _numeric(dtype: Any) -> bool:
    import pandas as pd

    if isinstance(dtype, pd.CategoricalDtype):
        return False
    return pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype)


def check_frame(obj: Any, spec: str) -> None:
    """Refuse a DataFrame (or Series) of features with non-numeric columns (strings,
    categories)."""
    cols = list(obj.items()) if hasattr(obj, "columns") else [(obj.name, obj)]
    bad = [str(c) for c, col in cols if not _numeric(col.dtype)]
    if bad:
        raise NbmlError(
            f"Feature columns {bad} of {spec} are not numeric. Encode them first, for example "
            "with pandas.get_dummies(df, columns=[...]), or drop them."
        )


def frame_values(obj: Any, spec: str) -> np.ndarray:
    """The numbers of a DataFrame (or Series) of features as float32, missing ones (``pd.NA``,
    ``None``) as NaN; non-numeric columns (strings, categories) are refused."""
    check_frame(obj, spec)
    return obj.to_numpy(dtype="float32", na_value=np.nan)


def _is_stream(obj: Any) -> bool:
    mod = type(obj).__module__ or ""
    if isinstance(obj, types.GeneratorType):
        return True
    if mod.startswith("tensorflow") and hasattr(obj, "element_spec"):
        return True
    try:
        import keras

        return isinstance(obj, keras.utils.PyDataset)
    except ImportError:  # pragma: no cover - keras is a dependency
        return False


def _from_object(obj: Any, spec: str, target: str | None) -> Raw:
    mod = type(obj).__module__ or ""
    if mod.startswith("pandas") and hasattr(obj, "columns"):
        return _from_frame(obj, spec, target)
    if isinstance(obj, dict):
        if not {"x", "y"} <= set(obj):
            raise NbmlError(
                f"The dict '{spec}' has keys {sorted(map(str, obj))}; nbml needs keys 'x' and 'y' "
                "(and optionally 'x_test', 'y_test')."
            )
        return Raw(spec, obj["x"], obj["y"], obj.get("x_test"), obj.get("y_test"))
    if isinstance(obj, (tuple, list)) and len(obj) == 2:
        a, b = obj
        if all(isinstance(p, (tuple, list)) and len(p) == 2 for p in (a, b)):
            return Raw(spec, a[0], a[1], b[0], b[1])
        return Raw(spec, a, b)
    if _is_stream(obj):
        return Raw(spec, None, None, stream=obj)
    hint = " (a single array has no labels)" if hasattr(obj, "shape") else ""
    raise NbmlError(
        f"'{spec}' is a {type(obj).__name__}{hint}. Pass (x, y), ((x_train, y_train), "
        "(x_test, y_test)), a dict with 'x' and 'y', a DataFrame with --target, or a "
        "PyDataset / tf.data.Dataset / generator."
    )
