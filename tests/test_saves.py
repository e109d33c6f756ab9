"""Saves never truncate an earlier file, and --from-run trusts nothing a store names
(docs/reference.md#runs-and-the-store).

``%save`` and the store's model files are serialised in memory, written beside the target and
renamed into place; each failure is an NbmlError (a one-line UsageError from the magic) that
names the problem and the fix. On real files; an unwritable folder is made with ``chattr +i``
as root (root ignores permission bits), with ``chmod`` otherwise.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import os
import shutil
import sqlite3
import subprocess
import time

import keras
import numpy as np
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import nbml
import nbml.api
import nbml.views.tables
from nbml import NbmlError
from nbml.core.registry import REGISTRY, Event, Registry, Run
from nbml.magics import NbmlMagics
from nbml.ml.exporting import ONNX_NEEDS
from nbml.store import Store

pytestmark = pytest.mark.usefixtures("fresh_registry")


class Sub(keras.Model):
    """A subclassed model Keras cannot serialise: a function among its ``__init__`` args."""

    def __init__(self, act):
        super().__init__()
        self.act = act
        self.dense = keras.layers.Dense(3)

    def call(self, x):
        return self.act(self.dense(x))


@pytest.fixture
def store(tmp_path):
    return nbml.store.open(tmp_path / ".nbml")


def iris_model():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])


def train(name="m", model=None, epochs=1, **kw):
    model = model or iris_model()
    return nbml.train(name, model, "sklearn:iris", epochs=epochs, namespace={}, display=False, **kw)


def magic_save(line):
    NbmlMagics(InteractiveShell.instance()).save(line)


def rows(path, sql, args=()):
    db = sqlite3.connect(path)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


@contextlib.contextmanager
def unwritable(folder):
    """A folder no file can be made in, even by root."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(folder)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        os.chmod(folder, 0o555)
        try:
            yield
        finally:
            os.chmod(folder, 0o755)


# --------------------------------------------------------------------------- %save


def test_a_model_keras_cannot_save_leaves_the_earlier_file_and_says_why(tmp_path, capsys):
    st = nbml.store.open(tmp_path / ".nbml")
    train("m")
    path = tmp_path / "m.keras"
    nbml.save("m", str(path))
    good = path.read_bytes()
    run = train("sub", Sub(keras.activations.softmax))
    assert run.status == "finished"
    with pytest.raises(NbmlError, match=r"Keras cannot save sub: .*get_config\(\).*save_weights"):
        nbml.save("sub", str(path))
    assert path.read_bytes() == good  # Keras alone would have truncated it
    with pytest.raises(UsageError, match="Keras cannot save sub") as caught:
        magic_save(f"sub {path}")
    assert "\n" not in str(caught.value) and path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
    # the store keeps the run, without its model, and says so: once, in %runs, in --from-run
    assert st.flush()
    assert rows(st.db_path, "SELECT status, model FROM runs WHERE id = ?", (run.id,)) == [
        ("finished", None)
    ]
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("nbml:")]
    assert len(lines) == 1 and f"keeps run {run.id} of sub without its model" in lines[0]
    assert "get_config()" in lines[0]
    note = nbml.views.tables.run_table().note
    assert f"Run {run.id} (sub) has no saved model: Keras cannot save it" in note
    REGISTRY.remove("sub")  # as a new kernel reads it
    assert "Keras cannot save it" in nbml.views.tables.run_table().note
    with pytest.raises(NbmlError, match=r"has no saved model: Keras cannot save it \(Object Sub"):
        nbml.train("again", from_run=run.id, namespace={}, display=False)


def test_an_unwritable_folder_keeps_the_earlier_file(tmp_path):
    train("m")
    folder = tmp_path / "models"
    folder.mkdir()
    path = folder / "m.keras"
    path.write_bytes(b"an earlier good file")
    with unwritable(folder):
        with pytest.raises(NbmlError, match=r"Cannot save m to .*m\.keras: the folder .* is not"):
            nbml.save("m", str(path))
        with pytest.raises(UsageError, match="is not writable.*~/m.keras"):
            magic_save(f"m {path}")
    assert path.read_bytes() == b"an earlier good file"
    assert os.listdir(folder) == ["m.keras"]


def test_a_full_disk_keeps_the_earlier_file(tmp_path, monkeypatch):
    train("m", big_model())
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = (
        os.geteuid() == 0
        and os.environ.get("NBML_TEST_FAULTS") != "sqlite"  # (forces the fallback)
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True
        ).returncode
        == 0
    )
    try:
        path = disk / "m.keras"
        nbml.save("m", str(path))
        good = path.read_bytes()
        if mounted:  # a real full disk: fill what is left
            with open(disk / "filler", "wb", buffering=0) as f, contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * 4096)
        else:  # no mount here: the write fails as a full disk makes it fail

            def full(fd):
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(os, "fsync", full)
        with pytest.raises(NbmlError, match=r"Cannot save m to .*: the disk is full"):
            nbml.save("m", str(path))
        assert path.read_bytes() == good  # Keras alone truncates it, then fails
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "m.keras"][not mounted :]
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def big_model():
    """A model with a file of about 1 MiB (weights and optimizer state)."""
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(300, activation="relu"), keras.layers.Dense(300),
         keras.layers.Dense(3, activation="softmax")]
    )  # fmt: skip


