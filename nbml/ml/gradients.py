"""The gradient of a model's training loss on one batch, with the backend's own autodiff.

Computed in inference mode (no dropout, no moving-statistics update) on the model's weights as
they are now; nothing is written back: the weights, the optimizer's state, the variables'
``.grad`` (torch) and every random generator are left as they were, so training with the
inspector on gives the same losses as with it off. JAX differentiates
``model.stateless_call`` (:mod:`nbml.ml.probe_jax`); TensorFlow records a
``GradientTape``; torch asks ``torch.autograd.grad`` (never ``.backward()``, whose ``.grad``
the next train step would see).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class NoGradient(Exception):
    """The gradient cannot be computed for this model; the message says why."""


def loss_function(model: Any) -> Callable[[Any, Any], Any]:
    """The loss ``model`` was compiled with, as a function of ``(y_true, y_pred)``."""
    import keras

    loss = getattr(model, "loss", None)
    if loss is None:
        raise NoGradient("the model is not compiled")
    if isinstance(loss, (dict, list, tuple)):
        raise NoGradient("a model with several losses")
    fn = keras.losses.get(loss) if isinstance(loss, str) else loss
    if not callable(fn):
        raise NoGradient(f"its loss {loss!r} is not callable")
    return fn


def squared_norms(model: Any, x: Any, y: Any) -> list[Any]:
    """Per trainable variable (``model.trainable_variables`` order), the squared L2 norm of
    the loss's gradient on ``(x, y)``: a float, or None for a variable the loss does not
    depend on. Raises :class:`NoGradient` (with the reason) when none can be computed.
    TensorFlow and torch; on JAX :func:`nbml.ml.probe_jax.compile_probe` computes it from a
    copy of the weights."""
    import keras

    backend = keras.backend.backend()
    fn = loss_function(model)
    try:
        if backend == "tensorflow":
            out = _tensorflow(model, x, y, fn)
        elif backend == "torch":
            out = _torch(model, x, y, fn)
        else:
            raise NoGradient(f"the {backend} backend has no autodiff nbml uses")
    except NoGradient:
        raise
    except Exception as exc:  # a custom layer the backend cannot differentiate
        text = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise NoGradient(f"{type(exc).__name__}: {text}") from None
    return [None if v is None else float(v) for v in out]


def specs(model: Any, x: Any, y: Any) -> tuple[Any, ...]:
    """Shapes and dtypes of a JAX function's ``(trainable, non_trainable, x, y)``."""
    import jax

    def spec(v: Any) -> Any:
        return jax.ShapeDtypeStruct(tuple(v.shape), v.dtype)

    tv = [spec(v) for v in model.trainable_variables]
    ntv = [spec(v) for v in model.non_trainable_variables]
    return tv, ntv, spec(np.asarray(x)), spec(np.asarray(y))


def _tensorflow(model: Any, x: Any, y: Any, fn: Any) -> list[Any]:
    import tensorflow as tf

    variables = [v.value for v in model.trainable_variables]
    with tf.GradientTape() as tape:
        y_pred = model(x, training=False)
        loss = tf.reduce_mean(fn(y, y_pred))
        if model.losses:
            loss = loss + tf.add_n([tf.cast(v, loss.dtype) for v in model.losses])
    grads = tape.gradient(loss, variables)
    return [None if g is None else tf.reduce_sum(tf.square(tf.cast(g, "float32"))).numpy()
            for g in grads]  # fmt: skip


def _torch(model: Any, x: Any, y: Any, fn: Any) -> list[Any]:
    import keras
    import torch

    params = [v.value for v in model.trainable_variables]
    xt, yt = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
    with torch.enable_grad():
        y_pred = model(xt, training=False)
        loss = torch.mean(fn(yt, y_pred))
        for extra in model.losses:
            loss = loss + extra
        grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [None if g is None else float(torch.sum(g.detach().float() ** 2)) for g in grads]
