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

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from ..compat.keras import model_config
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
            norms, stats = [], forward(tv, ntv, xb)[1]
        else:
            found, stats = jax.grad(loss, has_aux=True)(tv, ntv, xb, yb)
            norms = [jnp.sum(jnp.square(g.astype("float32"))) for g in found]
        # two arrays out, not one per number: each array out is a copy to the host
        return (jnp.stack(norms) if norms else jnp.zeros((0,), "float32"),
                jnp.stack(stats) if stats else jnp.zeros((0, 3), "float32"))  # fmt: skip

    return jax.jit(program).lower(*specs(model, x, y)).compile()


def run(
    program: Program, values: tuple[list[Any], list[Any]], x: Any, y: Any
) -> tuple[list[float], list[tuple[float, float, float]]]:
    """The program on the weights ``values`` (``(trainable, non_trainable)`` arrays), as
    floats."""
    norms, stats = program(values[0], values[1], x, y)
    return np.asarray(norms).tolist(), [tuple(row) for row in np.asarray(stats).tolist()]


#: This process's programs by what they compute (:func:`key`), the most recent last: a cell
#: run again builds a model of the same architecture, whose program is then not traced,
#: lowered and compiled again (that work holds Python's lock beside the first epoch).
_PROGRAMS: OrderedDict[str, tuple[Program, str | None]] = OrderedDict()
_KEPT = 8
_lock = threading.Lock()

#: Layers of Keras whose config does not say all they compute (they wrap a function or
#: another framework's module).
_OPAQUE = {"Lambda", "TFSMLayer", "JaxLayer", "FlaxLayer", "TorchModuleWrapper"}


def probe_program(model: Any, x: Any, y: Any, sub: Any, fused: bool) -> tuple[Program, str | None]:
    """The program with gradients, else (the gradient cannot be computed: a custom layer JAX
    cannot differentiate) the activation statistics alone, with the reason. A program made
    before in this process for a model of the same architecture (:func:`key`) is reused."""
    name = key(model, x, y, sub is not None, fused)
    with _lock:
        found = _PROGRAMS.get(name) if name is not None else None
        if found is not None:
            _PROGRAMS.move_to_end(name)
            return found
    made = _made(model, x, y, sub, fused)
    if name is not None:
        with _lock:
            _PROGRAMS[name] = made
            while len(_PROGRAMS) > _KEPT:
                _PROGRAMS.popitem(last=False)
    return made


def key(model: Any, x: Any, y: Any, outputs: bool, fused: bool) -> str | None:
    """What the probe's program computes, as text: the model's config with its layers' names
    replaced by their order, its loss, the variables' and probe rows' shapes and dtypes, and
    the versions of Keras and JAX. None when a config cannot say it all: a subclassed model,
    a layer not of Keras (a custom layer) or one wrapping a function, a custom loss."""
    import jax
    import keras

    layers = _layers(model)
    if type(model).__name__ not in ("Sequential", "Functional") or any(
        not type(layer).__module__.startswith("keras.") or type(layer).__name__ in _OPAQUE
        for layer in layers
    ):
        return None
    loss = _loss(getattr(model, "loss", None))
    try:
        config = model_config(model)
        config = _anonymous(config, _names(config))
    except Exception:
        return None
    if loss is None:
        return None
    shapes = [(tuple(v.shape), str(v.dtype)) for v in model.variables]
    probe = [(np.shape(a), str(np.asarray(a).dtype)) for a in (x, y)]
    parts = [keras.version(), jax.__version__, loss, outputs, fused, shapes, probe, config]
    return json.dumps(parts, sort_keys=True, default=_plain)


def _plain(value: Any) -> Any:
    """A config's array (a preprocessing layer's constants) whole, never abbreviated."""
    return value.tolist() if hasattr(value, "tolist") else repr(value)


def _layers(model: Any) -> list[Any]:
    """Every layer of ``model``, nested models' included."""
    found = []
    for layer in model.layers:
        found.append(layer)
        found.extend(_layers(layer) if getattr(layer, "layers", None) else [])
    return found


def _loss(loss: Any) -> Any:
    """A loss of Keras's own as what says all it computes: its name, or its class and config;
    None for another (its code is not in a config) or a bare function wrapper (its config
    would serialise the function, and Keras's serialiser imports TensorFlow where it is
    installed: hundreds of MB)."""
    import keras

    if isinstance(loss, str):
        return loss
    fn = getattr(loss, "fn", None)  # a loss class's function
    ours = [type(loss)] + ([fn] if fn is not None else [])
    if (
        not isinstance(loss, keras.losses.Loss)
        or type(loss).__name__ == "LossFunctionWrapper"
        or any(not getattr(f, "__module__", "").startswith("keras.") for f in ours)
    ):
        return None
    try:
        return [type(loss).__module__, type(loss).__qualname__, loss.get_config()]
    except Exception:
        return None


def _names(config: Any, found: dict[str, str] | None = None) -> dict[str, str]:
    """Every model's and layer's name in a model's config (its ``layers``, nested models'
    too, input layers included), mapped to its order of appearance."""
    found = {} if found is None else found
    if isinstance(config, dict):
        name = config.get("name")
        if isinstance(name, str) and isinstance(config.get("layers"), list):
            found.setdefault(name, f"#{len(found)}")  # a model
        layers = config.get("layers")
        for layer in layers if isinstance(layers, list) else []:
            inner = layer.get("config", {}) if isinstance(layer, dict) else {}
            if isinstance(inner.get("name"), str):
                found.setdefault(inner["name"], f"#{len(found)}")
            _names(inner, found)
    return found


def _anonymous(config: Any, names: dict[str, str], at: str = "") -> Any:
    """``config`` with the layers' names (under ``name`` and in the functional graph's
    references) replaced by ``names``' order: Keras numbers the names it makes up, so a cell
    run again has other names for the same architecture."""
    if isinstance(config, dict):
        return {k: _anonymous(v, names, k) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        inner = at if at in ("keras_history", "input_layers", "output_layers") else ""
        return [_anonymous(v, names, inner) for v in config]
    if isinstance(config, str) and at in ("name", "keras_history", "input_layers",
                                          "output_layers"):  # fmt: skip
        return names.get(config, config)
    return config


def _made(model: Any, x: Any, y: Any, sub: Any, fused: bool) -> tuple[Program, str | None]:
    try:
        return compile_probe(model, x, y, sub, fused), None
    except NoGradient as exc:
        reason = str(exc)
    except Exception as exc:
        text = " ".join(str(exc).split())[:160]
        reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return compile_probe(model, x, y, sub, grads=False), reason
