"""Saving a model as a ``.keras`` file, or exporting it for serving (``%save --format``).

``keras`` writes the native file (the model, its preprocessing layers and optimizer state).
``saved_model`` writes a TensorFlow SavedModel folder for TF Serving through
``model.export``; ``onnx`` writes an ``.onnx`` file where the Keras backend can. Each says
exactly what to install when a package it needs is missing.

Nothing is written in place (docs/reference.md#runs-and-the-store): the model is serialised in
memory (an export goes to a temporary folder beside the target), then written beside the target and
renamed over it, so a save that fails, for any reason, leaves an earlier file as it was. ``~`` is
the home folder. Every failure is an :class:`NbmlError` naming the problem and the fix.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import shutil
import tempfile
from typing import Any

from ..core import files
from ..core.errors import NbmlError, did_you_mean

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
    path = os.path.expanduser(path or default_path(name, os.path.expanduser(store_path), format))
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
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        if format == "keras":
            files.write_atomic(path, _serialise(model, name))
            files.clean_parts(folder, prefix=os.path.basename(path))  # a killed save's leftovers
        else:
            _export(model, name, path, format)
    except OSError as exc:
        raise NbmlError(_cannot_write(name, path, exc)) from None
    return path


def _serialise(model: Any, name: str) -> bytes:
    try:
        return files.serialise(model)
    except Exception as exc:
        raise NbmlError(
            f"Keras cannot save {name}: {files.reason(exc)} A subclassed model needs a "
            "get_config() method (returning its __init__ arguments) to be saved as .keras; or "
            f"keep its weights with {name}.save_weights('{name}.weights.h5'). Nothing was written."
        ) from None


def _export(model: Any, name: str, path: str, format: str) -> None:
    """Export into a temporary folder beside ``path``, then rename the result into place."""
    work = tempfile.mkdtemp(
        prefix=f".{os.path.basename(path)}.",
        suffix=".part",
        dir=os.path.dirname(os.path.abspath(path)),
    )
    try:
        out = os.path.join(work, os.path.basename(path))
        try:
            model.export(
                out, format="tf_saved_model" if format == "saved_model" else "onnx", verbose=False
            )
        except OSError:
            raise
        except Exception as exc:
            raise NbmlError(
                f"Keras could not export {name} as {format}: {files.reason(exc, 300)}"
            ) from None
        if os.path.isdir(path):  # an earlier SavedModel: moved aside until the new one is in
            old = os.path.join(work, "previous")
            os.replace(path, old)
            try:
                os.replace(out, path)
            except OSError:
                os.replace(old, path)
                raise
        else:
            os.replace(out, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _cannot_write(name: str, path: str, exc: OSError) -> str:
    """What went wrong writing ``path``, and what to do, in one sentence or two."""
    blocker = _file_in_the_way(path)
    if blocker:
        return (
            f"Cannot save {name} to {path}: {blocker} is a file, not a folder. Give a path in a "
            f"folder, such as {name}.keras or models/{name}.keras."
        )
    if os.path.isdir(path) and not path.endswith("_saved_model"):
        return f"Cannot save {name} to {path}: that is a folder. Give a file name ending in .keras."
    why = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"Cannot save {name} to {path}: the folder {os.path.dirname(os.path.abspath(path))} "
            f"is not writable ({why}). Save somewhere you can write, such as "
            f"~/{name}.keras; an earlier file there is unchanged."
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"Cannot save {name} to {path}: the disk is full ({why}). Free some space or save "
            "on another disk; an earlier file there is unchanged."
        )
    return f"Cannot save {name} to {path}: {why}. An earlier file there is unchanged."


def _file_in_the_way(path: str) -> str:
    """The first folder of ``path`` that is a file, or ""."""
    folder = os.path.dirname(os.path.abspath(path))
    while folder and not os.path.exists(folder):
        folder = os.path.dirname(folder)
    return folder if os.path.isfile(folder) else ""


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
