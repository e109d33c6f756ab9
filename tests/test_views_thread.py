"""Views are fed from a queue on their own thread (docs/reference.md#steps-per-execution): a slow
view never slows training."""

from __future__ import annotations

import threading
import time

import keras
import numpy as np
import pytest

import nbml
from nbml.core.registry import REGISTRY, Event, Run


@pytest.fixture(autouse=True)
def fresh_registry():
    for name in REGISTRY.names():
        REGISTRY.remove(name)
    yield


def test_a_slow_view_runs_off_the_training_thread_and_hears_everything_in_order():
    heard: list[tuple[str, str]] = []

    def slow_view(event: Event) -> None:
        time.sleep(0.05)
        heard.append((event.kind, threading.current_thread().name))

    unsubscribe = REGISTRY.subscribe(slow_view)
    try:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(3000, 8)).astype("float32")
        y = (x[:, 0] > 0).astype("int64")
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2, activation="softmax")])
        trainer = threading.current_thread().name
        run = nbml.train(
            "m", model, (x, y), epochs=3, batch_size=8, display=False, namespace={},
            update_interval=0.01,
        )  # fmt: skip
    finally:
        unsubscribe()
    assert run.status == "finished"
    kinds = [k for k, _ in heard]
    # every begin/epoch/end, in order (batch events may be coalesced), all heard before
    # train() returned
    # (the inspector's records follow each epoch: docs/inspector.md)
    assert [k for k in kinds if k not in ("batch", "inspect")] == [
        "begin",
        "epoch",
        "epoch",
        "epoch",
        "end",
    ]
    assert kinds[0] == "begin" and kinds[-1] == "end"
    # the training thread never ran the view: it only posted the events
    assert {thread for _, thread in heard} == {"nbml-views"}
    assert trainer not in {thread for _, thread in heard}


def test_a_batch_event_overtaken_in_the_queue_is_dropped():
    """A view slower than the batch events sees the newest one, never a growing backlog."""
    seen: list[int] = []
    gate = threading.Event()

    def view(event: Event) -> None:
        gate.wait(5)
        seen.append(event.data.get("batch", -1))

    run = Run("r1", "m", {}, "data", 1)
    unsubscribe = REGISTRY.subscribe(view)
    try:
        REGISTRY.post(Event("begin", run))
        for b in range(50):
            REGISTRY.post(Event("batch", run, {"batch": b}))
        gate.set()
        REGISTRY.post(Event("end", run), wait=True)
    finally:
        unsubscribe()
    assert seen[0] == -1 and seen[-1] == -1  # begin first, end last
    assert seen[-2] == 49 and len(seen) < 52  # the newest batch kept, older ones dropped
    assert seen[1:-1] == sorted(seen[1:-1])


def test_drain_waits_for_everything_posted():
    seen = []
    unsubscribe = REGISTRY.subscribe(lambda e: (time.sleep(0.01), seen.append(e.kind)))
    try:
        run = Run("r2", "m", {}, "data", 1)
        for kind in ("begin", "epoch", "end"):
            REGISTRY.post(Event(kind, run))
        assert REGISTRY.drain(10)
    finally:
        unsubscribe()
    assert seen == ["begin", "epoch", "end"]


def test_a_view_that_posts_while_it_is_heard_does_not_wait_on_itself():
    """A view that posts (and waits) from the views thread is published in turn, no deadlock."""
    seen = []

    def chatty(event: Event) -> None:
        seen.append(event.kind)
        if event.kind == "begin":
            REGISTRY.post(Event("epoch", event.run), wait=True)

    unsubscribe = REGISTRY.subscribe(chatty)
    try:
        REGISTRY.post(Event("begin", Run("r3", "m", {}, "data", 1)), wait=True)
    finally:
        unsubscribe()
    assert seen == ["begin", "epoch"]
