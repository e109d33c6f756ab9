"""Every private name nbml borrows (``nbml/compat/``): each test fails when the library moves
the name (the borrowed path is exercised on the installed version and checked against what
the library's public API says), and each fallback is shown to work with the name gone."""

from __future__ import annotations

import argparse
import random

import keras
import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell

from nbml.compat import argparse as argparse_compat
from nbml.compat import ipython as ipython_compat
from nbml.compat import keras as keras_compat
from nbml.ml import seeding


def _mlp(compiled: bool = True) -> keras.Model:
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    if compiled:
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


# ------------------------------------------------------------------------------ Keras


from keras.src.utils import rng_utils  # noqa: E402  (what set_random_seed sets)


def _global_seed_generator():
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator

    return global_state.get_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR)


def test_seed_state_is_what_set_random_seed_leaves():
    keras.random.uniform((2,))  # a global SeedGenerator exists now
    assert _global_seed_generator() is not None
    assert keras_compat.reset_seed_state(11) is True
    assert rng_utils.get_random_seed() == 11
    assert _global_seed_generator() is None
    seeding.seed_all(11)  # Python's and numpy's generators, and the state above
    ours = np.asarray(keras.random.uniform((4,)))
    keras.utils.set_random_seed(11)
    theirs = np.asarray(keras.random.uniform((4,)))
    assert np.array_equal(ours, theirs)


def test_seed_all_falls_back_to_keras_when_its_state_moved(monkeypatch):
    monkeypatch.setattr(keras_compat, "reset_seed_state", lambda value: False)
    seeding.seed_all(5)
    assert rng_utils.get_random_seed() == 5
    a = (random.random(), np.random.rand())
    seeding.seed_all(5)
    assert (random.random(), np.random.rand()) == a


