"""Saving a model as a ``.keras`` file, or exporting it for serving (``%save --format``).

``keras`` writes the native file (the model, its preprocessing layers and optimizer state).
``saved_model`` writes a TensorFlow SavedModel folder for TF Serving through
``model.export``; ``onnx`` writes an ``.onnx`` file where the Keras backend can. Each says
exactly what to install when a package it needs is missing.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from .errors import NbmlError, did_you_mean

FORMATS = ("keras", "saved_model", "onnx")

#: What ``model.export(format="onnx")`` needs, per Keras backend.
ONNX_NEEDS = {"jax": ["jax2onnx"], "tensorflow": ["tf2onnx"], "torch": ["onnx", "onnxscript"]}


def _missing(packages: list[str]) -> list[str]:
    return [p for p in packages if importlib.util.find_spec(p) is None]


def default_path(name: str, store_path: str, format: str) -> str:
    """Where ``%save NAME`` puts the model without a PATH: ``<store>/saved/...``."""
    tail = {"keras": f"{name}.keras", "saved_model": f"{name}_saved_model", "onnx": f"{name}.onnx"}
    return os.path.join(store_path, "saved", tail[format])


def save(model: Any, name: str, path: str | None, store_path: str, format: str = "keras") -> str:
    """Save or export ``model`` (known as ``name``) as ``format``; returns the path.

    Raises:
        NbmlError: an unknown format, a path that does not fit it, or a missing package
            (the message names the ``pip install`` command).
    """
    if format not in FORMATS:
        raise NbmlError(
            f"--format must be one of {', '.join(FORMATS)}, not '{format}'."
            f"{did_you_mean(format, FORMATS)}"
        )
    path = path or default_path(name, store_path, format)
    if format == "keras" and not path.endswith(".keras"):
        raise NbmlError(f"Keras saves models to files ending in .keras; got '{path}'.")
    if format == "onnx" and not path.endswith(".onnx"):
        raise NbmlError(f"An ONNX export is one file ending in .onnx; got '{path}'.")
    if format == "saved_model" and path.endswith((".keras", ".onnx", ".h5")):
        raise NbmlError(
            f"A SavedModel is a folder, not a file like '{path}'; give a folder name such as "
            f"{name}_saved_model."
        )
    if format == "saved_model" and _missing(["tensorflow"]):
        raise NbmlError(
            "Exporting a SavedModel for TF Serving needs TensorFlow, which is not installed. "
            "Install it with: pip install nbml[tensorflow] (or pip install tensorflow-cpu), "
            "then restart the kernel. Training can stay on the current Keras backend."
        )
    if format == "onnx":
        _check_onnx()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if format == "keras":
        model.save(path)
        return path
    try:
        model.export(
            path, format="tf_saved_model" if format == "saved_model" else "onnx", verbose=False
        )
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise NbmlError(f"Keras could not export {name} as {format}: {detail}") from None
    return path


def _check_onnx() -> None:
    import keras

    backend = keras.backend.backend()
    needs = ONNX_NEEDS.get(backend)
    if needs is None:
        raise NbmlError(
            f"Keras cannot export ONNX from the {backend} backend. Start the kernel with "
            "KERAS_BACKEND set to jax, tensorflow or torch to export ONNX, or save as .keras."
        )
    missing = _missing(needs)
    if missing:
        raise NbmlError(
            f"Exporting ONNX from the {backend} backend needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed. Install with: pip install "
            f"{' '.join(missing)}, then restart the kernel."
        )
