"""Store faults (docs/reference.md#runs-and-the-store): a full disk, a lock held by another process,
a read-only file.

Each fault is real where this machine allows it: a size-limited tmpfs filled to the brim, a
second process holding ``BEGIN EXCLUSIVE``, a file the writer may not write (``chattr +i`` as
root, ``chmod`` otherwise). Where it does not (no ``mount``, no ``chattr``), the same error is
raised at the SQLite layer instead: the writer's connection fails as a full disk would, or
is opened ``mode=ro`` by SQLite. In each, real Keras training finishes while the store cannot
be written, ``%runs`` says the store is behind, and once the fault clears every epoch row,
the end row and the model file are there.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time

import keras
import pytest

import nbml
import nbml.api
import nbml.core.registry
import nbml.views.tables
from nbml.core.registry import REGISTRY
from nbml.store import schema, writer

ROOT_USER = os.geteuid() == 0
#: NBML_TEST_FAULTS=sqlite runs the SQLite-layer fallbacks even where real faults can be made.
REAL_FAULTS = os.environ.get("NBML_TEST_FAULTS", "real") != "sqlite"


pytestmark = pytest.mark.usefixtures("fresh_registry")


def train(name="m", epochs=3):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    return nbml.train(name, model, "sklearn:iris", epochs=epochs, namespace={}, display=False)


def rows(path, sql, args=()):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def wait_for(condition, seconds=60.0):
    """Wait (not a timing check: the condition is bound to come true) until ``condition()``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def one_warning(capsys):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("nbml: the run store")]
    assert len(lines) == 1, err
    return lines[0]


def assert_behind(st, run, capsys, fault):
    """While the fault lasts: training is done, nothing is stored, and nbml says so."""
    assert run.status == "finished" and run.epoch == run.epochs
    assert not st.flush(timeout=1)  # the fault holds: nothing can be committed
    wait_for(lambda: st.fault)
    table = nbml.views.tables.run_table()
    assert run.id in [r[0] for r in table.rows]  # this kernel's run is listed meanwhile
    assert "is behind" in table.note and "not stored yet" in table.note, table.note
    assert f"of run {run.id} (m)" in table.note and fault in table.note, table.note
    assert "is behind" in table._repr_html_()
    assert nbml.runs()[-1] is run
    line = one_warning(capsys)
    assert "not stored yet" in line and fault in line and "retries" in line, line
    assert "memory only" not in line


def assert_all_stored(st, run):
    """Every epoch row, the end row and the model file of ``run`` are in the store."""
    assert st.flush(timeout=60), st.behind()
    (row,) = rows(st.db_path, "SELECT status, epoch, model FROM runs WHERE id = ?", (run.id,))
    assert row == ("finished", run.epochs, st.model_path(run.id))
    epochs = rows(
        st.db_path, "SELECT epoch, logs FROM epochs WHERE run_id = ? ORDER BY epoch", (run.id,)
    )
    assert [e for e, _ in epochs] == list(range(run.epochs))
    assert [json.loads(logs)["loss"] for _, logs in epochs] == run.history["loss"]
    assert keras.saving.load_model(row[2]).count_params() == 15  # a complete file
    assert st.fault == "" and st.behind() == "" and nbml.views.tables.run_table().note == ""


def _mount_tmpfs(folder, size):
    folder.mkdir()
    if not REAL_FAULTS:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    return done.returncode == 0


def _umount(folder):
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


# ------------------------------------------------------------------------ a full disk