def test_build_for_fit_builds_what_fit_would():
    m = keras.Sequential([keras.layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.zeros((8, 4), "float32"), np.zeros(8, "int64")
    assert keras_compat.build_for_fit(m, x, y) is True
    assert m.built and m.optimizer.built
    assert all(v.shape == (4, 3) or v.shape == (3,) for v in m.trainable_variables)


def test_build_for_fit_leaves_it_to_fit_without_keras_method():
    class Bare:
        pass

    assert keras_compat.build_for_fit(Bare(), None, None) is False


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's trainer only")
def test_jax_state_is_the_train_functions_state():
    m = _mlp()
    x, y = np.zeros((8, 4), "float32"), np.zeros(8, "int64")
    keras_compat.build_for_fit(m, x, y)
    trainable, non_trainable, optimizer, metrics = keras_compat.jax_state(m)
    assert len(trainable) == len(m.trainable_variables)
    assert len(optimizer) == len(m.optimizer.variables)
    assert len(metrics) == len(m.metrics_variables)
    with pytest.raises(AttributeError, match="_get_jax_state"):
        keras_compat.jax_state(object())


def test_forget_eval_iterator_drops_the_one_fit_keeps():
    import importlib
    import inspect

    trainer = importlib.import_module(f"keras.src.backend.{keras.backend.backend()}.trainer")
    assert "self._eval_epoch_iterator" in inspect.getsource(trainer)  # Keras's name for it
    m = _mlp()
    m._eval_epoch_iterator = object()
    keras_compat.forget_eval_iterator(m)
    assert m._eval_epoch_iterator is None
    keras_compat.forget_eval_iterator(object())  # nothing to drop: nothing happens


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's trainer only")
def test_wrap_step_makes_a_train_function_or_says_none():
    m = _mlp()
    assert callable(keras_compat.wrap_step(m, lambda state, data: (None, state)))
    assert keras_compat.wrap_step(object(), lambda s, d: None) is None


def test_optimizer_rate_is_the_variable_the_public_property_reads():
    opt = keras.optimizers.SGD(learning_rate=0.25)
    rate = keras_compat.optimizer_rate(opt)
    assert float(np.asarray(rate)) == pytest.approx(float(opt.learning_rate))
    sched = keras.optimizers.schedules.ExponentialDecay(0.5, 10, 0.9)
    keras_compat.set_optimizer_rate(opt, sched)
    assert opt.learning_rate is not None and keras_compat.optimizer_rate(opt) is sched
    keras_compat.set_optimizer_rate(opt, rate)
    assert keras_compat.optimizer_rate(opt) is rate
    with pytest.raises(AttributeError, match="_learning_rate"):
        keras_compat.optimizer_rate(object())


def test_default_hooks_are_told_from_overridden_ones():
    class Mine(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    cb = Mine()
    assert keras_compat.is_default_hook(cb.on_train_batch_begin) is True
    assert keras_compat.is_default_hook(cb.on_train_batch_end) is False
    assert keras_compat.is_default_hook(lambda: None) is False  # unmarked: counted as real


def test_compile_arguments_are_those_given_to_compile():
    m = _mlp()
    args = keras_compat.compile_arguments(m)
    assert args is not None and isinstance(args["optimizer"], keras.optimizers.Adam)
    assert args["loss"] == "sparse_categorical_crossentropy" and args["metrics"] == ["accuracy"]
    assert keras_compat.compile_arguments(_mlp(compiled=False)) is None
    assert keras_compat.compile_arguments(object()) is None


def test_pythonify_logs_matches_keras_and_the_local_rule():
    import jax.numpy as jnp

    logs = {"loss": jnp.float32(0.5), "nested": {"acc": np.float64(0.25)}, "name": "x"}
    ours = keras_compat._pythonify(logs)
    assert ours == keras_compat.pythonify_logs(logs) == {"loss": 0.5, "acc": 0.25, "name": "x"}


def test_keras_home_is_keras_own(monkeypatch, tmp_path):
    from keras.src.backend.config import keras_home

    assert keras_compat.keras_home() == keras_home()


def test_model_bytes_is_a_keras_file_that_loads(tmp_path):
    m = _mlp()
    data = keras_compat.model_bytes(m)
    path = tmp_path / "m.keras"
    path.write_bytes(data)
    back = keras.models.load_model(path)
    for a, b in zip(m.get_weights(), back.get_weights(), strict=True):
        assert np.array_equal(a, b)


def test_model_config_is_keras_own_and_puts_the_serialiser_back():
    from keras.src.saving import serialization_lib

    m, lazy = _mlp(), serialization_lib.tf
    assert keras_compat.model_config(m) == m.get_config()
    with keras_compat.no_tensorflow_import():  # nested: told once, put back once
        keras_compat.model_config(m)
    assert serialization_lib.tf is lazy


_NO_TF_SCRIPT = """
import importlib.abc, os, sys
asked = []
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "tensorflow":
            asked.append(name)
        return None
sys.meta_path.insert(0, Watch())
import keras, numpy as np, nbml
from sklearn.datasets import load_digits
x, y = load_digits(return_X_y=True)
x, y = x[:200].astype("float32"), y[:200]
def build():
    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(10, activation="softmax")])
nbml.train("m", build, (x, y), display="none", epochs=1, seed=0).done.wait()
nbml.train("m", data=(x, y), display="none", epochs=1, reset=True).done.wait()
sched = keras.optimizers.schedules.ExponentialDecay(0.01, 10, 0.9)
m = build(); m.compile(keras.optimizers.Adam(sched), "sparse_categorical_crossentropy")
nbml.train("s", m, (x, y), display="none", epochs=1, lr=0.001).done.wait()
nbml.train("s", data=(x, y), display="none", epochs=1, reset=True).done.wait()
nbml.sweep("w", lambda hp: build(), (x, y), trials=2, epochs=1, display="none")
print("ASKED", len(asked), keras.backend.backend())
"""


def test_training_on_jax_never_imports_tensorflow(tmp_path):
    """Keras's serialiser imports TensorFlow wherever it is installed (seconds and hundreds of
    MB): training, ``--reset`` and a sweep on JAX serialise layers and optimizers only through
    nbml.compat.keras, so TensorFlow is never even looked for (with or without it installed)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "KERAS_BACKEND": "jax", "NBML_STORE_PATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", _NO_TF_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ASKED 0 jax" in out.stdout, out.stdout[-2000:]


# ---------------------------------------------------------------------------- IPython


def test_cell_number_counts_the_cells_run():
    shell = InteractiveShell.instance()
    try:
        shell.run_cell("1 + 1", store_history=True)
        shell.run_cell("n = __import__('nbml.compat.ipython').compat.ipython.cell_number("
                       "get_ipython())", store_history=True)  # fmt: skip
        assert shell.user_ns["n"] == shell.execution_count - 1
    finally:
        InteractiveShell.clear_instance()

    class NoHistory:
        execution_count = 7

    assert ipython_compat.cell_number(NoHistory()) == 7


def test_remove_magics_takes_out_what_register_magics_put_in():
    from IPython.core.magic import Magics, line_magic, magics_class

    @magics_class
    class Probe(Magics):
        @line_magic
        def nbml_probe(self, line):
            return line

    shell = InteractiveShell.instance()
    try:
        shell.register_magics(Probe(shell))
        assert shell.find_line_magic("nbml_probe") is not None
        ipython_compat.remove_magics(shell, ["nbml_probe"], ["Probe"])
        assert shell.find_line_magic("nbml_probe") is None
        assert "Probe" not in shell.magics_manager.registry
    finally:
        InteractiveShell.clear_instance()

    class Moved:
        magics_manager = object()

    with pytest.raises(AttributeError, match="magics_manager"):
        ipython_compat.remove_magics(Moved(), ["x"], [])


# --------------------------------------------------------------------------- argparse


def test_actions_lists_every_argument_and_survives_the_move():
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--lr", type=float)
    p.add_argument("name")
    assert [a.dest for a in argparse_compat.actions(p)] == ["lr", "name"]

    class Moved:
        _action_groups = p._action_groups

    assert sorted(a.dest for a in argparse_compat.actions(Moved())) == ["lr", "name"]
    with pytest.raises(AttributeError, match="_actions"):
        list(argparse_compat.actions(object()))
