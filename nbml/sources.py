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

from .errors import NbmlError, did_you_mean

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


def resolve(spec: Any, namespace: dict[str, Any] | None = None, target: str | None = None) -> Raw:
    """Load a data spec (string) or data object into :class:`Raw` arrays."""
    if not isinstance(spec, str):
        return _from_object(spec, type(spec).__name__, target)
    s = spec.strip()
    if s.startswith("sklearn:"):
        return _sklearn(s[len("sklearn:") :])
    if s.startswith("keras:"):
        return _keras(s[len("keras:") :])
    low = s.lower()
    if low.endswith(".csv") or low.endswith(".npz"):
        return _file(s, target)
    if s.isidentifier() and not keyword.iskeyword(s):
        ns = namespace or {}
        if s not in ns:
            names = [k for k in ns if not k.startswith("_")]
            raise NbmlError(
                f"No variable named '{s}' in the notebook.{did_you_mean(s, names)} "
                "Define it first, or use a built-in dataset such as --data sklearn:digits."
            )
        return _from_object(ns[s], s, target)
    raise NbmlError(
        f"Cannot read the data spec '{s}'. Use a variable name, sklearn:NAME "
        f"({', '.join(SKLEARN_DATASETS)}), keras:NAME (mnist, fashion_mnist, cifar10, ...), "
        "or a path ending in .csv or .npz."
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
    try:
        from keras.src.backend.config import keras_home

        base = keras_home()
    except ImportError:  # pragma: no cover - older/newer Keras layouts
        base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(base, "datasets")


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
    if not os.path.exists(path):
        raise NbmlError(
            f"No file '{path}' (looked in {os.getcwd()}). Check the path, relative to the notebook."
        )
    if path.lower().endswith(".npz"):
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            if not {"x", "y"} <= keys:
                raise NbmlError(
                    f"{path} has arrays {sorted(keys)}; an npz for nbml needs arrays named "
                    "'x' and 'y' (and optionally 'x_test', 'y_test')."
                )
            get = lambda k: f[k] if k in keys else None  # noqa: E731
            return Raw(path, f["x"], f["y"], get("x_test"), get("y_test"))
    import pandas as pd

    return _from_frame(pd.read_csv(path), path, target)


def _from_frame(df: Any, spec: str, target: str | None) -> Raw:
    cols = [str(c) for c in df.columns]
    if target is None:
        raise NbmlError(
            f"{spec} is a table; say which column holds the labels with --target COLUMN "
            f"(columns: {', '.join(cols[:20])})."
        )
    if target not in df.columns:
        raise NbmlError(
            f"{spec} has no column '{target}'.{did_you_mean(target, cols)} "
            f"Its columns are: {', '.join(cols[:20])}."
        )
    x = df.drop(columns=[target])
    bad = [str(c) for c in x.columns if not np.issubdtype(x[c].dtype, np.number)]
    if bad:
        raise NbmlError(
            f"Feature columns {bad} of {spec} are not numeric. Encode them first, for example "
            "with pandas.get_dummies(df, columns=[...]), or drop them."
        )
    return Raw(spec, x.to_numpy(dtype="float32"), df[target].to_numpy())


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
