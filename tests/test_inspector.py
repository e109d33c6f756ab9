"""The model inspector (docs/inspector.md): layer tables, per-layer statistics recomputed
independently, flags on deliberately broken models, and training unchanged by inspecting."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

import nbml
from nbml.core.errors import NbmlError
from nbml.core.registry import REGISTRY
from nbml.ml import flags as _flags


@pytest.fixture(autouse=True)
def fresh_registry():
    for name in REGISTRY.names():
        REGISTRY.remove(name)
    yield


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.data.astype("float32") / 16.0, d.target


def _mlp(hidden: int = 32, **dense):
    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(
        hidden, activation="relu", name="hidden", **dense), keras.layers.Dense(
        10, activation="softmax", name="out")])  # fmt: skip


def _train(name, model, data, **options):
    options.setdefault("epochs", 3)
    return nbml.train(name, model, data, display="none", namespace={}, **options)


def test_a_healthy_digits_mlp_has_no_flags(digits):
    run = _train("healthy", _mlp(), digits, epochs=4)
    ins = nbml.inspect("healthy")
    assert ins.run_id == run.id and [e for e, _ in ins.records] == [1, 2, 3, 4]
    assert ins.flags == []
    assert list(ins.stats.columns) == ["epoch", "layer", "weight_norm", "update_ratio",
                                       "grad_norm", "act_mean", "act_std", "dead_fraction"]  # fmt: skip
    assert len(ins.stats) == 4 * 2 and ins.stats["grad_norm"].gt(0).all()


def test_a_relu_layer_with_a_large_negative_bias_is_dead(digits):
    model = _mlp(bias_initializer=keras.initializers.Constant(-100.0))
    _train("dead", model, digits)
    ins = nbml.inspect("dead")
    dead = [f for f in ins.flags if f.kind == "dead_units"]
    assert [(f.layer, f.epoch) for f in dead] == [("hidden", 2)]  # two records in a row
    assert "100% of its units output <= 0" in dead[0].reason
    assert "dead_units" in ins.layers.set_index("layer").loc["hidden", "flags"].split(",")


def test_a_deep_sigmoid_stack_vanishes_at_its_first_layers(digits):
    layers = [keras.Input((64,))]
    layers += [keras.layers.Dense(32, activation="sigmoid") for _ in range(12)]
    model = keras.Sequential([*layers, keras.layers.Dense(10, activation="softmax")])
    _train("deep", model, digits, epochs=1)
    ins = nbml.inspect("deep")
    vanishing = {f.layer for f in ins.flags if f.kind == "vanishing_gradient"}
    names = [r["layer"] for r in ins.layer_rows]
    assert names[0] in vanishing and names[1] in vanishing, ins.flags
    assert names[-1] not in vanishing
    reason = next(f.reason for f in ins.flags if f.layer == names[0])
    assert "x the largest layer's" in reason and "below 0.0001" in reason


def test_sgd_that_diverges_is_flagged_at_the_first_epoch_it_does(digits):
    x, y = digits

    def build():
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, name="hidden"),
                                  keras.layers.Dense(1, name="out")])  # fmt: skip
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
        return model

    run = _train("wild", build, (x, y.astype("float32")), epochs=4)
    assert run.status == "failed" and "at epoch 1" in run.message  # it diverged in epoch 1
    ins = nbml.inspect("wild")
    bad = [f for f in ins.flags if f.kind in ("exploding_gradient", "non_finite")]
    assert [(f.kind, f.layer, f.epoch) for f in bad] == [("non_finite", "hidden", 1)]
    assert "NaN or inf" in bad[0].reason
    # the model went back to its last good weights after the record saw the epoch's end
    assert all(np.isfinite(w).all() for w in REGISTRY.get("wild").model.get_weights())


def test_a_growing_gradient_is_flagged_exploding_before_it_overflows():
    history = [(1, [{"layer": "a", "grad_norm": 1.0, "update_ratio": 0.5}]),
               (2, [{"layer": "a", "grad_norm": 30.0, "update_ratio": 2.0}])]  # fmt: skip
    (flag,) = _flags.find(history)
    assert (flag.kind, flag.epoch) == ("exploding_gradient", 2)


def test_the_last_record_is_what_the_backend_computes_on_the_probe_rows(digits):
    import jax
    import jax.numpy as jnp

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dropout(0.3), keras.layers.Dense(10, "softmax")])  # fmt: skip
    _train("probe", model, digits, epochs=2, seed=4)
    ins, rec = nbml.inspect("probe"), REGISTRY.get("probe")
    x, y = rec.dataset.x_train[ins.probe], rec.dataset.y_train[ins.probe]
    assert len(ins.probe) == 256 and len(set(ins.probe)) == 256

    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]

    def loss(tv):
        y_pred, _ = model.stateless_call(tv, ntv, x, training=False)
        return jnp.mean(keras.losses.sparse_categorical_crossentropy(y, y_pred))

    grads = jax.grad(loss)(tv)
    last = {r["layer"]: r for r in ins.records[-1][1]}
    for layer in model.layers:
        if not layer.trainable_weights:
            assert last[layer.name]["grad_norm"] is None
            continue
        idx = [i for i, v in enumerate(model.trainable_variables)
               if any(v is w for w in layer.trainable_weights)]  # fmt: skip
        want = math.sqrt(sum(float(jnp.sum(grads[i].astype("float64") ** 2)) for i in idx))
        assert last[layer.name]["grad_norm"] == pytest.approx(want, rel=1e-5)
        norm = math.sqrt(sum(float(np.sum(w.astype("float64") ** 2))
                             for w in layer.get_weights()))  # fmt: skip
        assert last[layer.name]["weight_norm"] == pytest.approx(norm, rel=1e-12)


def test_training_with_the_inspector_on_gives_the_same_losses_as_off(digits):
    on = _train("on", _mlp, digits, seed=9, inspect=1).history
    off = _train("off", _mlp, digits, seed=9, inspect="off").history
    assert set(on) == set(off)
    for key in on:
        assert np.allclose(on[key], off[key], rtol=0, atol=1e-6), key
    assert nbml.inspect("off").records == []
    assert "--inspect off" in nbml.inspect("off").notes["stats"]


class Block(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.a = keras.layers.Dense(8, activation="tanh")
        self.norm = keras.layers.BatchNormalization()
        self.b = keras.layers.Dense(3, activation="softmax")

    def call(self, x, training=False):
        return self.b(self.norm(self.a(x), training=training))


def test_the_layer_table_adds_up_for_every_kind_of_model():
    inner = keras.Sequential([keras.layers.Dense(6, activation="relu", name="conv_1"),
                              keras.layers.Dense(6, name="conv_2")], name="block")  # fmt: skip
    seq = keras.Sequential([keras.Input((4,)), inner,
                            keras.layers.Dense(3, activation="softmax", name="head")])  # fmt: skip
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(5, name="f1")(inputs)
    functional = keras.Model(inputs, keras.layers.Dense(3, name="f2")(hidden))
    sub = Block()
    sub(np.zeros((2, 4), "float32"))
    for model in (seq, functional, sub):
        ins = nbml.inspect("m", namespace={"m": model})
        assert ins.run_id is None and "%%train" in ins.notes["stats"]
        assert ins.total_params == model.count_params()
        table = ins.layers
        assert (table["trainable"] + table["non_trainable"]).sum() == model.count_params()
    table = nbml.inspect("m", namespace={"m": seq}).layers.set_index("layer")
    assert list(table.index) == ["block/conv_1", "block/conv_2", "head"]
    assert table.loc["block/conv_1", "output_shape"] == "(None, 6)"
    assert table.loc["block/conv_1", "activation"] == "relu"
    assert list(nbml.inspect("m", namespace={"m": functional}).layers["layer"]) == ["f1", "f2"]
    sub_table = nbml.inspect("m", namespace={"m": sub}).layers
    assert list(sub_table["class"]) == ["Dense", "BatchNormalization", "Dense"]
    assert sub_table["non_trainable"].sum() == 16  # the moving mean and variance


def test_a_subclassed_model_trains_inspected_without_activations(digits):
    x, y = digits
    model = Block()
    model.b = keras.layers.Dense(10, activation="softmax")
    _train("sub", model, (x, y), epochs=2)
    ins = nbml.inspect("sub")
    assert ins.notes["activations"] == "not available for a subclassed model"
    assert ins.stats["grad_norm"].notna().any() and ins.stats["act_mean"].isna().all()


def test_a_layer_the_backend_cannot_differentiate_keeps_training(digits):
    if keras.backend.backend() != "jax":
        pytest.skip("a host callback in the inference path: JAX's pure_callback")
    import jax

    class HostRelu(keras.layers.Layer):
        def call(self, x, training=False):
            if training:
                return keras.ops.relu(x)
            shape = jax.ShapeDtypeStruct(x.shape, x.dtype)
            return jax.pure_callback(lambda a: np.maximum(a, 0), shape, x)

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16), HostRelu(),
                              keras.layers.Dense(10, activation="softmax")])  # fmt: skip
    run = _train("host", model, digits, epochs=2)
    assert run.status == "finished" and len(run.history["loss"]) == 2
    ins = nbml.inspect("host")
    assert ins.notes["gradients"].startswith(("ValueError", "TypeError", "NotImplementedError"))
    assert ins.stats["grad_norm"].isna().all() and ins.stats["weight_norm"].notna().any()


def test_flags_carry_their_numbers_and_named_thresholds():
    rows = lambda g, u, d: [{"layer": "a", "grad_norm": g, "update_ratio": u,  # noqa: E731
                             "dead_fraction": d, "weight_norm": 1.0},
                            {"layer": "b", "grad_norm": 1.0, "update_ratio": 0.1,
                             "dead_fraction": 0.0, "weight_norm": 1.0}]  # fmt: skip
    history = [(1, rows(0.1, 0.1, 0.6)), (2, rows(2.0, 1.5, 0.6)), (3, rows(float("nan"), 1, 0))]
    found = {(f.kind, f.epoch): f for f in _flags.find(history)}
    assert found[("dead_units", 2)].layer == "a"
    assert "grew 20x to 2" in found[("exploding_gradient", 2)].reason
    assert found[("non_finite", 3)].reason.startswith("its gradient hold NaN or inf")
    assert _flags.DEAD_FRACTION == 0.5 and _flags.VANISHING_RATIO == 1e-4
    assert _flags.EXPLODING_GROWTH == 10 and _flags.EXPLODING_UPDATE == 1


def test_flags_found_record_by_record_are_those_of_the_whole_history():
    """The inspector updates the flags from the last records only (each record costs the same
    at any epoch): record by record it finds what a pass over the whole history finds."""
    rng = np.random.default_rng(5)
    history, found = [], []
    for epoch in range(1, 41):
        rows = [{"layer": name, "grad_norm": float(rng.choice([1e-6, 1.0, 30.0, np.nan], p=[.1, .7, .15, .05])),
                 "update_ratio": float(rng.choice([0.1, 2.0])), "weight_norm": 1.0,
                 "dead_fraction": float(rng.choice([0.0, 0.7]))} for name in ("a", "b", "c")]  # fmt: skip
        history.append((epoch, rows))
        found = _flags.update(found, history)
    assert found == _flags.find(history)
    assert {f.kind for f in found} == set(_flags.KINDS)


@pytest.mark.parametrize("bad", [0, -1, "abc", 2.5])
def test_a_bad_inspect_cadence_names_the_fix(bad, digits):
    with pytest.raises(NbmlError, match=r"--inspect takes a number of epochs .* or off"):
        _train("bad", _mlp(), digits, inspect=bad)


def test_an_unknown_name_names_the_fix():
    with pytest.raises(NbmlError, match="No model or run 'nope' to inspect"):
        nbml.inspect("nope", namespace={})


def test_the_inspector_has_no_batch_hook_so_fit_keeps_the_lean_list():
    from nbml.compat import keras as keras_compat
    from nbml.training import batches, inspector

    cb = inspector.Inspector("m", np.zeros((4, 2)), np.zeros(4), np.arange(2), every=1)
    for hook in batches._BATCH_HOOKS:  # no per-batch work: nbml's fit keeps its lean list
        assert keras_compat.is_default_hook(getattr(cb, hook)), hook


def test_a_model_nbml_wraps_to_scale_images_has_its_layers_activations():
    """For whole-number images nbml puts a scaling layer in front of the model: the model's own
    layers are expanded by path and get their activations, so a dead ReLU is still found."""

    def build():
        return keras.Sequential([
            keras.Input((8, 8, 1)), keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(32, activation="relu", name="hidden",
                               bias_initializer=keras.initializers.Constant(-100.0)),
            keras.layers.Dense(10, activation="softmax", name="out")], name="net")  # fmt: skip

    _train("wrapped", build, "sklearn:digits")
    ins = nbml.inspect("wrapped")
    assert list(ins.layers["layer"]) == ["nbml_minmax", "net/flatten", "net/hidden", "net/out"]
    assert ("dead_units", "net/hidden", 2) in [(f.kind, f.layer, f.epoch) for f in ins.flags]
    last = ins.stats[ins.stats["epoch"] == 3].set_index("layer")
    assert last.loc["net/hidden", "dead_fraction"] == 1.0
    assert last["dead_fraction"].between(0, 1).all()  # never a rounding below 0


def test_on_jax_the_record_runs_beside_training_and_is_whole_when_train_returns(
    digits, monkeypatch
):
    """The training thread only copies the weights; the records are computed on the side
    thread, and the run's end waits for the last one."""
    import threading

    from nbml.ml import inspection

    seen, record = [], inspection.Probe.record

    def spy(self, values=None):
        seen.append((threading.current_thread().name, values is not None))
        return record(self, values)

    monkeypatch.setattr(inspection.Probe, "record", spy)
    _train("beside", _mlp(), digits, epochs=3)
    assert [name.startswith("nbml-inspect") for name, _ in seen] == [True] * 3
    assert all(given for _, given in seen)  # from the copy taken at the epoch's end
    assert [e for e, _ in nbml.inspect("beside").records] == [1, 2, 3]
    assert not [t for t in threading.enumerate() if t.name.startswith("nbml-inspect")]


