"""Thread hand-offs made explicit: who hears an event first is an order, not an accident of
subscription; checking that a model is free and registering its run is one step."""

from __future__ import annotations

import sqlite3
import threading
import time

import keras
import numpy as np
import pytest

import nbml
import nbml.store
from nbml.core.errors import NbmlError
from nbml.core.registry import REGISTRY, Event
from nbml.training import pipeline


@pytest.fixture(autouse=True)
def fresh_registry():
    for name in REGISTRY.names():
        REGISTRY.remove(name)
    yield
    nbml.store.close()


def _data(n: int = 256):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64")


def _model():
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(2, activation="softmax")])


def test_the_store_records_an_epoch_before_any_view_hears_it_whenever_it_attached(tmp_path):
    """A view subscribed before the store was attached (``%config NbmlMagics.store_path``
    attaches it again) still hears each epoch only once the store has committed it."""
    seen: list[tuple[int, int]] = []
    db = tmp_path / "runs.sqlite"

    def view(event: Event) -> None:
        if event.kind != "epoch":
            return
        with sqlite3.connect(db) as con:
            stored = con.execute(
                "SELECT COUNT(*) FROM epochs WHERE run_id = ?", (event.run.id,)
            ).fetchone()[0]
        seen.append((event.data["epoch"], stored))

    nbml.store.open(str(tmp_path / "first"))
    unsubscribe = REGISTRY.subscribe(view)
    try:
        nbml.store.open(str(tmp_path))  # attached again, after the view
        nbml.train("m", _model(), _data(), epochs=3, display="none", namespace={})
    finally:
        unsubscribe()
    assert [stored for _, stored in seen] == [1, 2, 3], seen


def test_a_view_subscribed_early_hears_after_the_store_late_before_its_save():
    heard: list[str] = []
    subs = [
        REGISTRY.subscribe(lambda e: heard.append(f"view:{e.kind}")),
        REGISTRY.subscribe(lambda e: heard.append(f"last:{e.kind}"), order=100),
        REGISTRY.subscribe(lambda e: heard.append(f"first:{e.kind}"), order=0),
    ]
    try:
        nbml.train("m", _model(), _data(), epochs=1, display="none", namespace={})
    finally:
        for unsubscribe in subs:
            unsubscribe()
    end = [h for h in heard if h.endswith(":end")]
    assert end == ["first:end", "view:end", "last:end"]


def test_two_trainings_of_one_model_at_once_start_one_run(monkeypatch):
    """A Retrain click (a comm thread) and a sweep's next trial (the kernel's thread) ask to
    train the same model at the same moment: exactly one starts, the other is told it is busy
    however long planning takes between the check and the registration."""
    nbml.train("m", _model(), _data(), epochs=1, display="none", namespace={})
    slow_plan = pipeline.plan

    def plan(*args, **kwargs):
        planned = slow_plan(*args, **kwargs)  # every check passed...
        time.sleep(0.3)  # ...and the window before the run is registered is wide open
        return planned

    monkeypatch.setattr(pipeline, "plan", plan)
    barrier, outcomes = threading.Barrier(2), []

    def retrain() -> None:
        barrier.wait()
        try:
            run = nbml.train("m", epochs=2, background=True, display="none", namespace={})
            run.done.wait(60)
            outcomes.append(run.status)
        except NbmlError as e:
            outcomes.append(str(e))

    threads = [threading.Thread(target=retrain) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(o[:8] for o in outcomes) == ["finished", "m is bus"], outcomes
    assert "m is busy" in [o for o in outcomes if o != "finished"][0]
    assert len(REGISTRY.get("m").runs) == 2  # the first training and one of the two


def test_a_sweep_writes_its_study_from_its_own_thread_only(tmp_path):
    """The sweep's thread asks, marks and tells; the training thread reports each epoch (the
    sweep waits for the run meanwhile): no views thread and no writer thread of nbml's uses
    the trial or writes the study (here, in the foreground, both are the kernel's thread)."""
    import sqlalchemy

    from nbml.training import search

    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    store, _, _ = search.storage(url, str(tmp_path))
    writes: list[tuple[str, str]] = []

    def seen(conn, cursor, statement, *_):
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in ("INSERT", "UPDATE", "DELETE"):
            writes.append((threading.current_thread().name, verb))

    def build(hp):
        return keras.Sequential([keras.Input((8,)), keras.layers.Dense(2, activation="softmax")])

    sqlalchemy.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        sw = nbml.sweep("swept", build, _data(), trials=3, space={"lr": "1e-3:1e-1:log"},
                        storage=url, epochs=2, display="none", namespace={})  # fmt: skip
    finally:
        sqlalchemy.event.remove(store.engine, "before_cursor_execute", seen)
    assert len(sw.trials) == 3 and writes
    assert {name for name, _ in writes} == {threading.main_thread().name}, sorted(set(writes))
