"""The run store (docs/reference.md#runs-and-the-store), in-process, on real SQLite files in
temporary folders."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras
import pytest

import nbml
import nbml.api
import nbml.views.tables
from nbml import NbmlError
from nbml.core.registry import REGISTRY, Event, Registry, Run
from nbml.store import Store, liveness, schema

ROOT = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("fresh_registry")


@pytest.fixture
def store(tmp_path):
    return nbml.store.open(tmp_path / ".nbml")


def iris_model():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])


def train(name="m", epochs=2, **kw):
    model = kw.pop("model", None) or iris_model()
    data = kw.pop("data", "sklearn:iris")
    return nbml.train(name, model, data, epochs=epochs, namespace={}, display=False, **kw)


def rows(path, sql, args=()):
    db = sqlite3.connect(path)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def fake_run(store, run_id, epochs=3, name="fake"):
    """A run driven by hand-made events (no Keras): begin, ``epochs`` epochs, end."""
    run = Run(run_id, name, {"epochs": epochs}, "sklearn:iris", epochs)
    store(Event("begin", run, {"params": run.params}))
    for i in range(epochs):
        run.epoch += 1
        run.metrics = {"loss": 1.0 / (i + 1), "run": run_id}
        store(Event("epoch", run, {"epoch": i, "logs": run.metrics}))
    run.status, run.ended = "finished", time.time()
    store(Event("end", run, {"status": "finished"}))
    return run


# ------------------------------------------------------------------------ what is kept


def test_a_run_its_epochs_and_its_model_are_kept(store):
    run = train(epochs=3, lr=0.01)
    assert store.flush()
    db = store.db_path
    assert rows(db, "PRAGMA journal_mode") == [("wal",)]
    assert rows(db, "PRAGMA user_version") == [(schema.schema_version(),)]
    (row,) = rows(db, "SELECT id, name, status, epoch, epochs, params, data, backend, devices, "
                      "nbml_version, keras_version, host, pid, model FROM runs")  # fmt: skip
    assert row[:5] == (run.id, "m", "finished", 3, 3)
    params = json.loads(row[5])
    assert params["lr"] == pytest.approx(0.01) and params["batch_size"] == 32
    assert row[6:8] == ("sklearn:iris", keras.backend.backend()) and row[8]
    assert row[9:11] == (nbml.__version__, keras.__version__)
    assert row[11:13] == (liveness.HOST, os.getpid())
    assert row[13] == store.model_path(run.id) and os.path.exists(row[13])
    epochs = rows(db, "SELECT epoch, logs FROM epochs WHERE run_id = ? ORDER BY epoch", (run.id,))
    assert [e for e, _ in epochs] == [0, 1, 2]
    for key, values in run.history.items():
        assert [json.loads(logs)[key] for _, logs in epochs] == values


def test_runs_merges_the_store_with_this_kernel_once_each(store):
    first = train(epochs=2)
    second = nbml.train("m", epochs=1, namespace={}, display=False)
    store.flush()
    merged = nbml.runs()
    assert [r.id for r in merged] == [first.id, second.id]
    assert merged[0] is first  # this kernel's live record, not a copy
    REGISTRY.remove("m")  # as a new kernel sees them
    stored = nbml.runs("m")
    assert [type(r).__name__ for r in stored] == ["StoredRun", "StoredRun"]
    assert stored[0].history == first.history and stored[0].metrics == first.metrics
    assert stored[1].params["epochs"] == 1 and stored[1].status == "finished"
    assert stored[0].started == first.started and stored[0].ended == pytest.approx(first.ended)
    assert nbml.runs(limit=1)[0].id == second.id
    with pytest.raises(NbmlError, match="No model named 'mm'.*Did you mean 'm'"):
        nbml.runs("mm")


# ------------------------------------------------------------------- crash safety


def test_a_killed_process_leaves_an_interrupted_run_with_its_committed_epochs(tmp_path):
    folder = tmp_path / ".nbml"
    code = f"""
import os, signal, sys
sys.path.insert(0, {str(ROOT)!r})
from nbml.core.registry import Event, Registry, Run
from nbml.store import Store
st = Store({str(folder)!r}, registry=Registry())
run = Run("deadbeef", "k", {{"epochs": 9}}, "sklearn:iris", 9)
st(Event("begin", run, {{"params": run.params}}))
for i in range(2):
    run.epoch += 1
    st(Event("epoch", run, {{"epoch": i, "logs": {{"loss": 1.0 / (i + 1)}}}}))
assert st.flush()
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    (run,) = Store(folder).runs()
    assert (run.id, run.status, run.epoch, run.epochs) == ("deadbeef", "interrupted", 2, 9)
    assert run.history == {"loss": [1.0, 0.5]}
    assert "stopped (killed" in run.message and run.ended is not None
    assert run.model_path is None
    # the next store that writes marks it interrupted for good
    writer = Store(folder, registry=Registry())
    fake_run(writer, "cafe0001", epochs=1)
    assert writer.flush()
    assert rows(writer.db_path, "SELECT status FROM runs WHERE id = 'deadbeef'") == [
        ("interrupted",)
    ]


