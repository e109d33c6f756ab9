"""Runs that outlive the kernel (docs/reference.md#runs-and-the-store), with real kernels sharing
one store folder.

The kernels start in one temporary folder, so ``%load_ext nbml`` attaches the store at
``.nbml`` there. In order: a kernel is killed with SIGKILL mid-training and a new kernel sees
the run ``interrupted`` with its committed epochs and continues a finished run from its saved
model; two kernels then train into the store at once; last, ``store_path`` is re-targeted,
switched off, and pointed at a corrupted file.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import sqlite3
import time

import pytest
from kernel import Kernel

IRIS = "\nkeras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation='softmax')])\n"
DIGITS = """
keras.Sequential([
    keras.Input((8, 8, 1)),
    keras.layers.Flatten(),
    keras.layers.Dense(32, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("store-kernels")


@pytest.fixture(scope="module")
def kernels():
    started: dict[str, Kernel] = {}
    yield started
    for k in started.values():
        with contextlib.suppress(Exception):  # a killed kernel is already gone
            k.shutdown()


def start(kernels, key, folder):
    k = Kernel(str(folder))
    kernels[key] = k
    k.ok("%load_ext nbml\nimport os, time, keras, nbml")
    return k


def db_rows(folder, sql, args=()):
    db = sqlite3.connect(folder / ".nbml" / "runs.sqlite")
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def kill_during_training(k: Kernel, code: str, name: str, after: int, timeout: float = 300):
    """Run ``code``; SIGKILL the kernel once its display shows ``after`` completed epochs.

    Returns the most epochs the kernel was seen to have completed before the kill.
    """
    msg_id = k.kc.execute(code)
    pattern = re.compile(rf"^{name} · running · epoch (\d+)/")
    done, deadline = 0, time.monotonic() + timeout
    while done < after:
        assert time.monotonic() < deadline, f"{name} did not reach {after} epochs"
        try:
            msg = k.kc.get_iopub_msg(timeout=5)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        assert msg["msg_type"] != "error", msg["content"]
        text = msg["content"].get("data", {}).get("text/plain", "")
        m = pattern.match(text)
        if m:
            done = max(done, int(m.group(1)) - 1)  # the line shows the epoch in progress
    process = k.km.provisioner.process
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    k.kc.stop_channels()
    return done


def test_a_killed_kernel_leaves_an_interrupted_run_and_a_new_kernel_resumes(folder, kernels):
    first = start(kernels, "first", folder)
    first.ok(f"%%train a --data sklearn:iris --epochs 2 --no-widget{IRIS}")
    a_id = first.value("nbml.runs('a')[-1].id")
    seen = kill_during_training(
        first, f"%%train b --data sklearn:digits --epochs 500 --no-widget{DIGITS}", "b", after=3
    )
    kernels.pop("first")

    second = start(kernels, "second", folder)
    listing = second.value("[(r.name, r.status, r.epoch, r.epochs) for r in nbml.runs()]")
    assert listing[0] == ("a", "finished", 2, 2)
    name, status, committed, planned = listing[1]
    assert (name, status, planned) == ("b", "interrupted", 500)
    assert committed >= seen >= 3  # nothing the kernel finished was lost
    history = second.value("nbml.runs('b')[0].history")
    assert all(len(v) == committed for v in history.values())
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    text = second.ok("%runs").result["text/plain"]
    assert "interrupted" in text and "finished" in text

    res = second.ok(f"run = %train a2 --from-run {a_id} --epochs 1 --no-widget\nprint(run.status)")
    assert res.stdout.split()[-1] == "finished"
    assert second.value("type(a2).__name__") in ("Sequential", "Functional")
    b_id = second.value("nbml.runs('b')[0].id")
    res = second.execute(f"%train b2 --from-run {b_id}")
    assert "UsageError" in res.stderr and "has no saved model" in res.stderr


def test_two_kernels_train_into_one_store_at_once(folder, kernels):
    k0 = kernels.get("second") or start(kernels, "second", folder)
    k1 = start(kernels, "third", folder)
    for k in (k0, k1):  # first-use costs (the first model save may import TensorFlow)
        k.ok(f"%%train warm --data sklearn:iris --epochs 1 --no-widget{IRIS}")
        k.ok("nbml.store.current().flush()")
    wait = "while not os.path.exists('go'):\n    time.sleep(0.01)\n"
    line = "--data sklearn:iris --epochs 120 --batch-size 4 --background --no-widget"
    ids = [
        k.kc.execute(f"{wait}get_ipython().run_cell_magic('train', 'c{i} {line}', {IRIS!r})")
        for i, k in enumerate((k0, k1))
    ]
    (folder / "go").write_text("")
    for k, msg_id in zip((k0, k1), ids, strict=True):
        while True:
            reply = k.kc.get_shell_msg(timeout=120)
            if reply["parent_header"].get("msg_id") == msg_id:
                assert reply["content"]["status"] == "ok", reply["content"]
                break
    for i, k in enumerate((k0, k1)):
        deadline = time.monotonic() + 300
        while k.value(f"nbml.models()[[m.name for m in nbml.models()].index('c{i}')].status") == (
            "training"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.5)
        k.ok("nbml.store.current().flush()")
    spans = []
    for i, k in enumerate((k0, k1)):
        run_id, history = k.value(f"(nbml.runs('c{i}')[-1].id, nbml.runs('c{i}')[-1].history)")
        rows = db_rows(
            folder,
            "SELECT epoch, logs, time FROM epochs WHERE run_id = ? ORDER BY epoch",
            (run_id,),
        )
        assert [r[0] for r in rows] == list(range(120))
        for key, values in history.items():  # this run's own values, none of the other's
            assert [json.loads(r[1])[key] for r in rows] == values
        (status,) = db_rows(folder, "SELECT status FROM runs WHERE id = ?", (run_id,))[0]
        assert status == "finished"
        spans.append((rows[0][2], rows[-1][2]))
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], f"no overlap: {spans}"


def test_store_path_retargets_switches_off_and_survives_a_corrupted_file(folder, kernels):
    k = kernels.get("third") or start(kernels, "third", folder)
    before = db_rows(folder, "SELECT COUNT(*) FROM runs")[0][0]
    k.ok("%config NbmlMagics.store_path = 'elsewhere'")
    k.ok(f"%%train e --data sklearn:iris --epochs 1 --no-widget{IRIS}")
    k.ok("assert nbml.store.current().flush()")
    assert (folder / "elsewhere" / "runs.sqlite").exists()
    assert (folder / "elsewhere" / "models" / f"{k.value('nbml.runs()[-1].id')}.keras").exists()
    k.ok("%config NbmlMagics.store_path = ''")
    k.ok(f"%%train off --data sklearn:iris --epochs 1 --no-widget{IRIS}")
    assert k.value("nbml.store.current()") is None
    (folder / "bad").mkdir()
    (folder / "bad" / "runs.sqlite").write_bytes(b"\x00garbage" * 512)
    k.ok("%config NbmlMagics.store_path = 'bad'")
    res = k.ok(f"%%train bad --data sklearn:iris --epochs 2 --no-widget{IRIS}")
    warnings = [s for s in res.stderr.splitlines() if s.startswith("nbml: the run store")]
    assert len(warnings) == 1 and "file is not a database" in warnings[0], res.stderr
    res = k.ok(f"%%train bad --data sklearn:iris --epochs 1 --no-widget{IRIS}")
    assert "nbml:" not in res.stderr  # said once
    assert k.value("[r.status for r in nbml.runs('bad')]") == ["finished", "finished"]
    assert db_rows(folder, "SELECT COUNT(*) FROM runs")[0][0] == before


SAVES = """
import threading, time as _time
import nbml.store.writer as _w
_saves, _serialise = [], _w._serialise
def _slow(model):
    _time.sleep(0.5)  # a big model: the save outlasts the cell
    blob = _serialise(model)
    _saves.append((threading.current_thread().name, _time.time()))
    return blob
_w._serialise = _slow
"""


def test_a_train_cell_saves_its_model_as_it_returns_and_the_next_cell_waits(folder, kernels):
    k = kernels.get("third") or start(kernels, "third", folder)
    k.ok("%config NbmlMagics.store_path = '.nbml'")
    k.ok(SAVES)
    k.ok(f"%%train later --data sklearn:iris --epochs 1 --no-widget{IRIS}")
    # the next cell starts only once the model is written (IPython's pre_run_cell)
    thread, saved = k.value("(_saves[-1], _time.time())")[0]
    started = k.value("_time.time()")
    assert thread == "nbml-save" and saved <= started
    run_id = k.value("nbml.runs('later')[-1].id")
    k.ok("assert nbml.store.current().flush()")
    assert (folder / ".nbml" / "models" / f"{run_id}.keras").exists()
    assert db_rows(folder, "SELECT status, model FROM runs WHERE id = ?", (run_id,))[0][1]
    # a line magic (or nbml.train) hands back a model its caller may use at once: saved first
    # (by the views thread, before the line returns)
    k.ok("%train later --epochs 1 --no-widget\nassert _saves[-1][0] == 'nbml-views'")
    # nbml.train (a Retrain click, between cells) first waits for a save still running
    k.ok(
        f"get_ipython().run_cell_magic('train', 'again --data sklearn:iris --epochs 1 "
        f"--no-widget', {IRIS!r})\n"
        "run = nbml.train('later', epochs=1, display='none')\n"
        "assert [t for t, _ in _saves[-2:]] == ['nbml-save', 'nbml-views'], _saves\n"
        "assert _saves[-2][1] <= run.started"
    )
    k.ok("_w._serialise = _serialise")
