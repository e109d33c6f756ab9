"""The model inspector in a real kernel, on the backend under test (``make test-backends``
runs it on TensorFlow and torch; ``make test`` on JAX): broken models are flagged, a healthy
one is not, every gradient and weight norm is what the backend's own autodiff gives on the
probe rows, and inspecting changes no loss."""

from __future__ import annotations

DIGITS = """
import numpy as np, keras, nbml
from sklearn.datasets import load_digits
_d = load_digits()
digits_xy = (_d.data.astype("float32") / 16.0, _d.target)
"""

GRADIENTS = '''
def backend_grad_norms(model, x, y):
    """Per trainable variable, the gradient norm of the compiled loss, by the backend."""
    import keras
    loss_fn = keras.losses.get(model.loss)
    backend = keras.backend.backend()
    if backend == "jax":
        import jax, jax.numpy as jnp
        ntv = [v.value for v in model.non_trainable_variables]
        def f(tv):
            y_pred, _ = model.stateless_call(tv, ntv, x, training=False)
            return jnp.mean(loss_fn(y, y_pred))
        grads = jax.grad(f)([v.value for v in model.trainable_variables])
    elif backend == "tensorflow":
        import tensorflow as tf
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(loss_fn(y, model(x, training=False)))
        grads = tape.gradient(loss, [v.value for v in model.trainable_variables])
    else:
        import torch
        params = [v.value for v in model.trainable_variables]
        loss = torch.mean(loss_fn(keras.ops.convert_to_tensor(y),
                                  model(keras.ops.convert_to_tensor(x), training=False)))
        grads = torch.autograd.grad(loss, params)
    return [float(np.sqrt(np.sum(np.square(keras.ops.convert_to_numpy(g).astype("float64")))))
            for g in grads]
'''


def _flags(kernel, name):
    return kernel.value(f"[(f.kind, f.layer, f.epoch) for f in nbml.inspect({name!r}).flags]")


def test_broken_models_are_flagged_and_a_healthy_one_is_not(kernel):
    kernel.ok(DIGITS)
    kernel.ok("""%%train healthy --data digits_xy --epochs 3 --no-widget
keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                  keras.layers.Dense(10, activation="softmax")])""")
    assert _flags(kernel, "healthy") == []
    kernel.ok("""%%train dead --data digits_xy --epochs 3 --no-widget
keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu", name="hidden",
                  bias_initializer=keras.initializers.Constant(-100.0)),
                  keras.layers.Dense(10, activation="softmax")])""")
    assert ("dead_units", "hidden", 2) in _flags(kernel, "dead")
    kernel.ok("""%%train deep --data digits_xy --epochs 1 --no-widget
keras.Sequential([keras.Input((64,))]
                 + [keras.layers.Dense(32, activation="sigmoid", name=f"s{i}") for i in range(12)]
                 + [keras.layers.Dense(10, activation="softmax")])""")
    vanishing = {layer for kind, layer, _ in _flags(kernel, "deep") if kind == "vanishing_gradient"}
    assert {"s0", "s1"} <= vanishing
    kernel.ok("wild_xy = (digits_xy[0], digits_xy[1].astype('float32'))")
    kernel.ok("""%%train wild --data wild_xy --epochs 4 --no-widget
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, name="hidden"),
                          keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
model""")
    found = _flags(kernel, "wild")
    assert found[:1] == [("non_finite", "hidden", 1)], found


def test_every_norm_is_the_backends_own_on_the_probe_rows_and_losses_are_unchanged(kernel):
    kernel.ok(DIGITS + GRADIENTS)
    body = """
keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu", name="a"),
                  keras.layers.Dropout(0.2), keras.layers.Dense(10, activation="softmax",
                  name="b")])"""
    kernel.ok(f"%%train on --data digits_xy --epochs 2 --no-widget --seed 3{body}")
    kernel.ok(f"%%train off --data digits_xy --epochs 2 --no-widget --seed 3 --inspect off{body}")
    kernel.ok("""
ins = nbml.inspect("on")
rec = [m for m in nbml.models() if m.name == "on"][0]
px, py = rec.dataset.x_train[ins.probe], rec.dataset.y_train[ins.probe]
norms = backend_grad_norms(on, px, py)
last = {r["layer"]: r for r in ins.records[-1][1]}
checks = []
for layer in on.layers:
    if not layer.trainable_weights:
        continue
    idx = [i for i, v in enumerate(on.trainable_variables)
           if any(v is w for w in layer.trainable_weights)]
    want_g = float(np.sqrt(sum(norms[i] ** 2 for i in idx)))
    want_w = float(np.sqrt(sum(np.sum(w.astype("float64") ** 2) for w in layer.get_weights())))
    checks.append((abs(last[layer.name]["grad_norm"] - want_g) / want_g,
                   abs(last[layer.name]["weight_norm"] - want_w) / want_w))
""")
    checks = kernel.value("checks")
    assert len(checks) == 2 and all(g <= 1e-5 and w <= 1e-9 for g, w in checks), checks
    same = kernel.value(
        "max(abs(a - b) for k in on.history.history for a, b in "
        "zip(on.history.history[k], off.history.history[k]))"
    )
    assert same <= 1e-6


def test_inspect_shows_the_table_and_the_flags(kernel):
    res = kernel.ok("%inspect dead")
    html = res.result["text/html"]
    assert "<svg" in html and "dead_units at epoch 2" in html and "hidden" in html
