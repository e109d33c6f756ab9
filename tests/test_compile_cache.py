"""Compiled training steps are kept on disk (nbml.training.compile_cache): a second training
of the same architecture loads its programs instead of compiling them, with the same numbers.

Each case runs in a fresh Python process, since JAX's cache is switched on once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
import json, os, sys
import numpy as np, jax, keras, nbml
hits = []
jax.monitoring.register_event_listener(
    lambda name, **kw: hits.append(name) if name.endswith("cache_hits") else None)
rng = np.random.default_rng(0)
x = rng.random((600, 8), dtype=np.float32)
y = rng.integers(0, 3, 600)
if os.environ.get("USER_DIR"):
    jax.config.update("jax_compilation_cache_dir", os.environ["USER_DIR"])
out = []
for i in range(2):
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    before = len(hits)
    run = nbml.train("m", model, (x, y), epochs=2, batch_size=32, display="none", seed=3)
    out.append({"hits": len(hits) - before, "loss": run.history["loss"]})
print("RESULT " + json.dumps({"runs": out, "dir": jax.config.jax_compilation_cache_dir}))
"""


def run(env: dict[str, str]) -> dict:
    full = {**os.environ, "KERAS_BACKEND": "jax", "NBML_STORE_PATH": "", **env}
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=full, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "compilation cache" not in res.stderr, res.stderr[-3000:]  # no entry failed to load
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


@pytest.fixture(autouse=True)
def jax_only():
    if os.environ.get("NBML_TEST_BACKEND", "jax") != "jax":
        pytest.skip("JAX's compilation cache: the JAX backend only")


def test_a_second_training_loads_its_programs_with_the_same_numbers(tmp_path):
    folder = tmp_path / "xla"
    out = run({"NBML_COMPILE_CACHE": str(folder)})
    first, second = out["runs"]
    assert out["dir"] == str(folder)
    assert any(folder.iterdir()), "nothing was written to the cache"
    assert second["hits"] >= 1  # the train step came from disk
    assert second["loss"] == first["loss"]  # same seed, same arithmetic
    again = run({"NBML_COMPILE_CACHE": str(folder)})  # a new kernel: loaded from the start
    assert again["runs"][0]["hits"] >= 1
    assert again["runs"][0]["loss"] == first["loss"]


def test_off_leaves_jax_as_it_is(tmp_path):
    out = run({"NBML_COMPILE_CACHE": "off", "XDG_CACHE_HOME": str(tmp_path)})
    assert out["dir"] is None
    assert all(r["hits"] == 0 for r in out["runs"])
    assert not (tmp_path / "nbml").exists()


def test_a_folder_the_user_chose_stands(tmp_path):
    mine, nbmls = tmp_path / "mine", tmp_path / "nbml"
    out = run({"USER_DIR": str(mine), "NBML_COMPILE_CACHE": str(nbmls)})
    assert out["dir"] == str(mine)
    assert not nbmls.exists()
