"""``--seed`` makes a run reproducible: the same cell with the same seed gives bit-identical
losses wherever it runs in the notebook (the body's weights, shuffling, dropout, augmentation),
at ``--steps-per-execution auto`` and at 1; ``--seed none`` seeds nothing but the splits."""

from __future__ import annotations

import pytest

# dropout draws from a seed generator made when the layer is built; shuffling from numpy
BODY = """
keras.Sequential([
    keras.Input((4,)),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dropout(0.3),
    keras.layers.Dense(3, activation="softmax"),
])
"""
# what a notebook does between two runs of one cell: draws from every generator
NOISE = """
import random, numpy as np, keras
random.random(); np.random.rand(7); keras.random.uniform((3,))
keras.layers.Dense(5).build((None, 2))
"""


def _losses(kernel, line: str, body: str = BODY) -> list[float]:
    kernel.ok(f"%%train m --data sklearn:iris --epochs 3 --no-widget {line}{body}")
    return kernel.value("[float(v) for v in m.history.history['loss']]")


@pytest.mark.parametrize("steps", ["auto", "1"])
def test_the_same_cell_gives_the_same_losses_anywhere_in_the_notebook(kernel, steps):
    line = f"--steps-per-execution {steps}"
    first = _losses(kernel, line)
    kernel.ok(NOISE)
    again = _losses(kernel, line)
    kernel.ok(NOISE + "\nnp.random.seed(12345)")
    third = _losses(kernel, line)
    assert first == again == third  # bit for bit
    other = _losses(kernel, line + " --seed 7")
    assert other != first


def test_the_seed_fixes_the_weights_the_body_draws(kernel):
    kernel.ok("%%train w --data sklearn:iris --epochs 1 --no-widget --seed 3" + BODY)
    kernel.ok("w0 = [v.copy() for v in w.get_weights()]")
    kernel.ok(NOISE)
    kernel.ok("%%train w --data sklearn:iris --epochs 1 --no-widget --seed 3" + BODY)
    assert kernel.value("all((a == b).all() for a, b in zip(w0, w.get_weights()))") is True


def test_seed_none_leaves_the_model_unseeded_but_splits_the_same(kernel):
    a = _losses(kernel, "--seed none")
    kernel.ok("import nbml\nsplit_a = nbml.models()[0].dataset.x_test.copy()")
    kernel.ok(NOISE)
    b = _losses(kernel, "--seed none")
    assert a != b
    kernel.ok("record = [r for r in nbml.models() if r.name == 'm'][0]")
    assert kernel.value("bool((split_a == record.dataset.x_test).all())") is True
    assert kernel.value("record.runs[-1].params['seed']") is None


def test_the_python_api_seeds_a_build_function(kernel):
    code = """
import nbml, keras
def build():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
runs = [nbml.train("api_m", build, "sklearn:iris", epochs=2, seed=5, display="none")
        for _ in range(2)]
api_losses = [r.history["loss"] for r in runs]
"""
    kernel.ok(code)
    first, second = kernel.value("api_losses")
    assert first == second


def test_a_bad_seed_names_the_fix(kernel):
    res = kernel.execute("%%train m --data sklearn:iris --seed -3" + BODY)
    assert res.stderr.startswith(
        "UsageError: --seed must be a whole number from 0 to 4294967295"
    ), res.text
    assert "or none" in res.stderr
