"""The model inspector's records in the run store: written with the run, read by any kernel.

Real SQLite files in temporary folders and real Keras training on tiny data; a second
:class:`~nbml.store.Store` on the same folder reads as another kernel would, and a fresh kernel
(``tests/kernel.py``) gets the stored records from ``inspect(run_id)``. A version 1 store (made
before the inspector) is read as it is and migrated by the first write.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time

import keras
import pytest
from kernel import Kernel

import nbml
import nbml.api
from nbml.api.inspect import from_run
from nbml.core.registry import Event, Registry, Run
from nbml.ml import flags
from nbml.store import Store, schema
from nbml.training.inspector import Log

pytestmark = pytest.mark.usefixtures("fresh_registry")


def mlp():
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


def train(name="m", epochs=2, **kw):
    return nbml.train(name, mlp(), "sklearn:iris", epochs=epochs, namespace={}, display="none",
                      **kw)  # fmt: skip


def rows(path, sql, args=()):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def tables(path):
    return {r[0] for r in rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def as_json(value):
    """``value`` as JSON text: NaN and inf compare equal as text (``NaN``, ``Infinity``)."""
    return json.dumps(value, sort_keys=True)


# -------------------------------------------------------------------- written and read


def test_a_trained_runs_records_are_read_by_another_store(tmp_path):
    folder = tmp_path / ".nbml"
    nbml.store.open(folder)
    run = train(epochs=3, inspect=2)
    assert nbml.store.current().flush()
    log = run.inspection
    assert [e for e, _ in log.records] == [2]  # every 2 epochs
    other = Store(folder, registry=Registry())  # another kernel's view of the folder
    found = other.inspection(run.id)
    assert found is not None
    name, layers, probe, records, notes, status = found
    assert (name, status) == ("m", "finished")
    assert layers == log.layers and [r["class"] for r in layers] == ["Dense", "Dense"]
    assert probe == log.probe and len(probe) > 0
    assert records == log.records and notes == log.notes
    assert rows(other.db_path, "SELECT every FROM inspected") == [(2,)]
    assert other.read_fault == ""


def test_a_run_not_inspected_or_unknown_has_no_stored_inspection(tmp_path):
    st = nbml.store.open(tmp_path / ".nbml")
    quiet = train("quiet", epochs=1, inspect="off")
    assert st.flush()
    assert quiet.inspection is None
    assert st.inspection(quiet.id) is None
    assert st.inspection("no-such-run") is None
    assert st.read_fault == ""


def hand_run(store, run_id, records, notes):
    """A run driven by hand-made events through the store's subscriber (no Keras): begin,
    then per record an epoch and its ``inspect`` event (its notes as they stood), end."""
    run = Run(run_id, "hand", {"epochs": len(records)}, "sklearn:iris", len(records))
    layers = [{"layer": "dense", "class": "Dense", "output_shape": "(None, 3)",
               "trainable": 15, "non_trainable": 0, "activation": "softmax"}]  # fmt: skip
    run.inspection = Log(layers, [3, 1, 2], 1)
    store(Event("begin", run, {"params": run.params}))
    for i, (row, note) in enumerate(zip(records, notes, strict=True)):
        run.epoch += 1
        run.metrics = {"loss": 1.0}
        store(Event("epoch", run, {"epoch": i, "logs": run.metrics}))
        run.inspection.records.append((i + 1, [row]))
        run.inspection.notes.update(note)
        store(Event("inspect", run, {"epoch": i + 1, "rows": [row]}))
    run.status, run.ended = "finished", time.time()
    store(Event("end", run, {"status": "finished"}))
    return run


def test_nan_and_inf_survive_the_store_and_still_flag(tmp_path):
    nan, inf = float("nan"), float("inf")
    stats = dict(update_ratio=0.1, act_mean=0.2, act_std=0.3, dead_fraction=0.0)
    records = [
        {"layer": "dense", "weight_norm": 1.5, "grad_norm": 0.25, **stats},
        {"layer": "dense", "weight_norm": nan, "grad_norm": inf, **stats, "act_std": -inf},
        {"layer": "dense", "weight_norm": nan, "grad_norm": None, **stats, "act_mean": None},
    ]
    notes = [{}, {"gradients": "not available (first)"}, {"activations": "not available"}]
    st = Store(tmp_path, registry=Registry())
    run = hand_run(st, "nan00001", records, notes)
    assert st.flush()
    name, layers, probe, stored, got_notes, status = Store(tmp_path).inspection(run.id)
    assert (name, probe, status) == ("hand", [3, 1, 2], "finished")
    assert layers == run.inspection.layers
    assert [e for e, _ in stored] == [1, 2, 3]
    second, third = stored[1][1][0], stored[2][1][0]
    assert math.isnan(second["weight_norm"]) and second["grad_norm"] == inf
    assert second["act_std"] == -inf
    assert math.isnan(third["weight_norm"]) and third["grad_norm"] is None
    assert third["act_mean"] is None
    assert as_json(stored) == as_json(run.inspection.records)
    # the notes are those of the latest record
    assert got_notes == {"gradients": "not available (first)", "activations": "not available"}
    (flag,) = flags.find(stored)  # what the inspector finds in the stored records
    assert (flag.layer, flag.kind, flag.epoch) == ("dense", "non_finite", 2)
    assert "NaN or inf" in flag.reason
    st.close()


# ------------------------------------------------------------------ older stores


def make_v1_store(folder, monkeypatch):
    """A store written by the nbml before the inspector (schema version 1) holding one run."""
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        st = nbml.store.open(folder)
        old = train("old", epochs=2, inspect="off")  # that nbml had no inspector
        assert st.flush()
        nbml.store.close()
        st._writer.join(30)
    path = folder / "runs.sqlite"
    assert rows(path, "PRAGMA user_version") == [(1,)]
    assert tables(path) == {"runs", "epochs"}
    return old


def test_a_version_1_store_is_read_then_migrated_by_the_first_write(tmp_path, monkeypatch):
    folder = tmp_path / ".nbml"
    old = make_v1_store(folder, monkeypatch)
    path = folder / "runs.sqlite"
    st = nbml.store.open(folder)
    assert [r.id for r in st.runs()] == [old.id]  # read as it is: readers never migrate
    assert st.inspection(old.id) is None and st.read_fault == ""
    assert rows(path, "PRAGMA user_version") == [(1,)]
    new = train("new", epochs=2)  # the first write migrates
    assert st.flush()
    assert rows(path, "PRAGMA user_version") == [(schema.schema_version(),)]
    assert schema.schema_version() == 2
    assert {"inspected", "inspections"} <= tables(path)
    kept = Store(folder, registry=Registry())
    assert [r.id for r in kept.runs()] == [old.id, new.id]
    assert kept.run(old.id).history["loss"] == old.history["loss"]
    assert kept.inspection(old.id) is None  # a run of the older store: not inspected
    assert kept.inspection(new.id)[3] == new.inspection.records


def test_a_read_only_version_1_store_is_listed_and_has_no_inspection(tmp_path, monkeypatch):
    folder = tmp_path / ".nbml"
    old = make_v1_store(folder, monkeypatch)
    path = folder / "runs.sqlite"
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        reader = Store(folder, registry=Registry())
        (stored,) = reader.runs()
        assert (stored.id, stored.status, stored.epoch) == (old.id, "finished", 2)
        assert reader.inspection(old.id) is None
        assert reader.inspection("no-such-run") is None
        assert reader.read_fault == "" and reader.problem == ""
        assert reader.count() == 1  # still readable after those reads
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)
    assert rows(path, "PRAGMA user_version") == [(1,)]  # nothing migrated
    assert tables(path) == {"runs", "epochs"}


# ----------------------------------------------------------------- in a fresh kernel

DUMP = """
import json, nbml, nbml.store
from nbml.api.inspect import inspect
nbml.store.open({folder!r})
ins = inspect({run_id!r})
print(json.dumps({{
    "name": ins.name, "run_id": ins.run_id, "layers": ins.layer_rows, "probe": ins.probe,
    "records": ins.records, "notes": ins.notes, "status": ins.status,
    "flags": [[f.layer, f.kind, f.epoch, f.reason] for f in ins.flags],
    "stats": len(ins.stats), "models": [r.name for r in nbml.models()],
}}, sort_keys=True))
"""


def test_inspect_of_a_run_id_in_a_fresh_kernel_returns_the_stored_records(tmp_path):
    folder = tmp_path / ".nbml"
    nbml.store.open(folder)
    run = train("mlp", epochs=2)
    assert nbml.store.current().flush()
    here = from_run("mlp", run)  # what this kernel's inspect("mlp") gives
    assert len(here.records) == 2
    k = Kernel(str(tmp_path))
    try:
        out = k.ok(DUMP.format(folder=str(folder), run_id=run.id)).stdout
    finally:
        k.shutdown()
    there = json.loads(out.strip().splitlines()[-1])
    assert there["models"] == []  # nothing of the run in that kernel's memory: it is read
    assert (there["name"], there["run_id"], there["status"]) == ("mlp", run.id, "finished")
    assert there["layers"] == here.layer_rows and there["probe"] == here.probe
    assert as_json(there["records"]) == as_json([list(r) for r in here.records])
    assert there["notes"] == here.notes
    assert there["flags"] == [[f.layer, f.kind, f.epoch, f.reason] for f in here.flags]
    assert there["stats"] == 2 * len(here.layer_rows)


# ------------------------------------------------------------- a store that is behind


def test_records_wait_while_the_store_cannot_be_written_and_are_stored_later(tmp_path):
    folder = tmp_path / ".nbml"
    folder.mkdir()
    (folder / "runs.sqlite").write_bytes(b"this is not a database " * 100)
    st = nbml.store.open(folder)
    run = train(epochs=2)
    assert not st.flush(timeout=0.5) and "not a database" in st.fault
    assert "2 inspector records" in st.pending.describe()
    (folder / "runs.sqlite").unlink()  # the user moves the bad file away
    assert st.flush(timeout=30)
    assert st.pending.count() == 0
    assert st.inspection(run.id)[3] == run.inspection.records


def test_waiting_records_are_bounded_and_the_store_says_what_it_dropped(tmp_path, monkeypatch):
    from nbml.store import backlog

    monkeypatch.setattr(backlog, "MAX_INSPECT_ROWS", 10)
    st = Store(tmp_path, registry=Registry())
    log = backlog.Backlog(st.pending)
    row = {"layer": "dense", "weight_norm": 1.0}
    for op in [("begin", "r1", "m", {}, "x", 8, 0.0)] + [
        ("inspect", "r1", i + 1, [row] * 3, ([], [], 1, {})) for i in range(8)
    ]:
        st.pending.add(op, "m")
        log.add(op)
    kept = [op[2] for op in log.ops if op[0] == "inspect"]
    assert kept == [6, 7, 8]  # the newest, within 10 rows
    assert st.pending.dropped_records == 5 and st.pending.dropped_epochs == 0
    assert "3 inspector records" in st.pending.describe()
    assert "5 inspector record(s) waited past nbml's memory bound" in st.behind()
