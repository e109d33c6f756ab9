"""Reading the store: :class:`StoredRun` records, listed newest first through an index.

Listing reads only the ``runs`` table (one row per run, with the latest and best epoch
values kept there by the writer); a run's per-epoch history is read when first asked for.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import NbmlError, did_you_mean
from . import liveness
from .schema import BUSY_TIMEOUT_S, COLUMNS, connect


@dataclass
class StoredRun:
    """A run read from the store: the fields of :class:`nbml.Run`, plus where it ran.

    ``status`` is ``interrupted`` for a run whose kernel died while it trained. ``best``
    holds the best value of each metric over the committed epochs. ``history`` is read on
    first use, so listing many runs reads no epoch rows.
    """

    id: str
    name: str
    status: str
    epoch: int
    epochs: int
    params: dict[str, Any]
    data: str
    metrics: dict[str, float]
    best: dict[str, float]
    message: str
    started: float
    ended: float | None
    backend: str | None = None
    devices: str | None = None
    versions: dict[str, str | None] = field(default_factory=dict)
    host: str | None = None
    pid: int | None = None
    model_path: str | None = None
    _reader: Reader | None = field(default=None, repr=False, compare=False)
    _history: dict[str, list[float]] | None = field(default=None, repr=False, compare=False)

    @property
    def history(self) -> dict[str, list[float]]:
        """Per-epoch logs: metric -> list of values, one per committed epoch."""
        if self._history is None:
            self._history = self._reader.history(self.id) if self._reader else {}
        return self._history

    @property
    def duration(self) -> float:
        """Seconds from start to end (or to now while running)."""
        return (self.ended or time.time()) - self.started

    def __repr__(self) -> str:
        last = ", ".join(f"{k} {v:.4g}" for k, v in self.metrics.items())
        return (
            f"<StoredRun {self.id} {self.name}: {self.status}, epoch {self.epoch}/{self.epochs}"
            + (f", {last}" if last else "")
            + ">"
        )


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else {}


def lower_is_better(key: str) -> bool:
    """Whether a smaller value of metric ``key`` is better (losses and errors)."""
    words = ("loss", "error", "mae", "mse", "mape", "msle", "hinge", "crossentropy")
    return any(w in key.lower() for w in words)


def better(key: str, new: float, old: float | None) -> bool:
    """Whether ``new`` improves on ``old`` for metric ``key`` (anything beats None or NaN)."""
    if old is None or old != old:
        return True
    return new < old if lower_is_better(key) else new > old


class Reader:
    """The read side of a store folder: one connection, shared under a lock.

    A file that does not exist yet reads as an empty store (reading creates nothing). A
    corrupted or unreadable file makes ``problem`` non-empty and prints one warning line.
    """

    def __init__(self, path: str | os.PathLike[str], busy_timeout: float = BUSY_TIMEOUT_S):
        self.path = os.path.abspath(os.fspath(path))
        self.db_path = os.path.join(self.path, "runs.sqlite")
        self.busy_timeout = busy_timeout
        #: Why the store cannot be used ("" while it works); runs then stay in memory.
        self.problem = ""
        self._read_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        self._pending_warning = ""
        self._warned = False

    def model_path(self, run_id: str) -> str:
        """Where the model of run ``run_id`` is saved when it ends."""
        return os.path.join(self.path, "models", f"{run_id}.keras")

    def warn(self) -> None:
        """Print the pending warning, once per store, on the calling thread."""
        message, self._pending_warning = self._pending_warning, ""
        if message and not self._warned:
            self._warned = True
            print(f"nbml: {message}", file=sys.stderr)

    def _trouble(self, problem: str, permanent: bool) -> None:
        where = self.db_path
        if where.startswith(os.getcwd() + os.sep):
            where = os.path.relpath(where)
        if permanent:
            self.problem = problem
            self._pending_warning = (
                f"the run store {where} cannot be used ({problem}); training goes on and runs "
                "are kept in this kernel's memory only."
            )
        elif not self._warned:
            self._pending_warning = (
                f"the run store {where} is locked by another process ({problem}); training "
                "goes on and nbml keeps retrying the writes."
            )

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.problem or not os.path.exists(self.db_path):
            return []
        with self._read_lock:
            try:
                if self._reader is None:
                    self._reader = connect(self.db_path, self.busy_timeout)
                return self._reader.execute(sql, args).fetchall()
            except (sqlite3.Error, OSError) as exc:
                locked = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
                self._trouble(str(exc) or type(exc).__name__, permanent=not locked)
        self.warn()
        return []

    def _close_reader(self) -> None:
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def runs(self, name: str | None = None, limit: int | None = None) -> list[StoredRun]:
        """Stored runs, oldest first: all of them, or the last ``limit`` (of ``name``)."""
        where, args = ("WHERE name = ?", (name,)) if name else ("", ())
        rows = self._read(
            f"SELECT {COLUMNS} FROM runs {where} ORDER BY started DESC LIMIT ?",
            (*args, -1 if limit is None else limit),
        )
        now = time.time()
        return [self._record(row, now) for row in reversed(rows)]

    def run(self, run_id: str) -> StoredRun:
        """The stored run ``run_id``; an unknown id raises :class:`NbmlError`."""
        rows = self._read(f"SELECT {COLUMNS} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            recent = [r.id for r in self.runs(limit=200)]
            raise NbmlError(
                f"No run '{run_id}' in the store {self.db_path}.{did_you_mean(run_id, recent)} "
                "%runs lists the stored runs with their ids."
            )
        return self._record(rows[0], time.time())

    def count(self, name: str | None = None) -> int:
        """How many runs (of ``name``) the store holds."""
        where, args = ("WHERE name = ?", (name,)) if name else ("", ())
        rows = self._read(f"SELECT COUNT(*) FROM runs {where}", args)
        return rows[0][0] if rows else 0

    def names(self) -> list[str]:
        """The model names that have stored runs."""
        return [r[0] for r in self._read("SELECT DISTINCT name FROM runs")]

    def history(self, run_id: str) -> dict[str, list[float]]:
        """The committed epochs of ``run_id`` as metric -> per-epoch values."""
        out: dict[str, list[float]] = {}
        rows = self._read("SELECT logs FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,))
        for (logs,) in rows:
            for key, value in json.loads(logs).items():
                out.setdefault(key, []).append(value)
        return out

    def _record(self, row: tuple[Any, ...], now: float) -> StoredRun:
        r = dict(zip(COLUMNS.split(", "), row, strict=True))
        status = liveness.status(r, now)
        ended, message = r["ended"], r["message"]
        if status == "interrupted" and r["status"] == "running":
            ended = r["heartbeat"] or r["started"]
            message = liveness.interrupted_message(r["epoch"])
        return StoredRun(
            r["id"], r["name"], status, r["epoch"], r["epochs"], _loads(r["params"]), r["data"],
            _loads(r["metrics"]), _loads(r["best"]), message, r["started"], ended,
            r["backend"], r["devices"],
            {"nbml": r["nbml_version"], "keras": r["keras_version"]},
            r["host"], r["pid"], r["model"], _reader=self,
        )  # fmt: skip