def test_running_rows_read_running_while_their_process_or_heartbeat_lives(tmp_path):
    st = Store(tmp_path, registry=Registry())
    run = Run("0000beef", "live", {}, "x", 5)
    st(Event("begin", run, {"params": {}}))
    assert st.flush()
    assert st.runs()[0].status == "running"  # this very process
    db = sqlite3.connect(st.db_path)
    with db:
        db.execute("UPDATE runs SET host = 'elsewhere/1', heartbeat = ?", (time.time(),))
    assert st.runs()[0].status == "running"  # another host, fresh heartbeat
    with db:
        db.execute("UPDATE runs SET heartbeat = ?", (time.time() - liveness.STALE_S - 1,))
    db.close()
    assert st.runs()[0].status == "interrupted"


def test_two_writers_share_one_store_without_losing_or_mixing_rows(tmp_path):
    stores = [Store(tmp_path, registry=Registry()) for _ in range(2)]
    threads = [
        threading.Thread(target=fake_run, args=(s, f"run{i}", 200)) for i, s in enumerate(stores)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(s.flush() for s in stores)
    for i in range(2):
        epochs = rows(
            stores[0].db_path, "SELECT epoch, logs FROM epochs WHERE run_id = ?", (f"run{i}",)
        )
        assert sorted(e for e, _ in epochs) == list(range(200))
        assert {json.loads(logs)["run"] for _, logs in epochs} == {f"run{i}"}
    assert [r.status for r in stores[1].runs()] == ["finished", "finished"]


def test_a_run_training_while_the_store_is_retargeted_finishes_in_its_store(tmp_path):
    old = nbml.store.open(tmp_path / "old")
    run = train(epochs=30, background=True)
    while run.id not in old._active and run.status == "running":  # begun (on its thread)
        time.sleep(0.01)
    new = nbml.store.open(tmp_path / "new")
    run.thread.join(120)
    assert run.status == "finished"
    assert old.flush() and new.flush()
    assert [(r.id, r.status, r.epoch) for r in Store(old.path).runs()] == [(run.id, "finished", 30)]
    assert Store(new.path).runs() == []
    assert os.path.exists(old.model_path(run.id))


# ----------------------------------------------------------------- schema versions


def test_a_version_0_file_is_migrated_and_keeps_its_other_tables(tmp_path):
    (tmp_path / ".nbml").mkdir()
    path = tmp_path / ".nbml" / "runs.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (text TEXT)")
    db.execute("INSERT INTO notes VALUES ('mine')")
    db.commit()
    assert db.execute("PRAGMA user_version").fetchone() == (0,)
    db.close()
    st = nbml.store.open(tmp_path / ".nbml")
    run = train(epochs=1)
    st.flush()
    assert rows(path, "PRAGMA user_version") == [(schema.schema_version(),)]
    assert rows(path, "SELECT text FROM notes") == [("mine",)]
    assert [r.id for r in st.runs()] == [run.id]


def test_forward_migrations_run_once_in_order_and_keep_the_rows(tmp_path, monkeypatch):
    st = Store(tmp_path, registry=Registry())
    fake_run(st, "old00001", epochs=2)
    st.close()
    calls = []

    def add_tags(db):
        calls.append(1)
        db.execute("ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT ''")

    base = schema.schema_version()
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, add_tags])
    again = Store(tmp_path, registry=Registry())
    assert [r.id for r in again.runs()] == ["old00001"]  # readers read, never migrate
    assert rows(again.db_path, "PRAGMA user_version") == [(base,)]
    fake_run(again, "new00001", epochs=1)  # the writer migrates
    assert again.flush()
    assert again.runs()[0].history == {"loss": [1.0, 0.5], "run": ["old00001", "old00001"]}
    assert rows(again.db_path, "PRAGMA user_version") == [(base + 1,)]
    assert rows(again.db_path, "SELECT tags FROM runs") == [("",), ("",)]
    third = Store(tmp_path, registry=Registry())
    fake_run(third, "new00002", epochs=1)
    assert third.flush() and len(third.runs()) == 3
    assert calls == [1]
    again.close()
    third.close()


def test_a_failed_migration_changes_nothing(tmp_path, monkeypatch):
    st = Store(tmp_path, registry=Registry())
    fake_run(st, "old00001", epochs=1)
    st.close()

    def broken(db):
        db.execute("ALTER TABLE runs ADD COLUMN half TEXT")
        raise sqlite3.OperationalError("disk I/O error (simulated)")

    base = schema.schema_version()
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    with pytest.raises(sqlite3.OperationalError):
        schema.connect(st.db_path)
    assert rows(st.db_path, "PRAGMA user_version") == [(base,)]
    assert "half" not in [c[1] for c in rows(st.db_path, "PRAGMA table_info(runs)")]


# ------------------------------------------------------------------ degraded modes


def _one_warning(capsys):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("nbml: the run store")]
    assert len(lines) == 1, err
    return lines[0]


