"""The rows the writer thread commits: one ``BEGIN IMMEDIATE`` transaction per batch of ops.

The ops are tuples queued by :class:`~nbml.store.writer.Store`:

- ``("begin", run_id, name, params, data, epochs, started)``
- ``("epoch", run_id, index, logs, time, seconds)``
- ``("inspect", run_id, epoch, rows, (layers, probe, every, notes))``: an inspector record (see
  :func:`inspect_op`); the run-level part is written with the run's first record, its notes
  updated with each.
- ``("end", run_id, (status, epoch, ended, metrics, message), model, why)``: ``model`` is the
  serialised ``.keras`` file (bytes), the path it was written to, or None; ``why`` says why a
  run has no model ("" when it has one, or when none was asked for).
- ``("heartbeat",)``, ``("flush", event)``, ``("stop",)``: control, written as nothing.

Model files are written first, outside the transaction, and fsynced, so a row never names a
file that is not complete on disk.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import Any

from . import liveness
from .records import MODEL_NOT_SAVED, better

log = logging.getLogger("nbml")

DATA_OPS = ("begin", "epoch", "inspect", "end")


def dumps(value: Any) -> str:
    def plain(v: Any) -> Any:
        item = getattr(v, "item", None)  # numpy scalars
        return item() if callable(item) else str(v)

    return json.dumps(value, default=plain)


def write(
    db: sqlite3.Connection,
    ops: list[tuple[Any, ...]],
    live: dict[str, dict[str, float]],
    save_model: Callable[[str, bytes], str],
) -> None:
    """Commit ``ops`` in one transaction; ``live`` (this process's running runs and their best
    values) changes only when it commits. Raises what SQLite or the file system raise."""
    for i, op in enumerate(ops):  # model files first, outside the transaction
        if op[0] == "end" and isinstance(op[3], bytes):
            ops[i] = (*op[:3], save_model(op[1], op[3]), op[4])  # the bytes are freed
    now = time.time()
    staged = {k: dict(v) for k, v in live.items()}
    db.execute("BEGIN IMMEDIATE")
    try:
        for op in ops:
            apply(db, op, staged, now)
        db.execute("COMMIT")
    except BaseException:
        rollback(db)
        raise
    live.clear()
    live.update(staged)


def rollback(db: sqlite3.Connection) -> None:
    """Undo the open transaction, if any (a failing disk may fail this too: the connection is
    dropped after an error anyway)."""
    with contextlib.suppress(sqlite3.Error):
        if db.in_transaction:
            db.execute("ROLLBACK")


def apply(db: sqlite3.Connection, op: tuple[Any, ...], live: dict, now: float) -> None:
    kind = op[0]
    if kind == "heartbeat":
        if live:
            marks = ",".join("?" * len(live))
            db.execute(f"UPDATE runs SET heartbeat = ? WHERE id IN ({marks})", (now, *live))
        return
    run_id = op[1] if kind in DATA_OPS else None
    if kind == "begin":
        _begin(db, op, live, now)
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
            (run_id, index, dumps(logs), when, seconds),
        )
        db.execute(
            "UPDATE runs SET epoch = ?, metrics = ?, best = ?, heartbeat = ? WHERE id = ?",
            (index + 1, dumps(logs), dumps(best), now, run_id),
        )
    elif kind == "inspect":
        _inspect(db, op)
    elif kind == "end":
        status, epoch, ended, metrics, message = op[2]
        model = op[3] if isinstance(op[3], str) else None
        if op[4]:  # the run is kept without its model: its message says why
            message = f"{message} {MODEL_NOT_SAVED}: {op[4]}".strip()
        # epochs past the last good one (a NaN loss) are not part of the run's history
        db.execute("DELETE FROM epochs WHERE run_id = ? AND epoch >= ?", (run_id, epoch))
        db.execute(
            "UPDATE runs SET status = ?, epoch = ?, ended = ?, metrics = ?, message = ?, "
            "model = ?, heartbeat = ? WHERE id = ?",
            (status, epoch, ended or now, dumps(metrics), message, model, now, run_id),
        )
        del live[run_id]


def inspect_op(run: Any, data: dict[str, Any]) -> tuple[Any, ...]:
    """The op of an ``inspect`` event of ``run``: its record, and the run-level part of its
    inspector log (the layer table and probe rows are shared, not copied: they never change
    once the run starts; the notes are copied, they can grow)."""
    log = run.inspection
    head = (log.layers, log.probe, log.every, dict(log.notes))
    return ("inspect", run.id, int(data["epoch"]), list(data["rows"]), head)


def _inspect(db: sqlite3.Connection, op: tuple[Any, ...]) -> None:
    _, run_id, epoch, rows, (layers, probe, every, notes) = op
    cursor = db.execute("UPDATE inspected SET notes = ? WHERE run_id = ?", (dumps(notes), run_id))
    if not cursor.rowcount:  # the run's first record
        db.execute(
            "INSERT INTO inspected (run_id, layers, probe, every, notes) VALUES (?, ?, ?, ?, ?)",
            (run_id, dumps(layers), dumps(probe), every, dumps(notes)),
        )
    # NaN and inf are kept: json writes them as NaN/Infinity, which it reads back as floats
    db.execute(
        "INSERT OR REPLACE INTO inspections (run_id, epoch, rows) VALUES (?, ?, ?)",
        (run_id, epoch, dumps(rows)),
    )


def _begin(db: sqlite3.Connection, op: tuple[Any, ...], live: dict, now: float) -> None:
    _, run_id, name, params, data, epochs, started = op
    keras = sys.modules.get("keras")
    cursor = db.execute(
        "INSERT INTO runs (id, name, status, epochs, params, data, started, backend, "
        "devices, nbml_version, keras_version, host, pid, pid_start, heartbeat) "
        "VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO NOTHING",
        (run_id, name, epochs, dumps(params), str(data), started,
         keras.backend.backend() if keras else None, _devices(), _nbml_version(),
         getattr(keras, "__version__", None),
         liveness.HOST, liveness.PID, liveness.PID_START, now),
    )  # fmt: skip
    if cursor.rowcount:
        live[run_id] = {}
    else:
        log.warning("nbml: run id %s is already in the store; not recording it", run_id)


def settle(db: sqlite3.Connection) -> None:
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
    try:
        for run_id, _, _, heartbeat, started, epoch in dead:
            db.execute(
                "UPDATE runs SET status = 'interrupted', ended = ?, message = ? "
                "WHERE id = ? AND status = 'running'",
                (heartbeat or started, liveness.interrupted_message(epoch), run_id),
            )
        db.execute("COMMIT")
    except BaseException:
        rollback(db)
        raise


def _nbml_version() -> str:
    from ..core.version import __version__

    return __version__


_DEVICES: list[str] = []


def _devices() -> str | None:
    if not _DEVICES:
        try:
            from ..ml.hardware import describe

            _DEVICES.append(describe())
        except Exception:  # no backend yet, or it cannot list its devices
            return None
    return _DEVICES[0]
