"""The writer thread: what is queued and not stored yet, and retrying until it is
(docs/reference.md#runs-and-the-store).

The writer takes everything queued and commits it in one transaction. Any error (locked,
disk full, read-only, a corrupted file, a folder that cannot be made) keeps all of it in the
:class:`Backlog` and retries with a backoff, from :data:`FIRST_RETRY_S` doubling up to
:data:`MAX_RETRY_S` (a flush retries at once); what arrives meanwhile joins the backlog.
When the fault clears, everything queued is written, in order. :class:`Pending` says, on any
thread, what is not stored yet, for the warning line and ``%runs``.

Memory is bounded. A run's start and end are small and always kept; a heartbeat is kept once.
Past :data:`MAX_EPOCH_OPS` queued epoch rows, the oldest tenth of them is dropped (those runs
then miss some epochs in their stored history; ``%runs`` says how many rows were dropped).
Past :data:`MAX_INSPECT_ROWS` layer rows of inspector records queued, the oldest tenth of those
records is dropped the same way.
Past :data:`MAX_MODEL_BYTES` of serialised models waiting in memory, the oldest waiting model
is dropped and its run is stored without it, its message saying why. A model file written
before a failed transaction is no longer held in memory.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from typing import Any

from ..core.files import reason
from . import liveness, writes

FIRST_RETRY_S = 0.2
MAX_RETRY_S = 10.0
MAX_EPOCH_OPS = 200_000
#: Layer rows of inspector records (one per layer and record, about 0.5 kB each) kept waiting.
MAX_INSPECT_ROWS = 200_000
MAX_MODEL_BYTES = 1 << 30


class Pending:
    """What is queued and not committed yet, per run; updated by the training and writer
    threads, read by ``%runs`` on any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, dict[str, Any]] = {}
        self.dropped_epochs = 0
        self.dropped_records = 0

    def add(self, op: tuple[Any, ...], name: str) -> None:
        if op[0] not in writes.DATA_OPS:
            return
        with self._lock:
            run = self._runs.setdefault(
                op[1], {"name": name, **dict.fromkeys(writes.DATA_OPS, 0), "model": 0}
            )
            run[op[0]] += 1
            run["model"] += op[0] == "end" and op[3] is not None

    def done(self, ops: list[tuple[Any, ...]], dropped: bool = False) -> None:
        """``ops`` are committed (or, ``dropped``, given up past a memory bound)."""
        with self._lock:
            for op in ops:
                run = self._runs.get(op[1]) if op[0] in writes.DATA_OPS else None
                if run is None:
                    continue
                run[op[0]] -= 1
                run["model"] -= op[0] == "end" and op[3] is not None
                self.dropped_epochs += dropped and op[0] == "epoch"
                self.dropped_records += dropped and op[0] == "inspect"
                if not any(run[k] for k in writes.DATA_OPS):
                    del self._runs[op[1]]

    def unmodel(self, run_id: str) -> None:
        """A queued model was dropped (memory bound): its run's end is still pending."""
        with self._lock:
            if run_id in self._runs:
                self._runs[run_id]["model"] -= 1

    def count(self) -> int:
        """How many starts, epochs, inspector records and ends are not stored yet."""
        with self._lock:
            return sum(r[k] for r in self._runs.values() for k in writes.DATA_OPS)

    def describe(self) -> str:
        """What is not stored yet, in words: "1 start, 3 epochs and 1 model of run ab12 (m)"."""
        with self._lock:
            runs = [(k, dict(v)) for k, v in self._runs.items()]
        if not runs:
            return "nothing"
        words = {"begin": "start", "epoch": "epoch", "inspect": "inspector record", "end": "end",
                 "model": "model"}  # fmt: skip
        parts = []
        for key, word in words.items():
            n = sum(r[key] for _, r in runs)
            if n:
                parts.append(f"{n} {word}{'s' if n != 1 else ''}")
        what = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
        if len(runs) == 1:
            return f"{what} of run {runs[0][0]} ({runs[0][1]['name']})"
        names = sorted({r["name"] for _, r in runs})
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return f"{what} of {len(runs)} runs ({shown})"


