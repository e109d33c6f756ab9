"""Which callback list nbml's ``fit`` gets (``nbml.training.batches.lean``): its own
``LeanCallbacks`` at one batch per compiled call, where it pays, and Keras's own list at several
batches per call, where it does not (measured: ``lean``'s docstring, README). Real training on
sklearn:digits, in-process."""

from __future__ import annotations

import keras

import nbml
from nbml.core.registry import REGISTRY
from nbml.training import batches


def _lists_of(monkeypatch, steps_per_execution, init="glorot_uniform"):
    """Train a small MLP at ``steps_per_execution``: the run, and the callback lists its fit got
    (the list object itself, or the type of each entry of a plain list)."""
    lists = []
    chosen = batches.lean

    def watched(publisher, callbacks, **params):
        made = chosen(publisher, callbacks, **params)
        lists.append(made if isinstance(made, batches.LeanCallbacks) else [type(c) for c in made])
        return made

    monkeypatch.setattr("nbml.training.loop.lean", watched)
    for name in REGISTRY.names():
        REGISTRY.remove(name)
    hidden = keras.layers.Dense(16, activation="relu", kernel_initializer=init)
    model = keras.Sequential(
        [keras.layers.Flatten(), hidden, keras.layers.Dense(10, activation="softmax")]
    )
    run = nbml.train(
        "cb", model, "sklearn:digits", epochs=2, batch_size=16, display="none", namespace={},
        steps_per_execution=steps_per_execution, update_interval=0.0,
    )  # fmt: skip
    return run, lists


def test_one_batch_per_call_gets_lean_callbacks(monkeypatch):
    run, lists = _lists_of(monkeypatch, 1)
    assert run.status == "finished" and run.params["steps_per_execution"] == 1
    assert len(lists) == 1 and isinstance(lists[0], batches.LeanCallbacks)


def test_several_batches_per_call_get_keras_own_list_and_still_publish(monkeypatch):
    """At 4 batches per call Keras's own list calls the publisher (on its thread pool): the run
    publishes its batches and epochs, and a non-finite loss still stops it."""
    seen = []
    unsubscribe = REGISTRY.subscribe(lambda e: seen.append(e.kind))
    try:
        run, lists = _lists_of(monkeypatch, 4)
    finally:
        unsubscribe()
    assert run.status == "finished" and run.params["steps_per_execution"] == 4
    from nbml.training.callbacks import TrainingPublisher

    assert len(lists) == 1 and lists[0][0] is TrainingPublisher  # a plain list: Keras's own
    assert run.epoch == 2 and len(run.history["loss"]) == 2
    assert "batch" in seen and seen.count("epoch") == 2
    run, lists = _lists_of(monkeypatch, 4, keras.initializers.Constant(1e38))  # inf: NaN loss
    assert lists[0][0] is TrainingPublisher and run.status == "failed", run.message
    assert "Loss became" in run.message