def test_a_corrupted_store_warns_once_and_training_goes_on(tmp_path, capsys):
    (tmp_path / ".nbml").mkdir()
    (tmp_path / ".nbml" / "runs.sqlite").write_bytes(b"this is not a database " * 100)
    nbml.store.open(tmp_path / ".nbml")
    first, second = train(epochs=2), train(epochs=2)
    nbml.store.current().flush()
    assert [r.status for r in (first, second)] == ["finished", "finished"]
    line = _one_warning(capsys)
    assert "cannot be written (file is not a database)" in line and "not stored yet" in line
    assert [r.id for r in nbml.runs()] == [first.id, second.id]
    assert "is behind" in nbml.views.tables.run_table().note
    (tmp_path / ".nbml" / "runs.sqlite").unlink()  # the user moves the bad file away
    assert nbml.store.current().flush(timeout=30)  # and everything queued is written
    db = tmp_path / ".nbml" / "runs.sqlite"
    assert rows(db, "SELECT id, status, epoch FROM runs ORDER BY started") == [
        (first.id, "finished", 2),
        (second.id, "finished", 2),
    ]
    assert nbml.views.tables.run_table().note == ""


@pytest.mark.parametrize("why", ["under-a-file", "newer-schema"])
def test_an_unusable_store_warns_once_and_training_goes_on(tmp_path, capsys, why):
    if why == "under-a-file":  # a folder that cannot be made (what a read-only disk does too)
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / ".nbml"
    else:
        path = tmp_path / ".nbml"
        path.mkdir()
        db = sqlite3.connect(path / "runs.sqlite")
        db.execute("PRAGMA user_version = 99")
        db.close()
    st = nbml.store.open(path)
    run = train(epochs=2)
    st.flush()
    assert run.status == "finished" and run.epoch == 2
    line = _one_warning(capsys)
    assert ("newer than this nbml's" in line) == (why == "newer-schema"), line
    assert nbml.runs()[0] is run


def test_a_locked_store_is_retried_and_catches_up(tmp_path, capsys):
    folder = tmp_path / ".nbml"
    folder.mkdir()
    schema.connect(str(folder / "runs.sqlite")).close()
    st = Store(folder, busy_timeout=0.05)
    st._unsubscribe = REGISTRY.subscribe(st)
    nbml.store._CURRENT.append(st)
    lock = sqlite3.connect(folder / "runs.sqlite", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        run = train(epochs=2)
        assert run.status == "finished"
        assert not st.flush(timeout=0.5)  # still locked
        assert "is locked by another process" in capsys.readouterr().err
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert st.flush(timeout=30)
    stored = Store(folder).runs()
    assert [(r.id, r.status, r.epoch) for r in stored] == [(run.id, "finished", 2)]


# ---------------------------------------------------------- %runs, resume, export


def test_run_table_lists_best_values_and_overlays_selected_curves(store):
    a = train(epochs=2, lr=0.01)
    b = train(epochs=3, lr=0.05)
    store.flush()
    table = nbml.views.tables.run_table()
    assert table.headers[:6] == ["run", "name", "status", "epoch", "data", "batch_size"]
    assert [row[0] for row in table.rows] == [a.id, b.id]
    best = table.headers.index("best val_accuracy")
    assert table.rows[1][best] == max(b.history["val_accuracy"])
    assert "<table" in table._repr_html_() and "<svg" not in table._repr_html_()
    html = nbml.views.tables.run_table(compare=[a.id, b.id])._repr_html_()
    assert html.count("<svg") == 2 and html.count("<polyline") == 4
    assert nbml.views.tables.run_table(limit=1).note.startswith("The last 1 of 2 runs")
    with pytest.raises(NbmlError, match="No run 'zzz'"):
        nbml.views.tables.run_table(compare=["zzz"])


def test_flush_waits_for_a_run_that_ended_in_memory_but_not_yet_in_the_store(tmp_path):
    st = Store(tmp_path, registry=Registry())
    run = Run("late", "fake", {"epochs": 1}, "sklearn:iris", 1)
    st(Event("begin", run, {"params": run.params}))
    run.status, run.ended = "finished", time.time()  # the views hear the end first...
    timer = threading.Timer(0.3, lambda: st(Event("end", run, {"status": "finished"})))
    timer.start()
    try:
        assert st.flush()  # ...and a flush right now still sees the run's end row
        assert rows(st.db_path, "SELECT status FROM runs WHERE id = 'late'") == [("finished",)]
    finally:
        timer.join()
        st.close()


def test_epochs_heard_after_training_moved_on_keep_their_own_rows(tmp_path):
    st = Store(tmp_path, registry=Registry())
    run = Run("late2", "fake", {"epochs": 3}, "sklearn:iris", 3)
    st(Event("begin", run, {"params": run.params}))
    run.epoch = 3  # training is done before the views thread hands over the epoch events
    for i in range(3):
        st(Event("epoch", run, {"epoch": i, "logs": {"loss": 1.0 / (i + 1)}}))
    run.status, run.ended = "finished", time.time()
    st(Event("end", run, {"status": "finished"}))
    assert st.flush()
    assert st.runs()[0].history == {"loss": [1.0, 0.5, 1.0 / 3]}
    st.close()
