"""How nbml's ``fit`` hears its batches: Keras's callback list, with no nbml code per batch.

Keras's own list hands every batch's logs to a thread pool task (on JAX), which turns them into
floats, a wait on the device, so that callbacks see them (measured: 12 % of a small model's
``fit`` at one batch per call). nbml's publisher needs the newest logs only ten times a second.
:class:`LeanCallbacks` stores each batch's logs by reference in a dict, through the dict's own
(C) ``__setitem__``: per batch, no Python code of nbml's runs and nothing waits on the device.
A watcher thread wakes it every :data:`WATCH_S` seconds: when a publish is due or a stop was
requested it installs :meth:`LeanCallbacks._due` for the next batch end, which hands the
batches since the last look to :meth:`~nbml.training.callbacks.TrainingPublisher.tick` on the
training thread (where ``model.stop_training`` must be set) and puts the dict back.

Used only where it pays (:func:`lean`): at one batch per compiled call and where no other
callback has a batch hook; epoch and train hooks are Keras's own. With several batches per call
(``--steps-per-execution auto``'s usual choice) Keras calls the batch hooks once per call, and
its own list costs no more (measured: :func:`lean`).
"""

from __future__ import annotations

import threading
from typing import Any

from keras.callbacks import CallbackList

from ..compat import keras as keras_compat
from .callbacks import TrainingPublisher

#: How often the watcher looks whether a publish is due or a stop was requested.
WATCH_S = 0.02
#: Batches kept before they are handed over anyway (a long ``update_interval`` on a fast model).
MOST_KEPT = 4096
_BATCH_HOOKS = (
    "on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end",
    "on_test_batch_begin", "on_test_batch_end",
)  # fmt: skip


class LeanCallbacks(CallbackList):
    """Keras's callback list with batch hooks that run no Python code (see the module)."""

    def __init__(self, publisher: TrainingPublisher, callbacks: list[Any], **params: Any) -> None:
        super().__init__([publisher, *callbacks], add_history=True, add_progbar=False, **params)
        self._publisher = publisher
        self._stop = threading.Event()
        self._batches: dict[int, Any] = {}
        # Keras calls these positionally: (step) and (step, logs); dict.get takes both, in C
        self.on_train_batch_begin = self.on_test_batch_begin = {}.get  # type: ignore[method-assign]
        self.on_test_batch_end = {}.get  # type: ignore[method-assign]
        self._rest()

    def _rest(self) -> None:
        """Back to storing each batch's logs, by reference, in C."""
        self._batches = {}
        self.on_train_batch_end = self._batches.__setitem__  # type: ignore[method-assign]

    def wake(self) -> None:
        """Have the next batch end hand its batches to the publisher (any thread)."""
        self.on_train_batch_end = self._due  # type: ignore[method-assign]

    def _due(self, batch: int, logs: Any = None) -> None:
        batches = self._batches
        batches[batch] = logs
        self._rest()
        self._publisher.tick(list(batches.items()))

    def _watch(self) -> None:
        publisher = self._publisher
        while not self._stop.wait(WATCH_S):
            if publisher.wants_tick() or len(self._batches) > MOST_KEPT:
                self.wake()

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        self._stop.clear()
        threading.Thread(target=self._watch, name="nbml-batches", daemon=True).start()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.close()
        super().on_train_end(logs)

    def close(self) -> None:
        """Stop the watcher (at the end of training, and when ``fit`` raised)."""
        self._stop.set()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._rest()
        super().on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        batches = self._batches
        self._rest()
        if batches:  # the epoch's last batches: a non-finite loss among them is found
            self._publisher.tick(list(batches.items()))
        super().on_epoch_end(epoch, logs)


def lean(publisher: TrainingPublisher, callbacks: list[Any], **params: Any) -> Any:
    """The callback list of nbml's ``fit``: :class:`LeanCallbacks` where it pays, at one batch
    per compiled call (``params["model"].steps_per_execution`` 1) when no other callback has a
    batch hook; else the plain list (Keras's own, the publisher on its thread pool).

    Measured (``benchmarks/overhead.py --variants lean_speauto,keras_speauto,lean_spe1,
    keras_spe1 --rounds 20``: ``%%train --no-widget`` on the reference workload of
    docs/reference.md#budgets, 2026-12-07, a loaded 2-core VM; README, Benchmarks), nbml's fit
    with LeanCallbacks over the same fit with Keras's list, the median of paired rounds and its
    95 % interval: at one batch per call 0.892 [0.859, 0.978]; at ``--steps-per-execution
    auto`` (several batches per call) 1.063 [0.960, 1.114], a tie, so there Keras's own list is
    used.
    """
    if int(getattr(params.get("model"), "steps_per_execution", 1) or 1) > 1:
        return [publisher, *callbacks]
    for cb in callbacks:
        if any(not keras_compat.is_default_hook(getattr(cb, hook)) for hook in _BATCH_HOOKS):
            return [publisher, *callbacks]
    return LeanCallbacks(publisher, list(callbacks), **params)
