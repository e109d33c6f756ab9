"""The probe's statistics on JAX as one compiled program, fed the model's weights as arrays.

:func:`compile_probe` compiles, from shapes alone, ``(trainable, non_trainable, x, y) ->
(squared gradient norms, activation statistics)``: the gradient of the training loss per
trainable variable (``jax.grad`` of ``model.stateless_call`` in inference mode) and, for the
layers' outputs model (``sub``), each output's mean, standard deviation and dead fraction.
When ``sub`` is the model as a chain of its layers (its last output is the prediction), one
forward pass serves both. The weights go in as arguments, so the program reads a snapshot
taken at an epoch's end and may run on another thread while ``fit`` goes on: nothing of the
model, its optimizer or its random state is read or written there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .gradients import NoGradient, loss_function, specs

#: ``(squared norm per trainable variable, [(mean, std, dead fraction)] per output)``.
Program = Callable[[Any, Any, Any, Any], tuple[list[Any], list[Any]]]


def positions(model: Any, sub: Any) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Where each of ``sub``'s trainable and non-trainable variables sits in ``model``'s:
    ``(0, i)`` for ``model.trainable_variables[i]``, ``(1, i)`` for the non-trainable ones.
    Raises ValueError for a variable the model does not hold."""
    where = {id(v): (0, i) for i, v in enumerate(model.trainable_variables)}
    where.update({id(v): (1, i) for i, v in enumerate(model.non_trainable_variables)})
    try:
        return ([where[id(v)] for v in sub.trainable_variables],
                [where[id(v)] for v in sub.non_trainable_variables])  # fmt: skip
    except KeyError:
        raise ValueError("a layer's variable is not the model's") from None


def _pick(both: tuple[Any, Any], found: list[tuple[int, int]]) -> list[Any]:
    return [both[k][i] for k, i in found]


def _stats(outs: Any) -> list[Any]:
    import jax.numpy as jnp

    found = []
    for a in outs if isinstance(outs, (list, tuple)) else [outs]:
        a = a.astype("float32")
        units = a.reshape(a.shape[0], -1) if a.ndim <= 2 else a.reshape(-1, a.shape[-1])
        alive = jnp.any(units > 0, axis=0)
        found.append(jnp.stack([a.mean(), a.std(), jnp.mean(~alive)]))
    return found


def compile_probe(
    model: Any, x: Any, y: Any, sub: Any = None, fused: bool = False, grads: bool = True
) -> Program:
    """The compiled program (see the module). ``sub``: the layers' outputs model, or None (no
    activation statistics); ``fused``: its last output is the model's prediction; ``grads``:
    False compiles the activation statistics alone (the gradient is not available)."""
    import jax
    import jax.numpy as jnp

    fn = loss_function(model) if grads else None
    where = positions(model, sub) if sub is not None else ([], [])

    def forward(tv: Any, ntv: Any, xb: Any) -> tuple[Any, list[Any], Any]:
        """The prediction, the activation statistics and the layers' own losses."""
        stats: list[Any] = []
        if sub is not None:
            outs, _, losses = sub.stateless_call(_pick((tv, ntv), where[0]),
                                                 _pick((tv, ntv), where[1]), xb,
                                                 training=False, return_losses=True)  # fmt: skip
            stats = _stats(outs)
            if fused:
                return (outs[-1] if isinstance(outs, (list, tuple)) else outs), stats, losses
        if not grads:
            return None, stats, []
        y_pred, _, losses = model.stateless_call(tv, ntv, xb, training=False, return_losses=True)
        return y_pred, stats, losses

    def loss(tv: Any, ntv: Any, xb: Any, yb: Any) -> Any:
        y_pred, stats, losses = forward(tv, ntv, xb)
        return jnp.mean(fn(yb, y_pred)) + sum(losses, jnp.float32(0.0)), stats

    def program(tv: Any, ntv: Any, xb: Any, yb: Any) -> Any:
        if not grads:
            return [], forward(tv, ntv, xb)[1]
        found, stats = jax.grad(loss, has_aux=True)(tv, ntv, xb, yb)
        return [jnp.sum(jnp.square(g.astype("float32"))) for g in found], stats

    return jax.jit(program).lower(*specs(model, x, y)).compile()


def run(
    program: Program, values: tuple[list[Any], list[Any]], x: Any, y: Any
) -> tuple[list[float], list[tuple[float, float, float]]]:
    """The program on the weights ``values`` (``(trainable, non_trainable)`` arrays), as
    floats."""
    norms, stats = program(values[0], values[1], x, y)
    return ([float(np.asarray(v)) for v in norms],
            [tuple(float(s) for s in np.asarray(v)) for v in stats])  # fmt: skip


def probe_program(model: Any, x: Any, y: Any, sub: Any, fused: bool) -> tuple[Program, str | None]:
    """The program with gradients, else (the gradient cannot be computed: a custom layer JAX
    cannot differentiate) the activation statistics alone, with the reason."""
    try:
        return compile_probe(model, x, y, sub, fused), None
    except NoGradient as exc:
        reason = str(exc)
    except Exception as exc:
        text = " ".join(str(exc).split())[:160]
        reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return compile_probe(model, x, y, sub, grads=False), reason