def test_a_record_is_of_the_weights_copied_at_the_epochs_end(digits):
    """A snapshot keeps its numbers while the model trains on: the record computed later from
    it equals the record computed at once."""
    from nbml.ml import inspection

    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = digits[0][:256], digits[1][:256]
    now, later = inspection.Probe(model, x, y), inspection.Probe(model, x, y)
    snap = now.snapshot()
    first = now.record(snap)
    model.fit(*digits, epochs=1, verbose=0)
    assert later.record(snap) == first
    assert later.record() != first  # the model's weights did move


def test_a_branching_model_gets_gradients_and_activations_right():
    """A functional model with two branches (not a chain of its layers): its gradient norms
    equal the backend's autodiff on the probe rows and each layer's activations are its own."""
    import jax
    import jax.numpy as jnp

    from nbml.ml import inspection

    inp = keras.Input((6,))
    a = keras.layers.Dense(5, activation="relu", name="a")(inp)
    b = keras.layers.Dense(4, activation="tanh", name="b")(inp)
    out = keras.layers.Dense(3, activation="softmax", name="out")(
        keras.layers.Concatenate(name="cat")([a, b]))  # fmt: skip
    model = keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, 64)
    rows = {r["layer"]: r for r in inspection.Probe(model, x, y).record()}
    tv = [v.value for v in model.trainable_variables]

    def loss(tv):
        y_pred, _ = model.stateless_call(tv, [], x, training=False)
        return jnp.mean(keras.losses.sparse_categorical_crossentropy(y, y_pred))

    grads = jax.grad(loss)(tv)
    for name in ("a", "b", "out"):
        idx = [i for i, v in enumerate(model.trainable_variables)
               if any(v is w for w in model.get_layer(name).trainable_weights)]  # fmt: skip
        want = math.sqrt(sum(float(jnp.sum(grads[i] ** 2)) for i in idx))
        assert rows[name]["grad_norm"] == pytest.approx(want, rel=1e-5)
    acts = np.asarray(keras.Model(inp, model.get_layer("b").output)(x))
    assert rows["b"]["act_mean"] == pytest.approx(float(acts.mean()), rel=1e-5)
    assert rows["cat"]["grad_norm"] is None and rows["cat"]["act_mean"] is not None


