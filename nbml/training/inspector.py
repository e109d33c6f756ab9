"""The inspector during training: a Keras callback that records per-layer statistics.

At the end of every ``every``-th epoch it records each layer's statistics on the run's probe
batch (:class:`nbml.ml.inspection.Probe`), finds the flags, keeps both on the run
(``run.inspection``) and posts an ``inspect`` event: the views thread hands it to the monitor,
the panel and the run store. On JAX the training thread only copies the weights; the record
is computed on a side thread. It has no batch hook, so ``fit`` keeps nbml's lean callback
list.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import keras

from ..core.registry import REGISTRY, Event, Run
from ..ml import flags as _flags
from ..ml import inspection

log_ = logging.getLogger("nbml")


@dataclass
class Log:
    """What the inspector knows of one run: the layer table, the probe rows (indices into the
    training part), the records ``[(epoch, rows)]``, the flags and why a statistic is not
    available (``notes``: ``gradients``, ``activations``)."""

    layers: list[dict[str, Any]]
    probe: list[int]
    every: int
    records: list[tuple[int, list[dict[str, Any]]]] = field(default_factory=list)
    flags: list[_flags.Flag] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    #: Seconds the training thread spent on each record (on JAX: copying the weights).
    seconds: list[float] = field(default_factory=list)


#: The layer table's columns (``Inspection.layers``, the store, the views).
LAYER_COLUMNS = ("layer", "class", "output_shape", "trainable", "non_trainable", "activation")


def layer_rows(table: list[inspection.Layer]) -> list[dict[str, Any]]:
    """The layer table as plain rows (what the store keeps and the views draw)."""
    return [dict(zip(LAYER_COLUMNS, (r.path, r.cls, r.output_shape, r.trainable,
                                     r.non_trainable, r.activation), strict=True))
            for r in table]  # fmt: skip


class Inspector(keras.callbacks.Callback):
    """Records the statistics of the model ``name`` every ``every`` epochs on the probe
    rows ``probe`` of ``(x, y)`` (the training part as ``fit`` gets it).

    On JAX the training thread only copies the weights at an epoch's end; the side thread
    ``nbml-inspect`` compiles the probe's program beside the first epoch and computes each
    record from its copy while the next epoch trains. The run's end waits for the last one,
    so ``run.inspection`` is whole when training returns. On TensorFlow and torch the record
    is computed at the epoch's end on the training thread (it reads the live variables).
    """

    def __init__(self, name: str, x: Any, y: Any, probe: Any, every: int) -> None:
        super().__init__()
        self.name, self.every = name, every
        self.x, self.y, self.probe_rows = x[probe], y[probe], [int(i) for i in probe]
        self.run: Run | None = None
        self.probe: inspection.Probe | None = None
        self._side: ThreadPoolExecutor | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        record = REGISTRY.get(self.name)
        self.run = run = record.run if record is not None else None
        self.probe = probe = inspection.Probe(self.model, self.x, self.y)
        if run is not None:
            run.inspection = Log(layer_rows(probe.rows), self.probe_rows, self.every)
        if probe.detached:
            self._side = ThreadPoolExecutor(1, thread_name_prefix="nbml-inspect")
            self._side.submit(probe.prepare)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        run, probe = self.run, self.probe
        if run is None or probe is None or (epoch + 1) % self.every:
            return
        t0 = time.perf_counter()
        if self._side is not None:
            self._side.submit(self._record, run, probe, epoch + 1, probe.snapshot())
        else:
            self._record(run, probe, epoch + 1, None)
        run.inspection.seconds.append(time.perf_counter() - t0)

    def on_train_end(self, logs: dict | None = None) -> None:
        self.close()

    def close(self) -> None:
        """Wait for the record in progress and end the side thread (also after an interrupt,
        when ``fit`` calls no ``on_train_end``)."""
        if self._side is not None:
            self._side.shutdown(wait=True)
            self._side = None

    def _record(self, run: Run, probe: inspection.Probe, epoch: int, values: Any) -> None:
        try:
            rows = probe.record(values)
        except Exception:  # on the side thread: say so, keep training
            log_.exception("nbml: the inspector's record of epoch %d failed", epoch)
            return
        log: Log = run.inspection
        log.records.append((epoch, rows))
        log.flags = _flags.update(log.flags, log.records, log.layers)
        for key, note in (("gradients", probe.no_gradient), ("activations", probe.no_activations)):
            if note is not None:
                log.notes[key] = note
        REGISTRY.post(Event("inspect", run, {"epoch": epoch, "rows": rows}))


def attach(plan: Any, every: Any) -> None:
    """Add the inspector to a planned training: every ``every`` epochs (an int), or not at
    all with ``"off"``. Streamed data (no rows to pick a probe from) and ``--distribute
    data`` (weights spread over devices) are not inspected."""
    if every in (None, "off") or plan.dataset.is_stream or plan.distribution is not None:
        return
    x, y = plan.dataset.x_train, plan.dataset.y_train
    probe = inspection.probe_rows(len(x), plan.params.get("seed"))
    plan.callbacks.append(Inspector(plan.name, x, y, probe, int(every)))