def _fill(folder):
    """Fill the file system of ``folder``; returns the filler file."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 4096)
    return filler


def test_a_full_disk_keeps_everything_queued_and_writes_it_once_there_is_room(
    tmp_path, capsys, monkeypatch
):
    disk = tmp_path / "disk"
    if _mount_tmpfs(disk, "2m"):  # a real full disk
        try:
            filler = _fill(disk)
            st = nbml.store.open(disk / ".nbml")
            run = train()
            assert_behind(st, run, capsys, "full")
            filler.unlink()  # room again
            assert_all_stored(st, run)
            nbml.store.close()
        finally:
            _umount(disk)
    else:  # no mount here: the writer's connection fails as SQLite does on a full disk
        real = writer.connect

        def full(*args, **kwargs):
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(writer, "connect", full)
        st = nbml.store.open(tmp_path / ".nbml")
        run = train()
        assert_behind(st, run, capsys, "full")
        monkeypatch.setattr(writer, "connect", real)
        assert_all_stored(st, run)


# ---------------------------------------------------- a lock held by another process

HOLD = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


def test_a_store_locked_by_another_process_is_listed_and_caught_up_when_let_go(tmp_path, capsys):
    st = nbml.store.open(tmp_path / ".nbml")
    st.busy_timeout = 0.05  # give up each try quickly (the default waits 10 s)
    before = train("earlier", epochs=1)
    assert st.flush()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, st.db_path], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline() == b"locked\n"
        run = train()
        assert_behind(st, run, capsys, "locked")
        assert [r.id for r in nbml.runs()] == [before.id, run.id]
        assert "is locked by another process" in nbml.views.tables.run_table().note or st.fault
    finally:
        holder.communicate(b"\n", timeout=30)
    assert_all_stored(st, run)


# ------------------------------------------------------------------ a read-only file


@contextlib.contextmanager
def read_only_file(path, monkeypatch):
    """Make the store file ``path`` unwritable for this process; yields how."""
    if not ROOT_USER:
        os.chmod(path, 0o444)
        try:
            yield "chmod"
        finally:
            os.chmod(path, 0o644)
        return
    chattr = shutil.which("chattr") if REAL_FAULTS else None
    if chattr and subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode == 0:
        try:
            yield "chattr"
        finally:
            subprocess.run([chattr, "-i", str(path)], check=True)
        return
    real = writer.connect  # root without chattr: SQLite opens the file read-only itself

    def read_only(db_path, busy_timeout=schema.BUSY_TIMEOUT_S):
        return sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None)

    monkeypatch.setattr(writer, "connect", read_only)
    try:
        yield "mode=ro"
    finally:
        monkeypatch.setattr(writer, "connect", real)


def test_a_read_only_store_file_is_listed_and_written_once_writable(tmp_path, capsys, monkeypatch):
    st = nbml.store.open(tmp_path / ".nbml")
    before = train("earlier", epochs=1)
    nbml.store.close()  # the next store opens the file afresh
    REGISTRY.remove("earlier")
    with read_only_file(tmp_path / ".nbml" / "runs.sqlite", monkeypatch):
        st = nbml.store.open(tmp_path / ".nbml")
        assert [r.id for r in st.runs()] == [before.id]  # listed, though not writable
        run = train()
        assert_behind(st, run, capsys, "readonly")
        assert [r.id for r in nbml.runs()] == [before.id, run.id]
    assert_all_stored(st, run)


# --------------------------------------------------------- readers never write, nor stop


@contextlib.contextmanager
def read_only_folder(folder):
    """Make ``folder`` (holding a store) read-only: a read-only mount where possible."""
    if ROOT_USER:
        mount = folder.parent / "ro"
        if _mount_tmpfs(mount, "4m"):
            shutil.copytree(folder, mount / folder.name)
            subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
            try:
                yield mount / folder.name
            finally:
                _umount(mount)
            return
        subprocess.run(["chattr", "+i", str(folder)], check=True)
        try:
            yield folder
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        return
    os.chmod(folder, 0o555)
    try:
        yield folder
    finally:
        os.chmod(folder, 0o755)


def test_a_store_nobody_may_write_is_listed_without_changing_it(tmp_path):
    folder = tmp_path / ".nbml"
    st = nbml.store.open(folder)
    run = train(epochs=2)
    nbml.store.close()
    st._writer.join(30)
    assert not (folder / "runs.sqlite-wal").exists()  # closed cleanly: no WAL files left
    with read_only_folder(folder) as ro:
        reader = nbml.store.Store(ro)
        (stored,) = reader.runs()
        assert (stored.id, stored.status, stored.epoch) == (run.id, "finished", 2)
        assert stored.history["loss"] == run.history["loss"]
        assert reader.read_fault == "" and reader.count() == 1
    # a store in rollback-journal mode stays so: reading switches nothing, migrates nothing
    db = sqlite3.connect(folder / "runs.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode = DELETE")
    db.close()
    assert [r.id for r in nbml.store.Store(folder).runs()] == [run.id]
    assert rows(st.db_path, "PRAGMA journal_mode") == [("delete",)]
    assert not (folder / "runs.sqlite-wal").exists()


class BrokenConnection:
    def execute(self, *args):
        raise sqlite3.OperationalError("disk I/O error")

    def close(self):
        pass


def test_a_failed_read_never_stops_the_writer(tmp_path, capsys):
    st = nbml.store.open(tmp_path / ".nbml")
    first = train(epochs=1)
    assert st.flush()
    st._reader = BrokenConnection()  # the next read fails
    assert nbml.runs() == [first]  # this kernel's run, from memory
    second = train(epochs=2)
    assert st.flush()
    assert [r.id for r in st.runs()] == [first.id, second.id]  # read again, and written
    assert st.problem == ""
    assert "cannot be read (disk I/O error)" in capsys.readouterr().err


# ------------------------------------------------------------- retry policy and bounds


class Clock:
    """Stands in for the writer's wake-up event: records each backoff instead of waiting."""

    def __init__(self, failures):
        self.delays, self.failures = [], failures

    def wait(self, delay):
        self.delays.append(delay)
        if len(self.delays) == self.failures:
            self.fix()
        return False

    def set(self):
        pass

    def clear(self):
        pass