def test_a_path_under_a_file_says_which_part_is_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train("m")
    (tmp_path / "somefile.txt").write_text("notes")
    with pytest.raises(NbmlError, match=r"somefile\.txt is a file, not a folder"):
        nbml.save("m", "somefile.txt/m.keras")
    with pytest.raises(UsageError, match=r"somefile\.txt is a file, not a folder"):
        magic_save("m somefile.txt/deeper/m.keras")
    assert (tmp_path / "somefile.txt").read_text() == "notes"


def test_a_tilde_is_the_home_folder(tmp_path, monkeypatch):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    model = train("m")
    assert nbml.save("m", "~/models/m.keras") == str(home / "models" / "m.keras")
    assert nbml.save("m", store_path="~/.nbml") == str(home / ".nbml" / "saved" / "m.keras")
    assert not (work / "~").exists()
    again = keras.saving.load_model(home / "models" / "m.keras")
    assert again.count_params() == nbml.models()[0].model.count_params() and model


def test_a_save_over_a_good_file_replaces_it_whole_and_clears_stale_parts(tmp_path):
    train("m")
    path = tmp_path / "m.keras"
    path.write_bytes(b"old")
    stale, fresh = tmp_path / ".m.keras.abc123.part", tmp_path / ".m.keras.def456.part"
    stale.write_bytes(b"left by a killed kernel")
    fresh.write_bytes(b"a save in progress elsewhere")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    nbml.save("m", str(path))
    assert keras.saving.load_model(path).count_params() == 15
    assert not stale.exists() and fresh.exists()


# ------------------------------------------------------------------- store model files


def test_the_model_file_is_fsynced_before_its_row_commits(tmp_path, monkeypatch):
    st = nbml.store.open(tmp_path / ".nbml")
    models = tmp_path / ".nbml" / "models"
    models.mkdir(parents=True)
    stale = models / "gone.keras.part"  # an old-style leftover of a killed kernel
    stale.write_bytes(b"x")
    os.utime(stale, (time.time() - 7200,) * 2)
    synced = []
    real = os.fsync

    def fsync(fd):
        name = os.readlink(f"/proc/self/fd/{fd}")
        if name.endswith(".part"):  # the model file, before its rename
            row = rows(st.db_path, "SELECT COUNT(*) FROM runs WHERE model IS NOT NULL")
            synced.append((os.path.basename(name), row[0][0]))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    run = train("m")
    assert st.flush()
    assert len(synced) == 1 and synced[0][0].startswith(f".{run.id}.keras.")
    assert synced[0][1] == 0  # no row named the model yet
    assert rows(st.db_path, "SELECT model FROM runs") == [(st.model_path(run.id),)]
    assert not stale.exists()
    assert sorted(os.listdir(models)) == [f"{run.id}.keras"]


# ------------------------------------------------------------------- --from-run trust


def _stored_run(tmp_path):
    st = nbml.store.open(tmp_path / ".nbml")
    run = train("m", epochs=1)
    assert st.flush()
    REGISTRY.remove("m")
    return st, run


def test_from_run_loads_no_model_file_outside_the_store(tmp_path):
    st, run = _stored_run(tmp_path)
    outside = tmp_path / "elsewhere.keras"
    shutil.copy(st.model_path(run.id), outside)  # a valid model: only its place is wrong
    db = sqlite3.connect(st.db_path)
    db.execute("UPDATE runs SET model = ? WHERE id = ?", (str(outside), run.id))
    db.commit()
    with pytest.raises(NbmlError, match=r"outside the store's models folder"):
        nbml.train("x", from_run=run.id, namespace={}, display=False)
    link = tmp_path / ".nbml" / "models" / "link.keras"  # inside by name, outside in fact
    link.symlink_to(outside)
    db.execute("UPDATE runs SET model = ? WHERE id = ?", (str(link), run.id))
    db.commit()
    db.close()
    with pytest.raises(NbmlError, match=r"outside the store's models folder"):
        nbml.train("x", from_run=run.id, namespace={}, display=False)
    assert REGISTRY.get("x") is None


def test_from_run_of_a_moved_store_loads_its_own_copy(tmp_path):
    _, run = _stored_run(tmp_path / "a")
    nbml.store.close()
    shutil.copytree(tmp_path / "a" / ".nbml", tmp_path / "b")
    shutil.rmtree(tmp_path / "a")  # the path in the row is gone
    nbml.store.open(tmp_path / "b")
    again = nbml.train("again", from_run=run.id, epochs=1, namespace={}, display=False)
    assert again.status == "finished" and again.params["from_run"] == run.id


