"""Looking inside a Keras model: its layers, and per-layer statistics on one probe batch.

:func:`layer_table` lists the layers (nested models expanded by path). :class:`Probe` computes,
for the model's weights as they are now, each layer's weight norm, the gradient norm of the
training loss with respect to its trainable weights (the backend's own autodiff, in inference
mode: the model's weights, optimizer state and random state are untouched) and, where Keras
knows the layer's output tensor (Sequential and functional models), its activations' mean,
standard deviation and dead fraction. What the numbers mean: docs/inspector.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The most rows a probe batch holds.
PROBE_ROWS = 256


@dataclass
class Layer:
    """One row of the layer table."""

    path: str
    cls: str
    output_shape: str
    trainable: int
    non_trainable: int
    activation: str | None
    layer: Any = field(default=None, repr=False, compare=False)


def leaves(model: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(path, layer)`` for every layer of ``model`` that is not itself a model, nested
    models expanded (``block/conv_1``)."""
    import keras

    out = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        path = f"{prefix}{layer.name}"
        if isinstance(layer, keras.Model) and layer.layers:
            out.extend(leaves(layer, path + "/"))
        else:
            out.append((path, layer))
    return out


def _shape(layer: Any) -> str:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        shape = getattr(layer, "_nbml_shape", None)
    if shape is None:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _activation(layer: Any) -> str | None:
    fn = getattr(layer, "activation", None)
    if fn is None:
        return "relu" if type(layer).__name__ == "ReLU" else None
    return getattr(fn, "__name__", type(fn).__name__)


def _count(variables: list[Any]) -> int:
    return int(sum(int(np.prod(v.shape)) for v in variables))


def layer_table(model: Any) -> list[Layer]:
    """The model's layers with class, output shape, parameters and activation. Weights that
    belong to no leaf layer (a subclassed model's own) get a row named for the model, so the
    rows' parameters add up to ``model.count_params()``."""
    rows, seen = [], set()
    for path, layer in leaves(model):
        tv, ntv = list(layer.trainable_weights), list(layer.non_trainable_weights)
        seen.update(id(v) for v in tv + ntv)
        rows.append(Layer(path, type(layer).__name__, _shape(layer), _count(tv), _count(ntv),
                          _activation(layer), layer))  # fmt: skip
    own_t = [v for v in model.trainable_weights if id(v) not in seen]
    own_n = [v for v in model.non_trainable_weights if id(v) not in seen]
    if own_t or own_n:
        rows.append(Layer(f"{model.name} (own weights)", type(model).__name__, "?",
                          _count(own_t), _count(own_n), None, model))  # fmt: skip
    return rows


def probe_rows(n: int, seed: int | None) -> np.ndarray:
    """The probe batch: up to :data:`PROBE_ROWS` row indices of a training part of ``n`` rows,
    chosen once from the run's seed (0 with ``--seed none``), in order."""
    rng = np.random.default_rng(0 if seed is None else seed)
    k = min(PROBE_ROWS, n)
    return np.sort(rng.choice(n, size=k, replace=False))


def activations_known(model: Any) -> bool:
    """Whether Keras knows the model's layers' output tensors (Sequential and functional
    models, once built); a subclassed model's are not known."""
    import keras

    if not isinstance(model, keras.Sequential) and type(model).__name__ != "Functional":
        return False
    try:
        return bool(model.inputs) and all(layer.output is not None for layer in model.layers)
    except (AttributeError, ValueError):
        return False


#: The columns of one record's row per layer (``Inspection.stats``).
STAT_COLUMNS = ("weight_norm", "update_ratio", "grad_norm", "act_mean", "act_std", "dead_fraction")