def test_a_model_built_again_reuses_its_program_and_gets_its_own_numbers():
    """A cell run again builds the same architecture under new layer names: the probe's
    program is not made again, and it computes the new model's numbers (its weights go in as
    arguments). Another activation, a custom layer or a custom loss is another program."""
    import jax
    import jax.numpy as jnp

    from nbml.ml import inspection, probe_jax

    def build(act="relu", extra=()):
        m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation=act),
                              *extra, keras.layers.Dense(3, activation="softmax")])  # fmt: skip
        m.compile("adam", "sparse_categorical_crossentropy")
        return m

    import sys

    had_tf = "tensorflow" in sys.modules
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(32, 6)).astype("float32"), rng.integers(0, 3, 32)
    first, again = build(), build()
    assert [ly.name for ly in first.layers] != [ly.name for ly in again.layers]
    key = probe_jax.key(first, x, y, True, True)
    assert key is not None and key == probe_jax.key(again, x, y, True, True)
    assert key != probe_jax.key(build("tanh"), x, y, True, True)
    assert key != probe_jax.key(again, x[:16], y[:16], True, True)  # fewer probe rows
    assert ("tensorflow" in sys.modules) == had_tf  # a key does not import TensorFlow
    assert (
        probe_jax.key(build(extra=[keras.layers.Lambda(lambda t: t * 2)]), x, y, True, True) is None
    )
    custom = build()
    custom.compile("adam", lambda t, p: keras.ops.mean(p))
    assert probe_jax.key(custom, x, y, True, True) is None

    inspection.Probe(first, x, y).record()
    made = len(probe_jax._PROGRAMS)
    rows = {r["layer"]: r for r in inspection.Probe(again, x, y).record()}
    assert len(probe_jax._PROGRAMS) == made  # reused

    tv = [v.value for v in again.trainable_variables]

    def loss(tv):
        y_pred, _ = again.stateless_call(tv, [], x, training=False)
        return jnp.mean(keras.losses.sparse_categorical_crossentropy(y, y_pred))

    grads = jax.grad(loss)(tv)
    out = again.layers[-1]
    want = math.sqrt(sum(float(jnp.sum(g**2)) for g in grads[2:]))
    assert rows[out.name]["grad_norm"] == pytest.approx(want, rel=1e-5)
