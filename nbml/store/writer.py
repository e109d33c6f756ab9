"""The write side of the store: a registry subscriber and its writer thread.

On the thread that hears an event (training, or the registry's views thread),
:meth:`Store.__call__` only copies the event's data into a queue. The
writer thread, with its own connection, takes everything queued and commits it in one
``BEGIN IMMEDIATE`` transaction, so each finished epoch is committed a moment after it ends
while the next one trains. At ``end`` the model is serialised in memory on the training thread
(``fit`` is over there, and a Keras model must not be read while another thread trains it);
the writer writes the bytes to ``models/<run_id>.keras``.

A ``%%train`` cell is a whole cell: nothing else in it can touch the model after the training.
Inside :func:`deferred_saves` (the cell magic), the model is serialised by a short-lived thread
instead, while the cell finishes; the next cell, and any nbml training, first waits for it
(:meth:`Store.wait_saves`, an IPython ``pre_run_cell`` hook), so no code of the user's ever runs
next to it. The cell returns that much sooner.

The writer thread itself, and how it retries a store it cannot write without losing what is
queued, is :mod:`.backlog`; the rows it commits, :mod:`.writes`.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..core import files
from ..core.registry import REGISTRY, Event, Registry
from . import backlog, writes
from .records import Reader
from .schema import BUSY_TIMEOUT_S, connect

log = logging.getLogger("nbml")

#: How long the epoch subscriber waits for a healthy store's commit before views hear it.
EPOCH_COMMIT_WAIT_S = 2.0

_DEFERRED: contextvars.ContextVar[bool] = contextvars.ContextVar("nbml_deferred", default=False)


@contextlib.contextmanager
def deferred_saves() -> Iterator[None]:
    """Models of runs ending in this block are serialised after it, off the calling thread.

    Only for code after which nothing touches the model until :meth:`Store.wait_saves` runs:
    the ``%%train`` cell magic (the next cell waits).
    """
    token = _DEFERRED.set(True)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


class Store(Reader):
    """A store folder that records every run of ``registry`` (see :func:`nbml.store.open`).

    Args:
        path: the folder (``NbmlMagics.store_path``); it and ``runs.sqlite`` are made on the
            first write.
        busy_timeout: seconds one write waits for another process's lock; after that the
            writes are retried in the background.
        registry: whose models are saved at the end of their runs.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        busy_timeout: float = BUSY_TIMEOUT_S,
        registry: Registry = REGISTRY,
    ) -> None:
        super().__init__(path, busy_timeout)
        self.registry = registry
        #: Why the last write failed ("" while writes work); what waits is :attr:`pending`.
        self.fault = ""
        #: What is queued and not stored yet.
        self.pending = backlog.Pending()
        #: Runs kept without their model, by id: why.
        self.unsaved: dict[str, str] = {}
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._wake = threading.Event()  # a flush: retry a failing write now
        self._writer: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._active: dict[str, Any] = {}  # the runs whose begin this store took, by id
        self._epochs: dict[str, int] = {}  # epochs heard per active run
        self._closing = False
        self._stopped = False
        self._cleaned = False
        self._unsubscribe: Callable[[], None] | None = None
        self._saves: list[threading.Event] = []  # deferred model saves not yet queued

    @property
    def problem(self) -> str:
        """Why the store cannot be written or read right now ("" while it works)."""
        return self.fault or self.read_fault

    def __repr__(self) -> str:
        behind = self.behind()
        return f"<nbml.store.Store {self.db_path}{f' ({behind})' if behind else ''}>"

    def behind(self) -> str:
        """A sentence saying what is not stored yet and why ("" when nothing waits on a fault)."""
        fault, dropped = self.fault, self.pending.dropped_epochs
        records = self.pending.dropped_records
        if not fault and not dropped and not records:
            return ""
        out = ""
        if fault:
            out = (
                f"The run store {self.where()} is behind ({fault}); {self._waiting()}. nbml "
                "keeps retrying and writes everything queued once it can."
            )
        if dropped:
            out += f" {dropped:,} epoch row(s) waited past nbml's memory bound and were not stored."
        if records:
            out += f" {records:,} inspector record(s) waited past nbml's memory bound, not stored."
        return out.strip()

    def notes(self, runs: list[Any]) -> list[str]:
        """What ``%runs`` should say about the store and about ``runs``: a store behind or
        unreadable, and listed runs kept without their model."""
        out = [self.behind()]
        if self.read_fault:
            out.append(
                f"The run store {self.where()} cannot be read ({self.read_fault}); these are "
                "this kernel's runs only."
            )
        for r in runs:
            why = self.unsaved.get(r.id) or getattr(r, "model_note", "")
            if why:
                why = why.removeprefix(f"{writes.MODEL_NOT_SAVED}: ")
                out.append(f"Run {r.id} ({r.name}) has no saved model: {why}")
        return [n for n in out if n]

    # ----------------------------------------------------- events (training thread)

    def __call__(self, event: Event) -> None:
        """Queue the writes of one registry event; never waits on disk."""
        self.early(event)
        self.finish(event)

    def early(self, event: Event) -> None:
        """Queue a run's start, each finished epoch and each inspector record: subscribed ahead
        of the views, so an epoch a user sees done is already on its way to disk."""
        run = event.run
        if event.kind == "begin":
            if not self._closing:
                self._active[run.id] = run
                params = dict(event.data.get("params") or run.params)
                op = ("begin", run.id, run.name, params, run.data, run.epochs, run.started)
                self._put(op, run.name)
        elif run.id in self._active and event.kind == "epoch":
            # the epoch's index is counted here: events may be heard after training has moved
            # on (the views thread), so run.epoch may already count later epochs
            index = self._epochs.get(run.id, 0)
            self._epochs[run.id] = index + 1
            logs = dict(event.data.get("logs") or run.metrics)
            op = ("epoch", run.id, index, logs, event.time, event.data.get("seconds"))
            self._put(op, run.name)
            self._committed(EPOCH_COMMIT_WAIT_S)
        elif run.id in self._active and event.kind == "inspect" and run.inspection is not None:
            self._put(writes.inspect_op(run, event.data), run.name)  # kept like an epoch
        self.warn()

    def _committed(self, timeout: float) -> None:
        """Wait (bounded) until what is queued is committed, so the views that hear an epoch
        after this subscriber never show one a killed kernel would lose
        (docs/reference.md#runs-and-the-store). A store
        that cannot be written is not waited for: training and views go on, it catches up."""
        if self.fault or self._stopped:
            return
        done = threading.Event()
        self._put(("flush", done))
        done.wait(timeout)

    def finish(self, event: Event) -> None:
        """Queue a run's outcome and saved model; heard after every view (serialising is slow)."""
        run = event.run
        if run.id in self._active and event.kind == "end":
            final = (run.status, run.epoch, run.ended, dict(run.metrics), run.message)
            model = self._model_of(run)
            if model is not None and _DEFERRED.get():
                self._save_later(run, final, model)
            else:
                self._put_end(run, final, model)
            self._active.pop(run.id, None)  # after its end is queued: flush() waits till then
            self._epochs.pop(run.id, None)
            if self._closing and not self._active:
                self._stop()
        self.warn()

    def _put_end(self, run: Any, final: tuple[Any, ...], model: Any) -> None:
        blob, why = (None, "") if model is None else _serialise(model)
        if why:
            self.unsaved[run.id] = why
            self._say(
                f"model:{run.name}",
                f"the run store {self.where()} keeps run {run.id} of {run.name} without its "
                f"model: {why} %runs and --from-run say so.",
            )
        self._put(("end", run.id, final, blob, why), run.name)

    def _model_of(self, run: Any) -> Any:
        record = self.registry.get(run.name)
        return record.model if record is not None and run in record.runs else None

    def _save_later(self, run: Any, final: tuple[Any, ...], model: Any) -> None:
        done = threading.Event()

        def save() -> None:
            try:
                self._put_end(run, final, model)
            finally:
                done.set()

        with self._start_lock:
            self._saves = [e for e in self._saves if not e.is_set()] + [done]
        threading.Thread(target=save, name="nbml-save", daemon=True).start()

    def wait_saves(self, timeout: float | None = None) -> bool:
        """Wait for the deferred model saves (:func:`deferred_saves`); False on timeout.

        Without a timeout this waits as long as the save takes: as long as the cell would have
        (each save ends, written or not, so nothing waits forever on a failed one).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._start_lock:
            saves = list(self._saves)
        for done in saves:
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            if not done.wait(left):
                return False
        return True

    def add_run(
        self, run: Any, blob: bytes | None, why: str = "", times: list[float] | None = None
    ) -> None:
        """Record, whole, a run that trained in another process (a sweep's trial on a Dask
        worker): its start, each epoch of its history (ended at ``times``), the inspector's
        records, its end and its model file (``blob``; ``why`` says why there is none)."""
        self._put(("begin", run.id, run.name, dict(run.params), run.data, run.epochs,
                   run.started), run.name)  # fmt: skip
        for i in range(run.epoch):
            logs = {k: v[i] for k, v in run.history.items() if i < len(v)}
            when = times[i] if times and i < len(times) else (run.ended or time.time())
            self._put(("epoch", run.id, i, logs, when, None), run.name)
        for epoch, rows in run.inspection.records if run.inspection is not None else ():
            self._put(writes.inspect_op(run, {"epoch": epoch, "rows": rows}), run.name)
        final = (run.status, run.epoch, run.ended, dict(run.metrics), run.message)
        self._put(("end", run.id, final, blob, why), run.name)

    def _put(self, op: tuple[Any, ...], name: str = "") -> None:
        self.pending.add(op, name)
        with self._start_lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(
                    target=backlog.run, args=(self,), name="nbml-store", daemon=True
                )
                self._writer.start()
        self._queue.put(op)

    # ----------------------------------------------------------------- writer thread

    def _open_writer(self) -> sqlite3.Connection:
        """The writer's connection (it makes the folder, migrates, settles dead runs)."""
        models = os.path.join(self.path, "models")
        os.makedirs(models, exist_ok=True)
        db = connect(self.db_path, self.busy_timeout)
        try:
            writes.settle(db)
        except BaseException:
            db.close()
            raise
        if not self._cleaned:
            files.clean_parts(models)
            self._cleaned = True
        return db

    def _save_model(self, run_id: str, blob: bytes) -> str:
        """Write a run's model file (fsynced, renamed into place); raises on any error, and
        the write is retried with the rest of the backlog."""
        target = self.model_path(run_id)
        files.write_atomic(target, blob)
        return target

    def _failed(self, why: str) -> None:
        self.fault = why
        locked = "locked" in why or "busy" in why
        self._say(
            "write",
            f"the run store {self.where()} "
            f"{'is locked by another process' if locked else 'cannot be written'} ({why}); "
            f"{self._waiting()}. Training goes on; nbml keeps what is queued in memory and "
            "retries, and %runs says what is behind.",
        )

    def _waiting(self) -> str:
        if not self.pending.count():
            return "nothing is waiting to be stored yet"
        return f"not stored yet: {self.pending.describe()}"

    def _recovered(self) -> None:
        if self.fault:
            self.fault = ""
            self._unsay(
                "write", f"the run store {self.where()} works again; what waited is stored."
            )

    # ----------------------------------------------------------------------- control

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is committed; False on timeout.

        A run that has ended in memory (its status is no longer ``running``) but whose end has
        not reached this store yet (the views hear it first) is waited for too. A store that
        cannot be written is retried at once.
        """
        deadline = time.monotonic() + timeout
        while any(r.status != "running" for r in list(self._active.values())):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        if not self.wait_saves(max(deadline - time.monotonic(), 0)):
            return False
        if self._writer is None:
            return True
        if self._stopped:  # closed: the writer finishes what it has, then ends
            self._wake.set()
            self._writer.join(max(deadline - time.monotonic(), 0))
            return not self._writer.is_alive()
        done = threading.Event()
        self._put(("flush", done))
        self._wake.set()
        return done.wait(max(deadline - time.monotonic(), 0))

    def _stop(self) -> None:
        self.wait_saves()  # their end rows are queued next
        self._stopped = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._writer is not None and self._writer.is_alive():
            self._queue.put(("stop",))

    def close(self, timeout: float = 5.0) -> None:
        """Take no new runs; finish writing the active ones, then let go of the file.

        A store that cannot be written is not waited for: its writer keeps retrying what it
        holds in the background, and ends once that is stored.
        """
        self._closing = True
        if not self._active:
            self.flush(min(timeout, 0.5) if self.fault else timeout)
            self._stop()
            writer = self._writer
            if writer is not None and not self.fault:
                writer.join(timeout)  # it closes its connection: the file is let go
        self._close_reader()


def _serialise(model: Any) -> tuple[bytes | None, str]:
    """The ``.keras`` file of ``model`` in memory, or None and why Keras cannot save it."""
    try:
        return files.serialise(model), ""
    except Exception as exc:  # a model Keras cannot save still has its run recorded
        log.debug("nbml could not serialise %s: %s", getattr(model, "name", "?"), exc)
        why = files.reason(exc).rstrip(".")
        return None, f"Keras cannot save it ({why}); a subclassed model needs get_config()."