class Backlog:
    """The ops the writer thread has taken from the queue and not committed yet."""

    def __init__(self, pending: Pending) -> None:
        self.ops: list[tuple[Any, ...]] = []
        self.pending = pending
        self.writes = 0  # starts, epochs, inspector records and ends among the ops
        self.stop = False
        self._epochs = 0
        self._rows = 0  # layer rows of the inspector records among the ops
        self._heartbeat = False

    def add(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "heartbeat":
            if self._heartbeat:
                return
            self._heartbeat = True
        self.stop = self.stop or kind == "stop"
        self.writes += kind in writes.DATA_OPS
        self._epochs += kind == "epoch"
        self.ops.append(op)
        if self._epochs > MAX_EPOCH_OPS:
            self._drop("epoch", MAX_EPOCH_OPS // 10)
        if kind == "inspect":
            self._rows += len(op[3])
            if self._rows > MAX_INSPECT_ROWS:
                self._drop("inspect", MAX_INSPECT_ROWS // 10)
        if kind == "end" and isinstance(op[3], bytes):
            self._bound_models()

    def _drop(self, kind: str, n: int) -> None:
        """Drop the oldest ``kind`` ops: ``n`` epochs, or inspector records of ``n`` rows."""
        keep, dropped, size = [], [], 0
        for op in self.ops:
            if op[0] == kind and size < n:
                dropped.append(op)
                size += 1 if kind == "epoch" else len(op[3])
            else:
                keep.append(op)
        self.ops = keep
        if kind == "epoch":
            self._epochs -= len(dropped)
        else:
            self._rows -= size
        self.writes -= len(dropped)
        self.pending.done(dropped, dropped=True)

    def _bound_models(self) -> None:
        size = sum(len(op[3]) for op in self.ops if op[0] == "end" and isinstance(op[3], bytes))
        for i, op in enumerate(self.ops):
            if size <= MAX_MODEL_BYTES:
                return
            if op[0] == "end" and isinstance(op[3], bytes):
                size -= len(op[3])
                why = (
                    "it waited in memory while the store could not be written, past nbml's "
                    f"bound of {MAX_MODEL_BYTES >> 20} MiB of models waiting."
                )
                self.ops[i] = (*op[:3], None, why)
                self.pending.unmodel(op[1])

    def committed(self) -> None:
        """Everything in the backlog is stored: answer the flushes, start afresh."""
        self.pending.done(self.ops)
        for op in self.ops:
            if op[0] == "flush":
                op[1].set()
        self.ops, self.writes, self._epochs, self._rows, self._heartbeat = [], 0, 0, 0, False


def run(store: Any) -> None:
    """The writer thread of ``store`` (a :class:`~nbml.store.writer.Store`, which imports this
    module): commit what is queued, retrying every error."""
    db: sqlite3.Connection | None = None
    backlog = Backlog(store.pending)
    live: dict[str, dict[str, float]] = {}  # this process's running runs: best values
    delay = FIRST_RETRY_S
    while True:
        if not backlog.ops:  # (a non-empty backlog is being retried)
            try:
                backlog.add(store._queue.get(timeout=liveness.HEARTBEAT_S))
            except queue.Empty:
                backlog.add(("heartbeat",))
        while True:
            try:
                backlog.add(store._queue.get_nowait())
            except queue.Empty:
                break
        if backlog.writes or (db is not None and live):
            try:
                if db is None:
                    db = store._open_writer()
                writes.write(db, backlog.ops, live, store._save_model)
            except Exception as exc:  # every error: keep the backlog, retry after a while
                db = _drop(db)
                store._failed(reason(exc))
                if store._wake.wait(delay):
                    store._wake.clear()
                delay = min(delay * 2, MAX_RETRY_S)
                continue
            delay = FIRST_RETRY_S
            store._recovered()
        backlog.committed()
        if backlog.stop:
            _drop(db)
            return


def _drop(db: sqlite3.Connection | None) -> None:
    if db is not None:
        with contextlib.suppress(sqlite3.Error):
            db.close()
    return None
