"""The Keras callback that publishes a run's progress to the registry.

Under nbml's own training at one batch per compiled call the callback list is
:class:`~nbml.training.batches.LeanCallbacks`: no nbml code runs per batch, and at most once per ``interval`` seconds (or at a stop request)
the batches since the last look are handed to :meth:`TrainingPublisher.tick`, on the training
thread, which reads the newest logs, checks the loss and publishes. A loss that is not finite
is found back to its first batch: Keras's batch loss is the epoch's running mean, which stays
non-finite once it is.

Under a user's own ``model.fit`` (:class:`LiveMonitor`), and under nbml's at several batches
per call (:func:`~nbml.training.batches.lean`), Keras's list runs the callback as
``async_safe``: its ``on_train_batch_end`` runs on Keras's callback thread pool, only stores the
newest logs and watches for a non-finite loss; work that must happen on the training thread
(publishing, setting ``model.stop_training``) is requested by installing
:meth:`TrainingPublisher._due` as the next ``on_train_batch_begin``, which removes itself.
"""

from __future__ import annotations

import math
import time
from typing import Any

import keras

from ..compat.keras import pythonify_logs
from ..core import rules
from ..core.registry import REGISTRY, Event, Registry, Run


class TrainingPublisher(keras.callbacks.Callback):
    """Publishes ``begin``/``batch``/``epoch`` events of ``run`` and guards against NaN loss.

    Args:
        run: the run whose ``history`` and ``epoch`` this callback keeps.
        interval: the least number of seconds between two ``batch`` events.
        batch_size: samples per batch, for the samples/s and ETA estimates.
        registry: where events go.
    """

    async_safe = True

    def __init__(
        self,
        run: Run,
        interval: float = 0.1,
        batch_size: int | None = None,
        registry: Registry = REGISTRY,
    ) -> None:
        super().__init__()
        self.run = run
        self.interval = interval
        self.batch_size = batch_size
        self.registry = registry
        #: ``(epoch, batch, value)`` of the first non-finite loss, when there was one.
        self.nan_at: tuple[int, int, float] | None = None
        self._latest: tuple[int, int, dict[str, float]] | None = None
        self._sent: Any = None
        self._next_publish = 0.0
        self._epoch = 0
        self._begun = 0
        self._epoch_t0 = time.monotonic()
        self._good_weights: list[Any] | None = None

    @property
    def stop_requested(self) -> bool:
        return self.run.stop_requested

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        # posted: the views thread publishes it, so training never waits on a view; the end
        # waits until every view has heard the whole run
        self.registry.post(Event(kind, self.run, data), wait=kind == "end")

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._good_weights = self.model.get_weights()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch, self._begun = epoch, 0
        self._epoch_t0 = time.monotonic()
        if self.stop_requested:
            self.model.stop_training = True

    def _due(self, batch: int, logs: dict | None = None) -> None:
        """``on_train_batch_begin`` while there is work for the training thread (see module)."""
        self.__dict__.pop("on_train_batch_begin", None)
        if self.stop_requested or self.nan_at is not None:
            # Set here, on the training thread: setting it from another thread breaks JAX's
            # state hand-over in Keras (donated buffers end up deleted).
            self.model.stop_training = True
        now = time.monotonic()
        latest = self._latest
        if now < self._next_publish or latest is None or latest is self._sent:
            return
        if latest[0] != self._epoch:  # the newest logs are from the epoch before
            return
        self._send(latest, now)

    def _send(self, latest: tuple[int, int, dict[str, float]], now: float) -> None:
        """Publish the ``batch`` event of the newest logs."""
        self._sent, self._next_publish = latest, now + self.interval
        self.run.last_batch = latest
        epoch, b, blogs = latest
        steps = self.params.get("steps") if self.params else None
        self.run.steps = steps
        elapsed = max(now - self._epoch_t0, 1e-9)
        rate = (b + 1) / elapsed
        data = {"epoch": epoch, "batch": b, "steps": steps, "logs": blogs}
        if self.batch_size:
            data["samples_per_s"] = rate * self.batch_size
        if steps:
            left = (steps - b - 1) + steps * (self.run.epochs - epoch - 1)
            data["eta"] = left / rate
        self._publish("batch", data)

    # ------------------------------------------------- nbml's own fit (LeanCallbacks)

    def wants_tick(self) -> bool:
        """Whether a ``batch`` event is due or a stop was requested (any thread)."""
        return self.run.stop_requested or time.monotonic() >= self._next_publish

    def tick(self, seen: list[tuple[int, Any]]) -> None:
        """The batches ``seen`` since the last tick, as ``(batch, logs)`` (training thread):
        stop on a request or a non-finite loss, and publish the newest logs when ``interval``
        has passed since the last ``batch`` event."""
        if self.run.stop_requested:
            self.model.stop_training = True
        if not seen:
            return
        batch, logs = seen[-1]
        self._begun = batch + 1
        floats = pythonify_logs(logs)
        if not _finite(floats):  # the monitor shows the first bad point, when one is due
            batch, floats = self._found_bad(seen)
        self._latest = latest = (self._epoch, batch, floats)
        now = time.monotonic()
        if now >= self._next_publish:
            self._send(latest, now)

    def _found_bad(self, seen: list[tuple[int, Any]]) -> tuple[int, dict[str, Any]]:
        """The first batch of ``seen`` whose loss is not finite (the loss before it was), and
        its logs: noted as where the loss went bad, and training stops."""
        lo, hi = 0, len(seen) - 1  # seen[hi] is bad
        while lo < hi:
            mid = (lo + hi) // 2
            if _finite(pythonify_logs(seen[mid][1])):
                lo = mid + 1
            else:
                hi = mid
        batch, logs = seen[hi][0], pythonify_logs(seen[hi][1])
        if self.nan_at is None:
            self.nan_at = (self._epoch, batch, logs["loss"])
        self.model.stop_training = True
        return batch, logs

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        # Runs on Keras's callback threads (async_safe): store flags, never touch the model.
        if batch >= self._begun:
            self._begun = batch + 1  # batches run this epoch (hooks may finish out of order)
        logs = logs or {}
        loss = logs.get("loss")
        epoch = self._epoch
        bad = loss is not None and not math.isfinite(loss)
        if bad and (self.nan_at is None or (epoch, batch) < self.nan_at[:2]):
            self.nan_at = (epoch, batch, loss)
        latest = self._latest
        if latest is None or latest[0] != epoch or batch > latest[1]:
            self._latest = (epoch, batch, logs)  # a fresh dict per call (pythonify_logs)
        if (
            time.monotonic() >= self._next_publish
            or self.nan_at is not None
            or self.run.stop_requested
        ):
            self.on_train_batch_begin = self._due  # type: ignore[method-assign]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        loss = logs.get("loss")
        if self.nan_at is None and loss is not None and not math.isfinite(loss):
            self.nan_at = (epoch, max(self._begun - 1, 0), loss)
        if self.nan_at is not None:  # the weights go back at the end of training
            self.model.stop_training = True
            return
        steps = self.params.get("steps") if self.params else None
        if self.stop_requested and not (steps and self._begun >= steps):
            return  # interrupted mid-epoch: that epoch does not count
        for key, value in logs.items():
            self.run.history.setdefault(key, []).append(float(value))
        self.run.epoch += 1
        self.run.metrics = {k: float(v) for k, v in logs.items()}
        self._good_weights = self.model.get_weights()
        seconds = time.monotonic() - self._epoch_t0
        self._publish("epoch", {"epoch": epoch, "logs": self.run.metrics, "seconds": seconds})

    def on_train_end(self, logs: dict | None = None) -> None:
        # a non-finite loss: the weights of the last good epoch go back only now, so every
        # epoch-end callback (the inspector) saw the epoch as it ended
        if self.nan_at is not None and self._good_weights is not None:
            self.model.set_weights(self._good_weights)


