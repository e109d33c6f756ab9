"""--steps-per-execution (docs/reference.md#steps-per-execution): several batches per compiled call,
the same arithmetic."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import nbml
from nbml.core.registry import REGISTRY
from nbml.training import execution


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    for name in REGISTRY.names():
        REGISTRY.remove(name)
    # a call may last long: N is then the cap whatever else loads the machine (the measured
    # rule itself is test_the_choice_rule's)
    monkeypatch.setattr(execution, "TARGET_S", 10.0)
    yield


def data(rows=4000, features=16):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, features)).astype("float32")
    y = (x[:, :3].sum(axis=1) > 0).astype("int64") + (x[:, 3] > 1).astype("int64")
    return x, y


def small(compile_it=False):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(0.1),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    if compile_it:
        model.compile("adam", "sparse_categorical_crossentropy", steps_per_execution=5)
    return model


def train(name, steps, **kw):
    args = {"epochs": 3, "batch_size": 16, "display": False, "namespace": {}}
    if steps is not None:
        args["steps_per_execution"] = steps
    return nbml.train(name, small(), data(), **args, **kw)


def test_auto_picks_several_steps_and_the_losses_are_those_of_one():
    one = train("one", 1)
    auto = train("auto", "auto")
    # 4000 rows -> 2560 for training -> 160 batches: at most 160 // 50 = 3 per call
    assert one.params["steps_per_execution"] == 1
    assert auto.params["steps_per_execution"] == 3
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        np.testing.assert_allclose(auto.history[key], one.history[key], rtol=0, atol=1e-6)
    # and so do the weights
    for a, b in zip(
        nbml.models()[1].model.get_weights(), nbml.models()[0].model.get_weights(), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_auto_is_the_default_and_a_given_number_is_used():
    assert train("default", None).params["steps_per_execution"] == 3
    assert train("seven", 7).params["steps_per_execution"] == 7
    # training again with another N rebuilds what depends on it, and still trains
    again = nbml.train("seven", epochs=1, steps_per_execution=2, display=False, namespace={})
    assert (again.status, again.params["steps_per_execution"]) == ("finished", 2)


def test_a_model_the_user_compiled_keeps_its_own_unless_told():
    ns, args = {}, {"epochs": 1, "batch_size": 16, "display": False}
    run = nbml.train("own", small(compile_it=True), data(), namespace=ns, **args)
    assert run.params["steps_per_execution"] == 5
    run = nbml.train("own", steps_per_execution="auto", namespace=ns, **args)
    assert run.params["steps_per_execution"] == 3


def test_few_batches_per_epoch_keep_one_step_per_call():
    """Fewer than 100 batches an epoch: N = 1, so the monitor keeps a point per batch."""
    x, y = data(rows=600)
    run = nbml.train("few", small(), (x, y), epochs=1, display=False, namespace={})
    assert run.params["steps_per_execution"] == 1


def test_the_choice_rule(monkeypatch):
    monkeypatch.setattr(execution, "TARGET_S", 0.004)
    assert execution.cap(None) == 1
    assert execution.cap(99) == 1
    assert execution.cap(1200) == 24
    assert execution.cap(10**6) == execution.MAX_STEPS
    assert execution.pick(0.0001, 1200) == 24  # 4 ms / 0.1 ms = 40, capped at 24
    assert execution.pick(0.001, 1200) == 4
    assert execution.pick(0.01, 1200) == 1
    assert execution.pick(float("nan"), 1200) == 24


def test_a_nan_and_a_stop_still_work_with_several_steps_per_call():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4000, 16)).astype("float32")
    y = (x.sum(axis=1) * 1000).astype("float32")
    keras.utils.set_random_seed(0)
    reg = keras.Sequential([keras.Input((16,)), keras.layers.Dense(1)])
    run = nbml.train(
        "blowup", reg, (x, y), epochs=5, batch_size=16, optimizer="sgd", lr=10.0,
        display=False, namespace={},
    )  # fmt: skip
    assert run.params["steps_per_execution"] > 1
    assert run.status == "failed" and "Try a lower learning rate" in run.message
    assert all(np.isfinite(w).all() for w in nbml.models()[0].model.get_weights())