def test_every_error_is_retried_with_a_capped_backoff_and_nothing_is_lost(
    tmp_path, monkeypatch, capsys
):
    real = writer.connect

    def broken(*args):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(writer, "connect", broken)
    st = writer.Store(tmp_path, registry=nbml.core.registry.Registry())
    clock = st._wake = Clock(failures=9)
    clock.fix = lambda: monkeypatch.setattr(writer, "connect", real)
    run = nbml.core.registry.Run("r1", "fake", {"epochs": 3}, "sklearn:iris", 3)
    st(nbml.core.registry.Event("begin", run, {"params": run.params}))
    for i in range(3):
        run.epoch += 1
        run.metrics = {"loss": 1.0 / (i + 1)}
        st(nbml.core.registry.Event("epoch", run, {"epoch": i, "logs": run.metrics}))
    run.status, run.ended = "finished", time.time()
    st(nbml.core.registry.Event("end", run, {"status": "finished"}))
    assert st.flush(timeout=60)
    assert clock.delays == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0]
    assert rows(st.db_path, "SELECT status, epoch FROM runs") == [("finished", 3)]
    assert len(rows(st.db_path, "SELECT * FROM epochs")) == 3
    st.close()


def test_the_backlog_is_bounded_and_says_what_it_dropped(monkeypatch):
    from nbml.store import backlog

    monkeypatch.setattr(backlog, "MAX_EPOCH_OPS", 20)
    monkeypatch.setattr(backlog, "MAX_MODEL_BYTES", 1000)
    pending = backlog.Pending()
    log = backlog.Backlog(pending)

    def add(op, name):
        pending.add(op, name)
        log.add(op)

    for run in ("a", "b"):
        add(("begin", run, run, {}, "x", 30, 0.0), run)
        for i in range(15):
            add(("epoch", run, i, {"loss": 1.0}, 0.0, 0.1), run)
        add(("end", run, ("finished", 15, 1.0, {}, ""), b"m" * 600, ""), run)
    for _ in range(5):
        log.add(("heartbeat",))
    kinds = [op[0] for op in log.ops]
    assert kinds.count("begin") == 2 and kinds.count("end") == 2  # never dropped
    assert kinds.count("epoch") <= 20 and pending.dropped_epochs == 30 - kinds.count("epoch")
    assert kinds.count("heartbeat") == 1
    models = [op[3] for op in log.ops if op[0] == "end"]
    assert models[0] is None and models[1] == b"m" * 600  # the oldest waiting model went
    assert "memory" in [op[4] for op in log.ops if op[0] == "end"][0]
    assert pending.describe().startswith("2 starts, ")
    assert "2 ends and 1 model of 2 runs (a, b)" in pending.describe()
    log.committed()
    assert pending.count() == 0 and pending.describe() == "nothing"