class Probe:
    """Records per-layer statistics of ``model`` on the probe rows ``(x, y)``.

    It keeps the weights of the last record (for the update ratio: the first record compares
    with the weights the model had when the probe was made) and, on JAX, the compiled
    program (:mod:`nbml.ml.probe_jax`). A record reads the weights from a :meth:`snapshot`
    taken where they are current (at an epoch's end: on JAX Keras writes them back to the
    variables then). On JAX the record works on the snapshot alone (:attr:`detached`), so it
    may run on another thread while ``fit`` goes on.
    """

    def __init__(self, model: Any, x: Any, y: Any) -> None:
        import keras

        self.model, self.x, self.y = model, x, y
        self.rows = layer_table(model)
        index = {id(v): i for i, v in enumerate(model.trainable_variables)}
        self.slots = [[index[id(v)] for v in _trainable(r) if id(v) in index] for r in self.rows]
        start = self.snapshot()
        self.previous = [self._weights(start, i) for i in range(len(self.rows))]
        #: On JAX: the record needs only a snapshot (the program is compiled from shapes).
        self.detached = keras.backend.backend() == "jax"
        self.program: Any = None
        self.no_gradient: str | None = None
        self.no_activations = None if activations_known(model) else (
            "not available for a subclassed model"
        )  # fmt: skip
        self._outputs: Any = None

    def snapshot(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The model's trainable and non-trainable weights as they are now, copied."""
        return ([np.array(keras_numpy(v.value)) for v in self.model.trainable_variables],
                [np.array(keras_numpy(v.value)) for v in self.model.non_trainable_variables])  # fmt: skip

    def prepare(self) -> None:
        """Compile what :meth:`record` runs (JAX), from shapes alone: safe to call on another
        thread while ``fit`` trains, so a record costs only its arithmetic."""
        if not self.detached or self.program is not None:
            return
        from .probe_jax import probe_program

        sub, fused = None, False
        if self.no_activations is None:
            try:
                self._outputs = _output_model(self.model)
                sub, fused = self._outputs[1], self._outputs[2]
            except Exception as exc:
                self.no_activations = f"not available ({_why(exc)})"
        try:
            self.program, reason = probe_program(self.model, self.x, self.y, sub, fused)
        except Exception as exc:  # the activations' program failed too: gradients alone
            self.no_activations = f"not available ({_why(exc)})"
            self.program, reason = probe_program(self.model, self.x, self.y, None, False)
        self.no_gradient = self.no_gradient or reason

    def _weights(self, values: tuple[list[Any], list[Any]], i: int) -> np.ndarray | None:
        parts = [np.asarray(values[0][j], dtype="float64").ravel() for j in self.slots[i]]
        return np.concatenate(parts) if parts else None

    def record(self, values: tuple[list[Any], list[Any]] | None = None) -> list[dict[str, Any]]:
        """One dict per layer row: ``layer`` and the :data:`STAT_COLUMNS` (None where a number
        does not apply or is not available), for the weights ``values`` (a :meth:`snapshot`;
        taken now when not given)."""
        values = self.snapshot() if values is None else values
        grads, acts = self._measure(values)
        out = []
        for i, row in enumerate(self.rows):
            w, prev = self._weights(values, i), self.previous[i]
            stats: dict[str, Any] = {"layer": row.path}
            stats["weight_norm"] = None if w is None else float(np.linalg.norm(w))
            stats["update_ratio"] = _ratio(w, prev)
            stats["grad_norm"] = _layer_grad(grads, self.slots[i]) if w is not None else None
            stats.update(acts.get(row.path, {}))
            self.previous[i] = w
            out.append(stats)
        return out

    def _measure(self, values: Any) -> tuple[list[Any] | None, dict[str, dict[str, float]]]:
        """The squared gradient norms per trainable variable and the activation statistics
        per layer path."""
        if not self.detached:
            return self._grads(), self._activations()
        from .probe_jax import run

        self.prepare()
        norms, stats = run(self.program, values, self.x, self.y)
        names = self._outputs[0] if self.no_activations is None and self._outputs else []
        acts = {n: dict(zip(("act_mean", "act_std", "dead_fraction"), v, strict=True))
                for n, v in zip(names, stats, strict=True)}  # fmt: skip
        return (None if self.no_gradient is not None else norms), acts

    def _grads(self) -> list[Any] | None:
        from .gradients import NoGradient, squared_norms

        if self.no_gradient is not None:
            return None
        try:
            return squared_norms(self.model, self.x, self.y)
        except NoGradient as exc:
            self.no_gradient = str(exc)
            return None

    def _activations(self) -> dict[str, dict[str, float]]:
        if self.no_activations is not None:
            return {}
        try:
            if self._outputs is None:
                self._outputs = _output_model(self.model)
            names, sub = self._outputs[:2]
            values = sub(self.x, training=False)
        except Exception as exc:  # an unusual graph: say so once, keep training
            self.no_activations = f"not available ({_why(exc)})"
            return {}
        values = values if isinstance(values, (list, tuple)) else [values]
        arrays = [np.asarray(keras_numpy(v)) for v in values]
        return {n: _activation_stats(a) for n, a in zip(names, arrays, strict=True)}


def _trainable(row: Layer) -> list[Any]:
    if row.path.endswith(" (own weights)"):
        inner = {id(v) for _, layer in leaves(row.layer) for v in layer.trainable_weights}
        return [v for v in row.layer.trainable_weights if id(v) not in inner]
    return list(row.layer.trainable_weights)


def _ratio(w: np.ndarray | None, prev: np.ndarray | None) -> float | None:
    if w is None or prev is None or prev.shape != w.shape:
        return None
    base = float(np.linalg.norm(prev))
    return float(np.linalg.norm(w - prev)) / base if base > 0 else None


def _layer_grad(grads: list[Any] | None, slots: list[int]) -> float | None:
    if grads is None:
        return None
    parts = [grads[i] for i in slots if grads[i] is not None]
    return float(np.sqrt(sum(parts))) if parts else None


def _output_model(model: Any) -> tuple[list[str], Any, bool]:
    """The layers' outputs as one model (their paths, the model, whether it is the model as a
    chain): every leaf layer's, nested models expanded, when the model is a chain (a
    Sequential model, or nbml's preprocessing in front of the user's model; its last output
    is then the prediction); else the top-level layers' outputs."""
    import keras

    chained = _chain_outputs(model)
    if chained is not None:
        return (*chained, True)
    skip = (keras.Model, keras.layers.InputLayer)
    layers = [layer for layer in model.layers if not isinstance(layer, skip)]
    sub = keras.Model(model.inputs, [layer.output for layer in layers])
    return [layer.name for layer in layers], sub, False


def _chain_outputs(model: Any) -> tuple[list[str], Any] | None:
    """Each leaf layer applied in turn to one new input (nested models expanded, paths as
    :func:`leaves` names them), when that reproduces the model's output shape; None for a
    graph with branches (a layer that takes several inputs fails on one)."""
    import keras

    found = leaves(model)
    if len(model.inputs) != 1 or len(model.outputs) != 1 or not found:
        return None
    inputs = keras.Input(shape=tuple(model.inputs[0].shape[1:]), dtype=model.inputs[0].dtype)
    h, outs = inputs, []
    try:
        for _, layer in found:
            h = layer(h)
            outs.append(h)
    except Exception:
        return None
    if tuple(h.shape) != tuple(model.outputs[0].shape):
        return None
    return [path for path, _ in found], keras.Model(inputs, outs)


def _activation_stats(a: np.ndarray) -> dict[str, float]:
    a = a.astype("float64", copy=False)
    units = a.reshape(len(a), -1) if a.ndim <= 2 else a.reshape(-1, a.shape[-1])
    alive = (units > 0).any(axis=0)
    return {
        "act_mean": float(a.mean()),
        "act_std": float(a.std()),
        "dead_fraction": float(np.mean(~alive)) if alive.size else 0.0,
    }


def keras_numpy(value: Any) -> Any:
    """A backend tensor as numpy (torch tensors on a device included)."""
    import keras

    return keras.ops.convert_to_numpy(value)


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
