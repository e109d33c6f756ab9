"""--distribute data over two processes on one machine (JAX's CPU collectives over gloo),
started by ``python -m nbml.launch`` (docs/multihost.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "multihost_train.py"

# Runs docs/examples/multihost_train.py as it is, in every process of the job; the hooks only
# look: the model as it starts training (saved by every process) and what each process ends with.
OBSERVED = """
import json, os, runpy, sys
import keras, numpy as np
import nbml

OUT = os.environ["OUT"]
class Start(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):  # every process: saving inside fit syncs the state
        import jax
        self.model.save(os.path.join(OUT, f"start{jax.process_index()}.keras"))

_train = nbml.train
nbml.train = lambda *a, **k: _train(*a, callbacks=[Start()], **k)
g = runpy.run_path(sys.argv[1], run_name="__main__")
me, run, ev = g["me"], g["run"], g["ev"]
ds = nbml.models()[-1].dataset
np.savez(os.path.join(OUT, f"p{me}.npz"), x_train=ds.x_train, y_train=ds.y_train,
         x_val=ds.x_val, y_val=ds.y_val, x_test=ds.x_test, y_test=ds.y_test,
         confusion=ev.confusion_matrix)
with open(os.path.join(OUT, f"p{me}.json"), "w") as f:
    json.dump({"history": run.history, "accuracy": ev.accuracy, "run": run.id,
               "device": nbml.models()[-1].device, "rows": len(ev.y_true)}, f)
"""

# One process leaves the job early, before training or after its first epoch (its peer's
# connection closes), or stalls before training (its peer waits out the timeout).
LEAVER = """
import os, sys
import jax, keras, numpy as np
import nbml

keras.distribution.initialize()
me = jax.process_index()
if me == 1 and sys.argv[1] == "before":
    os._exit(3)
if me == 1 and sys.argv[1] == "stalls":  # alive, connected, but never takes part
    import time
    time.sleep(12)
    os._exit(3)
class Leave(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if me == 1:
            os._exit(3)
x = np.random.default_rng(me).random((512, 8), dtype=np.float32)
y = (x.sum(axis=1) > 4).astype("int64")
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2, activation="softmax")])
nbml.train("m", model, (x, y), epochs=50, batch_size=8, distribute="data", display="none",
           callbacks=[Leave()])
print("process", me, "ended training")
"""


def _launch(tmp_path: Path, script: str, *args: str, options: tuple = ()) -> tuple[int, str]:
    env = dict(os.environ, OUT=str(tmp_path), NBML_STORE_PATH=str(tmp_path / ".nbml"))
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    proc = subprocess.run(
        [sys.executable, "-m", "nbml.launch", "--processes", "2", *options, script, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    return proc.returncode, proc.stdout + proc.stderr


def _global_batches_run(start: Path, parts: list, batch: int, epochs: int) -> tuple[list, list]:
    """One process, one device: the model as it started, trained on the global batches the two
    processes fed together (each process's share of batch k, process 0's first; each process
    shuffles its own rows with numpy's generator seeded as nbml seeds it)."""
    import keras

    model = keras.models.load_model(start)
    rows = min(len(p["x_train"]) for p in parts)  # every process trains on as many rows
    xs = [p["x_train"][:rows] for p in parts]
    ys = [p["y_train"][:rows] for p in parts]
    vrows = min(len(p["x_val"]) for p in parts)
    xv = np.concatenate([p["x_val"][:vrows] for p in parts])
    yv = np.concatenate([p["y_val"][:vrows] for p in parts])
    local = batch // len(parts)
    np.random.seed(0)  # nbml's default --seed 0, set before fit
    losses, val = [], []
    for _ in range(epochs):
        order = np.random.permutation(rows)  # what each process's fit draws for this epoch
        blocks = [order[i : i + local] for i in range(0, rows, local)]
        x = np.concatenate([a[b] for b in blocks for a in xs])
        y = np.concatenate([a[b] for b in blocks for a in ys])
        h = model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0,
                      validation_data=(xv, yv), validation_batch_size=batch)  # fmt: skip
        losses.append(h.history["loss"][0])
        val.append(h.history["val_loss"][0])
    return losses, val


