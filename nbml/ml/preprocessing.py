"""Preprocessing as Keras layers, fitted on the training part only.

Normalisation and augmentation become layers in front of the user's model, so
``model.predict(raw_x)``, ``%evaluate``, ``%predict`` and a saved ``.keras`` file all see the
same pipeline (no train/serve skew). Augmentation layers are active only during training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import NbmlError, did_you_mean
from ..core.files import first_line
from . import rows

NORMALIZE = ("none", "minmax", "standard")
AUGMENT = ("flip", "rotate", "zoom", "shift")


def default_normalize(x: np.ndarray) -> str:
    """``minmax`` for image-shaped data (rank >= 3) of whole numbers, else ``none``."""
    if x is None or x.ndim < 3 or x.dtype.kind not in "iuf":
        return "none"
    if x.dtype.kind in "iu":
        return "minmax"
    sample = x[: min(len(x), 2_000)]
    return "minmax" if bool(np.all(sample == np.round(sample))) else "none"


def parse_augment(spec: str | list[str] | None) -> list[str]:
    if not spec:
        return []
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for item in (i.strip() for i in items):
        if item not in AUGMENT:
            raise NbmlError(
                f"Unknown augmentation '{item}'.{did_you_mean(item, AUGMENT)} "
                f"--augment takes a comma-separated list of: {', '.join(AUGMENT)}."
            )
        out.append(item)
    return out


def build_layers(
    x: np.ndarray, normalize: str, augment: list[str], seed: int | None = 0
) -> list[Any]:
    """The preprocessing layers for training data ``x`` (normalisation, then augmentation;
    ``seed`` None leaves the augmentation unseeded)."""
    import keras

    if normalize not in NORMALIZE:
        raise NbmlError(
            f"--normalize must be one of {', '.join(NORMALIZE)}, not '{normalize}'."
            f"{did_you_mean(normalize, NORMALIZE)}"
        )
    layers: list[Any] = []
    if normalize != "none":
        if x.dtype.kind not in "iuf":
            raise NbmlError(f"--normalize {normalize} needs numeric x, not {x.dtype}.")
        # Images get one scale for all pixels; tables one per feature column. One streaming
        # pass over the rows: no float32 copy of the whole part (a memory-mapped part is read
        # from disk a chunk at a time).
        axis = None if x.ndim >= 3 else tuple(range(x.ndim - 1))
        mean, var = rows.statistics(x, normalize, axis)
        layer_axis = None if x.ndim >= 3 else -1
        layers.append(
            keras.layers.Normalization(
                axis=layer_axis,
                mean=np.asarray(mean, "float32").tolist(),
                variance=np.asarray(var, "float32").tolist(),
                name=f"nbml_{normalize}",
            )
        )
    if augment:
        if x.ndim != 4:
            raise NbmlError(
                f"--augment needs image data shaped (samples, height, width, channels); x has "
                f"shape {x.shape}. Add a channel axis first, e.g. x[..., None]."
            )
        make = {
            "flip": lambda: keras.layers.RandomFlip("horizontal", seed=seed, name="nbml_flip"),
            "rotate": lambda: keras.layers.RandomRotation(0.08, seed=seed, name="nbml_rotate"),
            "zoom": lambda: keras.layers.RandomZoom(0.1, seed=seed, name="nbml_zoom"),
            "shift": lambda: keras.layers.RandomTranslation(0.1, 0.1, seed=seed, name="nbml_shift"),
        }
        augmenters = [make[a]() for a in augment]
        if keras.backend.backend() == "jax":
            # Keras marks these layers jit-unsafe for TensorFlow's image ops; under JAX they
            # compile fine, and without this the whole train step runs op by op (10-60x slower).
            for layer in augmenters:
                layer.supports_jit = True
        layers.extend(augmenters)
    return layers


def model_input_shape(model: Any) -> tuple | None:
    """The per-sample input shape a built model expects, or None when it is not built."""
    try:
        shape = model.input_shape
    except Exception:  # unbuilt Sequential, subclassed model
        return None
    if isinstance(shape, list):
        return None  # multi-input: leave the check to Keras
    return tuple(shape[1:])


def check_input(model: Any, sample_shape: tuple[int, ...]) -> None:
    """Raise a clear error when samples shaped ``sample_shape`` do not fit ``model``."""
    want = model_input_shape(model)
    if want is None:
        return
    fits = len(want) == len(sample_shape) and all(
        w is None or w == s for w, s in zip(want, sample_shape, strict=True)
    )
    if not fits:
        hint = ""
        if tuple(sample_shape) == tuple(want[1:]):
            hint = f" If it is one sample of shape {want}, pass a batch of one: x[None]."
        elif not sample_shape:
            hint = " The data is 1-D: for one number per sample pass x.reshape(-1, 1)."
        raise NbmlError(
            f"The data's samples have shape {tuple(sample_shape)} but the model expects input "
            f"shape {want}. Change the model's input (keras.Input(shape={tuple(sample_shape)}) "
            f"or a Flatten/Reshape layer), or reshape the data.{hint}"
        )


def attach(model: Any, layers: list[Any], sample_shape: tuple[int, ...], name: str) -> Any:
    """A model that runs ``layers`` then ``model``; ``model`` itself if there are none."""
    import keras

    check_input(model, sample_shape)
    if not layers:
        if model_input_shape(model) is None:
            _build(model, sample_shape)
        return model
    inputs = keras.Input(shape=sample_shape, name="nbml_input")
    h = inputs
    for layer in layers:
        h = layer(h)
    try:
        outputs = model(h)
    except Exception as e:
        raise _shape_error(sample_shape, e) from None
    return keras.Model(inputs, outputs, name=name)


def _build(model: Any, sample_shape: tuple[int, ...]) -> None:
    import keras

    try:
        if isinstance(model, keras.Sequential):
            model.build((None, *sample_shape))
        else:
            model(keras.Input(shape=sample_shape))
    except Exception as e:
        raise _shape_error(sample_shape, e) from None


def _shape_error(sample_shape: tuple[int, ...], e: Exception) -> NbmlError:
    detail = first_line(e)
    return NbmlError(
        f"The model cannot take samples shaped {tuple(sample_shape)}: {detail} "
        "Make the model's input match the data (a Flatten layer for images into Dense layers, "
        "or keras.Input(shape=...))."
    )
