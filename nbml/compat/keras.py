"""What nbml borrows from Keras's private parts, each with its fallback.

Every name here is one Keras does not document. Each function says what it borrows, what it is
for and what happens when a Keras release moves it (``tests/test_compat.py`` fails then, and the
fallback keeps users' runs going). Nothing else in nbml touches Keras's private names.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any


def reset_seed_state(value: int) -> bool:
    """Leave Keras's own seed state as ``keras.utils.set_random_seed(value)`` does: ``value``
    as the seed Keras reports having been set (``rng_utils.get_random_seed``) and no global ``SeedGenerator``, so
    the next ``keras.random`` call without a seed starts afresh from ``value``. Borrows
    ``keras.src``'s global state. Returns False (nothing done) where Keras has moved it; the
    caller then uses ``keras.utils.set_random_seed`` itself."""
    try:
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils import rng_utils
    except ImportError:
        return False
    names = (getattr(rng_utils, "GLOBAL_RANDOM_SEED", None),
             getattr(seed_generator, "GLOBAL_SEED_GENERATOR", None))  # fmt: skip
    if not all(isinstance(n, str) for n in names):
        return False
    global_state.set_global_attribute(names[0], value)
    global_state.set_global_attribute(names[1], None)
    return True


def build_for_fit(model: Any, x: Any, y: Any) -> bool:
    """Build ``model``'s layers, compiled metrics and loss from one batch as ``fit`` would
    (``Trainer._symbolic_build``; a no-op when all is built). ``fit`` builds an unbuilt model
    by peeking at a shuffled batch, which draws from numpy's generator; building first keeps
    the draws of ``--steps-per-execution auto`` and ``1`` the same. False where Keras moved it:
    ``fit`` then builds the model itself (correct, but auto and 1 may shuffle differently)."""
    build = getattr(model, "_symbolic_build", None)
    if build is None:
        return False
    build(data_batch=(x, y))
    return True


def jax_state(model: Any) -> Any:
    """The state tuple a JAX train function takes (``JAXTrainer._get_jax_state``), without
    purging the model's variables; AttributeError naming the missing method when Keras moved
    it (the caller then trains at one batch per call)."""
    get = getattr(model, "_get_jax_state", None)
    if get is None:
        raise AttributeError("keras moved JAXTrainer._get_jax_state")
    return get(
        trainable_variables=True,
        non_trainable_variables=True,
        optimizer_variables=True,
        metrics_variables=True,
        purge_model_variables=False,
    )


def forget_eval_iterator(model: Any) -> None:
    """Drop the evaluation iterator ``fit`` keeps between epochs (``_eval_epoch_iterator``),
    made for the old ``steps_per_execution``; nothing to do where Keras keeps none."""
    if getattr(model, "_eval_epoch_iterator", None) is not None:
        model._eval_epoch_iterator = None


def wrap_step(model: Any, step: Callable[..., Any]) -> Any | None:
    """``fit``'s train function around a jitted ``step`` (``JAXTrainer._make_function``, which
    runs it ``steps_per_execution`` times per call); None where Keras moved it (the caller
    then compiles Keras's own)."""
    make = getattr(model, "_make_function", None)
    return None if make is None else make(step)


def optimizer_rate(optimizer: Any) -> Any:
    """What the optimizer reads its rate from (``_learning_rate``: the variable, or a
    schedule), untouched by the public setter's conversions."""
    if not hasattr(optimizer, "_learning_rate"):
        raise AttributeError(
            f"{type(optimizer).__name__} keeps no _learning_rate: this Keras moved it, and the "
            "learning-rate finder cannot drive the rate (please report your Keras version)"
        )
    return optimizer._learning_rate


def set_optimizer_rate(optimizer: Any, rate: Any) -> None:
    """Swap what the optimizer reads its rate from (a schedule, or the variable back) without
    the public setter, which would untrack the rate variable."""
    optimizer_rate(optimizer)  # the same check
    optimizer._learning_rate = rate


def is_default_hook(method: Any) -> bool:
    """Whether ``method`` is ``keras.callbacks.Callback``'s own no-op hook (Keras marks them
    ``_is_default``). Where Keras stops marking them every hook counts as real: nbml then
    gives ``fit`` Keras's own callback list (correct, a little slower)."""
    return bool(getattr(method, "_is_default", False))


def compile_arguments(model: Any) -> dict[str, Any] | None:
    """The arguments ``model`` was last compiled with (``_compile_config``), or None when it
    is not compiled or Keras keeps them elsewhere."""
    config = getattr(model, "_compile_config", None)
    if not getattr(model, "compiled", False) or config is None:
        return None
    return dict(getattr(config, "config", {}) or {}) or None


def pythonify_logs(logs: Any) -> dict[str, Any]:
    """The logs as Keras's callbacks get them: floats, nested dicts flattened
    (``keras.src.utils.python_utils.pythonify_logs``, or the same rule here)."""
    try:
        from keras.src.utils.python_utils import pythonify_logs as keras_own
    except ImportError:
        return _pythonify(logs)
    return keras_own(logs)


def _pythonify(logs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            out.update(_pythonify(value))
            continue
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            out[key] = value
    return out


def keras_home() -> str:
    """Keras's folder (``$KERAS_HOME``, else ``~/.keras``) as Keras itself works it out."""
    try:
        from keras.src.backend.config import keras_home as keras_own
    except ImportError:
        return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return keras_own()


def model_bytes(model: Any) -> bytes:
    """``model``'s ``.keras`` file in memory (``saving_lib.save_model`` into a buffer); where
    Keras moved it, through a file in a temporary folder."""
    try:
        from keras.src.saving import saving_lib
    except ImportError:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.keras")
            model.save(path)
            with open(path, "rb") as f:
                return f.read()
    buffer = io.BytesIO()
    with no_tensorflow_import():
        saving_lib.save_model(model, buffer)
    return buffer.getvalue()


def model_config(obj: Any) -> dict[str, Any]:
    """``obj.get_config()`` (a model's, an optimizer's), without the serialiser importing
    TensorFlow (see below)."""
    with no_tensorflow_import():
        return obj.get_config()


def serialize_layer(layer: Any) -> dict[str, Any]:
    """``keras.layers.serialize(layer)``, without the serialiser importing TensorFlow."""
    import keras

    with no_tensorflow_import():
        return keras.layers.serialize(layer)


def clone_model(model: Any) -> Any:
    """``keras.models.clone_model(model)`` (which serialises each layer's settings), without
    the serialiser importing TensorFlow."""
    import keras

    with no_tensorflow_import():
        return keras.models.clone_model(model)


class _Absent:
    available = False


#: One serialisation at a time may tell the serialiser TensorFlow is absent (and put it back).
_serialiser = threading.RLock()


@contextlib.contextmanager
def no_tensorflow_import() -> Iterator[None]:
    """Keras's serialiser asks whether TensorFlow is available (to convert a ``TensorShape``),
    which imports it where it is installed: about 500 MB of the kernel's memory for a model
    saved on JAX (measured: benchmarks/memory.py). Where TensorFlow was never imported no
    object is a ``TensorShape``, so the serialiser is told it is absent while it runs."""
    from keras.src.saving import serialization_lib

    with _serialiser:
        lazy = getattr(serialization_lib, "tf", None)
        if (
            "tensorflow" in sys.modules
            or lazy is None
            or isinstance(lazy, _Absent)  # told already, further up this thread
            or getattr(lazy, "_available", None)
        ):
            yield
            return
        serialization_lib.tf = _Absent()
        try:
            yield
        finally:
            serialization_lib.tf = lazy