def test_two_processes_train_as_one_on_the_same_global_batches(tmp_path):
    (tmp_path / "observed.py").write_text(OBSERVED)
    rc, out = _launch(tmp_path, "observed.py", str(EXAMPLE))
    assert rc == 0, out[-3000:]
    lines = [ln for ln in out.splitlines() if re.match(r"\[\d\] (process|nbml)", ln)]
    assert any("auto-sharding is off" in ln for ln in lines), out[-3000:]
    assert any(ln.startswith("[1] nbml: process 1 of 2: process 0 stores run") for ln in lines)
    p = [json.loads((tmp_path / f"p{i}.json").read_text()) for i in (0, 1)]
    parts = [dict(np.load(tmp_path / f"p{i}.npz")) for i in (0, 1)]
    assert p[0]["run"] == p[1]["run"] and p[0]["device"] == p[1]["device"]
    assert p[0]["device"].endswith("(data parallel over 2 processes)")
    # the same numbers in both processes: loss and metrics of the global batches
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        assert p[0]["history"][key] == p[1]["history"][key], key
    # ... and the same as one process that sees the same global batches
    losses, val = _global_batches_run(tmp_path / "start0.keras", parts, batch=64, epochs=5)
    np.testing.assert_allclose(p[0]["history"]["loss"], losses, atol=1e-5, rtol=0)
    np.testing.assert_allclose(p[0]["history"]["val_loss"], val, atol=1e-5, rtol=0)
    # evaluation: identical in both, over the whole test set, scikit-learn's numbers
    import keras
    from sklearn.metrics import accuracy_score, confusion_matrix

    assert p[0]["accuracy"] == p[1]["accuracy"]
    assert (parts[0]["confusion"] == parts[1]["confusion"]).all()
    x_test = np.concatenate([q["x_test"] for q in parts])
    y_test = np.concatenate([q["y_test"] for q in parts])
    assert p[0]["rows"] == len(y_test) == 360  # 1797 digits, a 0.2 test split of each shard
    stored = sorted((tmp_path / ".nbml" / "models").glob("*.keras"))
    assert [f.stem for f in stored] == [p[0]["run"]]  # one run, written by process 0
    model = keras.models.load_model(stored[0])
    pred = np.argmax(model.predict(x_test, verbose=0), axis=1)
    assert (parts[0]["confusion"] == confusion_matrix(y_test, pred, labels=range(10))).all()
    assert p[0]["accuracy"] == accuracy_score(y_test, pred)
    import sqlite3

    with sqlite3.connect(tmp_path / ".nbml" / "runs.sqlite") as db:
        assert db.execute("select id, status from runs").fetchall() == [(p[0]["run"], "finished")]


def _leaves(tmp_path: Path, when: str) -> str:
    (tmp_path / "leaver.py").write_text(LEAVER)
    t0 = time.monotonic()
    rc, out = _launch(tmp_path, "leaver.py", when, options=("--timeout", "5"))
    took = time.monotonic() - t0
    assert rc != 0 and "ended training" not in out, out[-3000:]
    mine = [ln for ln in out.splitlines() if ln.startswith("[0] nbml: process 0 of 2 stopped")]
    assert len(mine) == 1, out[-3000:]
    assert re.search(r"process 1 .*coordinator 127\.0\.0\.1:\d+", mine[0]), mine[0]
    assert "nbml.launch:" not in out, out[-3000:]  # it ended by itself, not killed
    assert took < 50, took
    return mine[0]


def test_a_process_that_exits_before_training_stops_the_other(tmp_path):
    line = _leaves(tmp_path, "before")
    assert "stopped starting to train" in line and "process 1 left the job" in line, line


def test_a_process_that_stalls_stops_the_other_at_the_timeout(tmp_path):
    line = _leaves(tmp_path, "stalls")
    assert "process 1 did not answer for 5 s" in line, line


def test_a_process_that_leaves_while_training_stops_the_other(tmp_path):
    line = _leaves(tmp_path, "during")
    assert "training m" in line, line


def test_a_named_dataset_gives_each_process_every_nth_row_of_each_part(monkeypatch):
    """Every process loads ``--data sklearn:digits`` whole and splits it the same way; process
    ``i`` of ``n`` keeps rows ``i, i+n, ...`` of each part (in-memory data is its own shard)."""
    import keras

    from nbml.ml import data, distribution, processes

    ds = data.prepare(data.resolve("sklearn:digits"), seed=0)
    dist = keras.distribution.DataParallel(devices=keras.distribution.list_devices())
    monkeypatch.setattr(processes, "info", lambda: (1, 2))
    mine = distribution.shard(ds, dist, named=True)
    for part in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(mine, part), getattr(ds, part)[1::2])
    assert distribution.shard(ds, dist, named=False) is ds
    assert distribution.local_batch(64, dist) == 32
