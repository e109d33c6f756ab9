"""The write side of the store: a registry subscriber and its writer thread.

On the training thread, :meth:`Store.__call__` only copies an event's data into a queue. The
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
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import json
import logging
import os
import queue
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..registry import REGISTRY, Event, Registry
from . import liveness
from .records import Reader, better
from .schema import BUSY_TIMEOUT_S, connect

log = logging.getLogger("nbml")

_DATA_OPS = ("begin", "epoch", "end")

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


def _dumps(value: Any) -> str:
    def plain(v: Any) -> Any:
        item = getattr(v, "item", None)  # numpy scalars
        return item() if callable(item) else str(v)

    return json.dumps(value, default=plain)


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
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._active: dict[str, Any] = {}  # the runs whose begin this store took, by id
        self._closing = False
        self._stopped = False
        self._unsubscribe: Callable[[], None] | None = None
        self._saves: list[threading.Event] = []  # deferred model saves not yet queued

    def __repr__(self) -> str:
        trouble = f" (unusable: {self.problem})" if self.problem else ""
        return f"<nbml.store.Store {self.db_path}{trouble}>"

    # ----------------------------------------------------- events (training thread)

    def __call__(self, event: Event) -> None:
        """Queue the writes of one registry event; never waits on disk."""
        self.early(event)
        self.finish(event)

    def early(self, event: Event) -> None:
        """Queue a run's start and each finished epoch: subscribed ahead of the views, so an
        epoch a user sees done is already on its way to disk."""
        run = event.run
        if event.kind == "begin":
            if not self._closing and not self.problem:
                self._active[run.id] = run
                params = dict(event.data.get("params") or run.params)
                self._put(("begin", run.id, run.name, params, run.data, run.epochs, run.started))
        elif run.id in self._active and event.kind == "epoch":
            logs = dict(event.data.get("logs") or run.metrics)
            self._put(("epoch", run.id, run.epoch - 1, logs, event.time, event.data.get("seconds")))

    def finish(self, event: Event) -> None:
        """Queue a run's outcome and saved model; heard after every view (serialising is slow)."""
        run = event.run
        if run.id in self._active and event.kind == "end":
            self._active.pop(run.id, None)
            final = (run.status, run.epoch, run.ended, dict(run.metrics), run.message)
            model = None if self.problem else self._model_of(run)
            if model is not None and _DEFERRED.get():
                self._save_later(run.id, final, model)
            else:
                self._put(("end", run.id, final, None if model is None else _serialise(model)))
            if self._closing and not self._active:
                self._stop()
        self.warn()

    def _model_of(self, run: Any) -> Any:
        record = self.registry.get(run.name)
        return record.model if record is not None and run in record.runs else None

    def _save_later(self, run_id: str, final: tuple[Any, ...], model: Any) -> None:
        done = threading.Event()

        def save() -> None:
            try:
                self._put(("end", run_id, final, _serialise(model)))
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

    def _put(self, op: tuple[Any, ...]) -> None:
        if self.problem and op[0] in _DATA_OPS:
            return
        with self._start_lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._loop, name="nbml-store", daemon=True)
                self._writer.start()
        self._queue.put(op)

    # ----------------------------------------------------------------- writer thread

    def _loop(self) -> None:
        db: sqlite3.Connection | None = None
        backlog: list[tuple[Any, ...]] = []
        live: dict[str, dict[str, float]] = {}  # this process's running runs: best values
        delay = 0.2
        while True:
            if not backlog:  # (a non-empty backlog is being retried after a lock)
                try:
                    backlog.append(self._queue.get(timeout=liveness.HEARTBEAT_S))
                except queue.Empty:
                    backlog.append(("heartbeat",))
            while True:
                try:
                    backlog.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            writes = any(op[0] in _DATA_OPS for op in backlog)
            if not self.problem and (writes or (db is not None and live)):
                try:
                    if db is None:
                        os.makedirs(os.path.join(self.path, "models"), exist_ok=True)
                        db = connect(self.db_path, self.busy_timeout)
                        self._settle(db)
                    self._write(db, backlog, live)
                    delay = 0.2
                except (sqlite3.Error, OSError) as exc:
                    text = str(exc) or type(exc).__name__
                    transient = isinstance(exc, sqlite3.OperationalError) and (
                        "locked" in text or "busy" in text
                    )
                    if transient and len(backlog) < 100_000:
                        self._trouble(text, permanent=False)
                        time.sleep(delay)
                        delay = min(delay * 2, 5.0)
                        continue
                    self._trouble(text, permanent=True)
            for op in backlog:
                if op[0] == "flush":
                    op[1].set()
            if any(op[0] == "stop" for op in backlog):
                if db is not None:
                    db.close()
                return
            backlog = []

    def _write(self, db: sqlite3.Connection, ops: list[tuple[Any, ...]], live: dict) -> None:
        for i, op in enumerate(ops):  # model files first, outside the transaction
            if op[0] == "end" and isinstance(op[3], bytes):
                ops[i] = (*op[:3], self._save_model(op[1], op[3]))
        now = time.time()
        staged = {k: dict(v) for k, v in live.items()}
        db.execute("BEGIN IMMEDIATE")
        try:
            for op in ops:
                self._apply(db, op, staged, now)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        live.clear()
        live.update(staged)

    def _save_model(self, run_id: str, blob: bytes) -> str | None:
        target = self.model_path(run_id)
        try:
            with open(target + ".part", "wb") as f:
                f.write(blob)
            os.replace(target + ".part", target)
        except OSError as exc:  # the run is still recorded, without its model
            self._pending_warning = f"could not save the model of run {run_id}: {exc}"
            return None
        return target

    def _apply(self, db: sqlite3.Connection, op: tuple[Any, ...], live: dict, now: float) -> None:
        kind = op[0]
        if kind == "heartbeat":
            if live:
                marks = ",".join("?" * len(live))
                db.execute(f"UPDATE runs SET heartbeat = ? WHERE id IN ({marks})", (now, *live))
            return
        run_id = op[1] if len(op) > 1 else None
        if kind == "begin":
            _, _, name, params, data, epochs, started = op
            keras = sys.modules.get("keras")
            cursor = db.execute(
                "INSERT INTO runs (id, name, status, epochs, params, data, started, backend, "
                "devices, nbml_version, keras_version, host, pid, pid_start, heartbeat) "
                "VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                (run_id, name, epochs, _dumps(params), str(data), started,
                 keras.backend.backend() if keras else None, _devices(), _nbml_version(),
                 getattr(keras, "__version__", None),
                 liveness.HOST, liveness.PID, liveness.PID_START, now),
            )  # fmt: skip
            if cursor.rowcount:
                live[run_id] = {}
            else:
                log.warning("nbml: run id %s is already in the store; not recording it", run_id)
        elif run_id not in live:
            return  # a run this store did not begin (or an id collision): not ours to write
        elif kind == "epoch":
            _, _, index, logs, when, seconds = op
            best = live[run_id]
            for key, value in logs.items():
                if better(key, value, best.get(key)):
                    best[key] = value
            db.execute(
                "INSERT OR REPLACE INTO epochs (run_id, epoch, logs, time, seconds) "
                "VALUES (?, ?, ?, ?, ?)",
                (run_id, index, _dumps(logs), when, seconds),
            )
            db.execute(
                "UPDATE runs SET epoch = ?, metrics = ?, best = ?, heartbeat = ? WHERE id = ?",
                (index + 1, _dumps(logs), _dumps(best), now, run_id),
            )
        elif kind == "end":
            status, epoch, ended, metrics, message = op[2]
            model = op[3] if isinstance(op[3], str) else None
            # epochs past the last good one (a NaN loss) are not part of the run's history
            db.execute("DELETE FROM epochs WHERE run_id = ? AND epoch >= ?", (run_id, epoch))
            db.execute(
                "UPDATE runs SET status = ?, epoch = ?, ended = ?, metrics = ?, message = ?, "
                "model = ?, heartbeat = ? WHERE id = ?",
                (status, epoch, ended or now, _dumps(metrics), message, model, now, run_id),
            )
            del live[run_id]

    def _settle(self, db: sqlite3.Connection) -> None:
        """Mark the ``running`` rows of dead kernels on this host ``interrupted``."""
        rows = db.execute(
            "SELECT id, pid, pid_start, heartbeat, started, epoch FROM runs "
            "WHERE status = 'running' AND host = ?",
            (liveness.HOST,),
        ).fetchall()
        dead = [r for r in rows if not liveness.alive(r[1], r[2])]
        if not dead:
            return
        db.execute("BEGIN IMMEDIATE")
        for run_id, _, _, heartbeat, started, epoch in dead:
            db.execute(
                "UPDATE runs SET status = 'interrupted', ended = ?, message = ? "
                "WHERE id = ? AND status = 'running'",
                (heartbeat or started, liveness.interrupted_message(epoch), run_id),
            )
        db.execute("COMMIT")

    # ----------------------------------------------------------------------- control

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is committed; False on timeout.

        A run that has ended in memory (its status is no longer ``running``) but whose end has
        not reached this store yet (the views hear it first) is waited for too.
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
            self._writer.join(timeout)
            return not self._writer.is_alive()
        done = threading.Event()
        self._put(("flush", done))
        return done.wait(timeout)

    def _stop(self) -> None:
        self.wait_saves()  # their end rows are queued next
        self._stopped = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._writer is not None and self._writer.is_alive():
            self._queue.put(("stop",))

    def close(self, timeout: float = 5.0) -> None:
        """Take no new runs; finish writing the active ones, then let go of the file."""
        self._closing = True
        if not self._active:
            self.flush(timeout)
            self._stop()
        self._close_reader()


def _serialise(model: Any) -> bytes | None:
    """The ``.keras`` file of ``model``, in memory (None when Keras cannot save it)."""
    try:
        try:
            from keras.src.saving import saving_lib
        except ImportError:  # a Keras that moved it: go through a file, here
            with tempfile.TemporaryDirectory() as folder:
                path = os.path.join(folder, "model.keras")
                model.save(path)
                with open(path, "rb") as f:
                    return f.read()
        buffer = io.BytesIO()
        saving_lib.save_model(model, buffer)
        return buffer.getvalue()
    except Exception as exc:  # a model Keras cannot save still has its run recorded
        log.debug("nbml could not serialise %s: %s", getattr(model, "name", "?"), exc)
        return None


def _nbml_version() -> str:
    from .. import __version__

    return __version__


_DEVICES: list[str] = []


def _devices() -> str | None:
    if not _DEVICES:
        try:
            from ..hardware import describe

            _DEVICES.append(describe())
        except Exception:  # no backend yet, or it cannot list its devices
            return None
    return _DEVICES[0]