def test_from_run_reads_no_data_file_outside_the_notebook_folder(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    st, run = _stored_run(work)
    outside = tmp_path / "secret.csv"
    outside.write_text("a,b,c,d,label\n" + "1,2,3,4,0\n" * 20 + "4,3,2,1,1\n" * 20)
    db = sqlite3.connect(st.db_path)
    db.execute("UPDATE runs SET data = ? WHERE id = ?", (str(outside), run.id))
    db.commit()
    db.close()
    with pytest.raises(NbmlError, match=r"secret\.csv' is a file outside this notebook's folder"):
        nbml.train("x", from_run=run.id, target="label", namespace={}, display=False)
    inside = work / "mine.csv"  # a file in the notebook's folder is read as before
    shutil.copy(outside, inside)
    db = sqlite3.connect(st.db_path)
    db.execute("UPDATE runs SET data = ? WHERE id = ?", ("mine.csv", run.id))
    db.commit()
    db.close()
    again = nbml.train("x", from_run=run.id, target="label", epochs=1, namespace={}, display=False)
    assert again.status == "finished"


def test_from_run_of_a_run_without_a_model_says_why(tmp_path):
    st = nbml.store.open(tmp_path)
    writer = Store(tmp_path, registry=Registry())
    run = Run("nomodel1", "fake", {"epochs": 1}, "sklearn:iris", 1)  # events, no model
    writer(Event("begin", run, {"params": run.params}))
    run.status, run.ended = "finished", time.time()
    writer(Event("end", run, {"status": "finished"}))
    assert writer.flush()
    with pytest.raises(NbmlError, match="has no saved model"):
        nbml.train("x", from_run="nomodel1", namespace={}, display=False)
    assert REGISTRY.get("x") is None and st.problem == ""


def test_save_formats_name_what_to_install(store):
    train(epochs=1)
    if importlib.util.find_spec("tensorflow") is None:
        with pytest.raises(NbmlError, match=r"pip install nbml\[tensorflow\]"):
            nbml.save("m", format="saved_model", store_path=store.path)
    missing = [
        p for p in ONNX_NEEDS[keras.backend.backend()] if importlib.util.find_spec(p) is None
    ]
    if missing:
        with pytest.raises(NbmlError, match=f"needs {missing[0]}.*pip install {missing[0]}"):
            nbml.save("m", format="onnx", store_path=store.path)
    with pytest.raises(NbmlError, match="Did you mean 'onnx'"):
        nbml.save("m", format="onx")
    with pytest.raises(NbmlError, match="SavedModel is a folder"):
        nbml.save("m", "m.keras", format="saved_model")


def test_saved_model_export_serves_the_same_predictions(store, tmp_path):
    tf = pytest.importorskip(
        "tensorflow", reason="SavedModel needs TensorFlow: make test-backends runs this"
    )
    ns = {}
    nbml.train("m", iris_model(), "sklearn:iris", epochs=1, namespace=ns, display=False)
    path = nbml.save("m", str(tmp_path / "served"), format="saved_model")
    x = nbml.models()[0].dataset.x_test
    loaded = tf.saved_model.load(path)  # keep it: its variables live as long as it does
    served = loaded.serve(tf.constant(x))
    np.testing.assert_allclose(np.asarray(served), ns["m"].predict(x, verbose=0), atol=1e-5)


def test_the_stored_model_reloads_and_predicts_identically(store):
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")]
    )
    ns = {}
    run = nbml.train("d", model, "sklearn:digits", epochs=1, namespace=ns, display=False)
    store.flush()
    again = keras.saving.load_model(store.runs()[-1].model_path)
    raw = nbml.models()[0].dataset.x_test[:32]  # raw pixels: normalisation is inside the model
    assert raw.max() == 16
    assert np.array_equal(again.predict(raw, verbose=0), ns["d"].predict(raw, verbose=0))
    path = nbml.save("d", store_path=store.path)
    assert path == os.path.join(store.path, "saved", "d.keras")
    assert np.array_equal(
        keras.saving.load_model(path).predict(raw, verbose=0), ns["d"].predict(raw, verbose=0)
    )
    assert run.status == "finished"


def test_from_run_continues_the_saved_model_on_the_same_split(store):
    first = train(epochs=3, lr=0.05)
    store.flush()
    REGISTRY.remove("m")  # as in a new kernel
    ns = {}
    run = nbml.train("again", from_run=first.id, epochs=1, namespace=ns, display=False)
    assert run.status == "finished" and run.params["from_run"] == first.id
    assert run.params["lr"] == pytest.approx(0.05)  # the optimizer came back with the model
    assert run.history["loss"][0] < first.history["loss"][0]  # continued, not from scratch
    assert isinstance(ns["again"], keras.Model)
    with pytest.raises(NbmlError, match="line form"):
        nbml.train("x", iris_model(), from_run=first.id, namespace={}, display=False)
