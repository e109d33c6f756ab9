"""The sweep's default storage (``nbml.training.search.storage``): SQLite at
``<store>/sweeps.db`` in WAL mode with ``synchronous=NORMAL`` (as the run store), opened once per
kernel, and shared by several processes asking for trials of one study at once."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import optuna

from nbml.training import search

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_the_default_storage_is_sqlite_in_wal_mode_opened_once(tmp_path):
    store, lock_path, where = search.storage(None, str(tmp_path))
    path = str(tmp_path / search.DEFAULT_FILE)
    assert lock_path == path and where == "sqlite:///" + path
    assert type(store) is optuna.storages.RDBStorage  # Optuna's own, as it ships
    study = search.open_study("s", store, lock_path, "minimize", "val_loss")
    study.tell(study.ask(), 1.0)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with store.engine.connect() as conn:  # each of Optuna's connections: NORMAL (1)
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    again, _, _ = search.storage(None, str(tmp_path))
    assert again is store  # one engine per kernel: the next sweep does not open it again
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    fresh, _, _ = search.storage(None, str(tmp_path))  # the file is gone: opened afresh
    assert fresh is not store
    assert optuna.get_all_study_names(fresh) == []


def test_a_storage_url_keeps_optunas_own_settings(tmp_path):
    url = f"sqlite:///{tmp_path / 'mine.db'}"
    store, lock_path, where = search.storage(url, None)
    assert where == url and lock_path == str(tmp_path / "mine.db")
    search.open_study("s", store, lock_path, "minimize", "val_loss")
    with sqlite3.connect(lock_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)


WORKER = """
import os, sys, time
import optuna
from nbml.training import search
optuna.logging.set_verbosity(optuna.logging.WARNING)
store, lock_path, _ = search.storage(None, sys.argv[1])
study = search.open_study("shared", store, lock_path, "minimize", "val_loss")
open(os.path.join(sys.argv[1], f"ready-{os.getpid()}"), "w").close()
while sum(n.startswith("ready-") for n in os.listdir(sys.argv[1])) < 3:
    time.sleep(0.01)  # all three open before any asks
done = 0
while True:
    trial, _ = search.ask(study, 15, lock_path)
    if trial is None:
        break
    x = trial.suggest_float("x", -1, 1)
    for step in range(3):
        trial.report(x * x + 1 / (step + 1), step)
        time.sleep(0.02)
    study.tell(trial, x * x)
    done += 1
print(done)
"""


def test_three_processes_share_the_default_storage(tmp_path):
    """Three processes create the file at once and ask for trials of one 15-trial study: each
    number once, every value stored, all three contributed."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    counts = [int(out.split()[-1]) for out, _ in outs]
    assert sum(counts) == 15 and all(c >= 1 for c in counts), counts
    store, _, _ = search.storage(None, str(tmp_path))
    study = optuna.load_study(study_name="shared", storage=store)
    assert sorted(t.number for t in study.trials) == list(range(15))
    assert all(len(t.intermediate_values) == 3 for t in study.trials)
    assert {t.state for t in study.trials} == {optuna.trial.TrialState.COMPLETE}


SEEDING = """
import sys, keras, numpy as np
from nbml.training import search

def trial(number):
    search.seed_trial(7, number)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dropout(0.5)])
    return m.get_weights()[0], np.asarray(keras.random.normal((2,)))

a, b, c = trial(3), trial(3), trial(4)
print(repr((np.array_equal(a[0], b[0]), np.array_equal(a[1], b[1]), np.array_equal(a[0], c[0]),
            "tensorflow" in sys.modules)))
"""


def test_a_trial_is_seeded_without_importing_tensorflow():
    """The same (seed, trial) gives the same initial weights and the same unseeded Keras random
    draws, another trial others; and a JAX kernel does not import TensorFlow to seed it
    (``keras.utils.set_random_seed`` does, 3.2 s, whenever TensorFlow is installed)."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    out = subprocess.run(
        [sys.executable, "-c", SEEDING], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    same_weights, same_draws, same_as_other, tensorflow = eval(out.stdout.strip().splitlines()[-1])
    assert same_weights and same_draws and not same_as_other
    assert not tensorflow