def _finite(logs: dict[str, Any]) -> bool:
    loss = logs.get("loss")
    return not isinstance(loss, float) or math.isfinite(loss)


class LiveMonitor(TrainingPublisher):
    """The nbml training monitor for a plain ``model.fit``.

    The run is registered like one of ``%%train``'s (``nbml.models()``, the sidebar) under
    ``name`` (default: the model's name).

    Args:
        name: the name the model is listed under.
        update_interval: the least number of seconds between two live updates.
        display: ``"auto"`` (the widget where widgets work), ``"text"`` or ``"none"``.

    Example:
        >>> model.fit(x, y, epochs=5, callbacks=[nbml.LiveMonitor()])
    """

    def __init__(
        self, name: str | None = None, update_interval: float = 0.1, display: str = "auto"
    ) -> None:
        from ..core import hooks

        hooks.first_use()  # imported from this module, not as nbml.LiveMonitor: views still show
        super().__init__(Run("", "", {}, "model.fit", 0), interval=update_interval)
        self.name = name
        self.display = display

    def on_train_begin(self, logs: dict | None = None) -> None:
        from ..core.registry import ModelRecord, announce

        name = self.name or self.model.name
        epochs = int(self.params.get("epochs") or 0)
        self.run = Run(self.registry.new_run_id(), name, {"epochs": epochs}, "model.fit", epochs)
        self.run.done.set()  # the user's own fit, on the user's thread: nbml guards nothing
        record = self.registry.get(name)
        if record is None or record.model is not self.model:
            record = ModelRecord(name, self.model, runs=record.runs if record else [])
        record.runs.append(self.run)
        record.status = "training"
        self.registry.put(record)
        self._record = record
        announce(record, self.run, self.display, foreground=True, registry=self.registry)
        self._publish("begin", {"params": self.run.params})
        super().on_train_begin(logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        super().on_train_end(logs)
        run = self.run
        run.ended = time.time()
        run.status = "failed" if self.nan_at else "finished"
        self._record.status = rules.model_state(run.status)
        self._publish("end", {"status": run.status, "message": run.message})
