"""Reading the store: :class:`StoredRun` records, listed newest first through an index.

Listing reads only the ``runs`` table (one row per run, with the latest and best epoch
values kept there by the writer); a run's per-epoch history is read when first asked for.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import NbmlError, did_you_mean
from ..core.files import inside, reason
from ..core.registry import describe
from . import liveness
from .schema import BUSY_TIMEOUT_S, COLUMNS, open_readonly

#: How a run's message says that it is kept without its model (then why).
MODEL_NOT_SAVED = "The model was not saved"

#: A stored run's inspection (:meth:`Reader.inspection`): name, layer rows, probe rows,
#: records ``[(epoch, rows)]``, notes and the run's status.
Inspected = tuple[
    str, list[dict[str, Any]], list[int], list[tuple[int, list[dict[str, Any]]]],
    dict[str, str], str,
]  # fmt: skip


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

    @property
    def model_note(self) -> str:
        """Why the run is kept without its model ("" when no reason was recorded)."""
        at = self.message.find(MODEL_NOT_SAVED)
        return self.message[at:] if at >= 0 else ""

    def model_file(self) -> str:
        """The run's saved model, for ``--from-run``: only a file in the store's ``models``
        folder is loaded (a shared ``runs.sqlite`` could name any file on disk).

        A path naming the run's own ``<id>.keras`` elsewhere (a store folder that was moved
        or copied) is read from this store's ``models`` folder.

        Raises:
            NbmlError: the run has no model, or names a file outside the store, or its file
                is gone.
        """
        if not self.model_path or self._reader is None:
            why = self.model_note.removeprefix(f"{MODEL_NOT_SAVED}: ") or (
                "nbml saves a run's model when the run ends, so a run whose kernel died keeps "
                "its epochs but not its weights."
            )
            raise NbmlError(
                f"Run {self.id} of {self.name} ({self.status}) has no saved model: {why} "
                "Pick a finished, stopped or failed run from %runs."
            )
        models = os.path.join(self._reader.path, "models")
        own = self._reader.model_path(self.id)
        if inside(self.model_path, models):
            path = self.model_path
        elif os.path.basename(self.model_path) == f"{self.id}.keras" and inside(own, models):
            path = own
        else:
            raise NbmlError(
                f"Run {self.id} of {self.name} names the model file {self.model_path}, which is "
                f"outside the store's models folder {models}; nbml loads only models kept in "
                "the store (a shared runs.sqlite could name any file). Copy the file to "
                f"{own} if you trust it."
            )
        if not os.path.isfile(path):
            raise NbmlError(
                f"The model file of run {self.id} of {self.name}, {path}, is gone (deleted or "
                "moved). Pick another run from %runs."
            )
        return path

    def data_spec(self) -> str:
        """The run's data spec, to load again for ``--from-run``.

        The store may be shared, so its ``data`` is untrusted: a variable name, ``sklearn:``
        or ``keras:`` spec reads nothing on disk beyond what the user could name, but a
        ``.csv``/``.npz`` path is read only inside the working folder or the folder holding
        the store; another path needs the user's own ``--data``.

        Raises:
            NbmlError: a file outside those folders.
        """
        spec = self.data.strip()
        if not spec.lower().endswith((".csv", ".npz")):
            return spec
        real = os.path.realpath(os.path.expanduser(spec))
        roots = [os.getcwd()] + ([os.path.dirname(self._reader.path)] if self._reader else [])
        if any(real.startswith(os.path.realpath(r) + os.sep) for r in roots):
            return spec
        raise NbmlError(
            f"'{spec}' is a file outside this notebook's folder {os.getcwd()}; nbml does not "
            "read a file that a run store names outside it (the store may be shared). Give "
            f"--data {spec} yourself to read it anyway"
        )

    def __repr__(self) -> str:
        return describe(self)


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
    """The read side of a store folder: one read-only connection, shared under a lock.

    Reading never writes: the file is opened read-only (no journal mode change, no
    migration), so a store on a read-only disk, or one this user may not write, is listed.
    A file that does not exist yet reads as an empty store (reading creates nothing). A read
    that fails (a corrupted or unreadable file) lists nothing, says why once, and is tried
    again next time; it never stops the writer.
    """

    def __init__(self, path: str | os.PathLike[str], busy_timeout: float = BUSY_TIMEOUT_S):
        self.path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        self.db_path = os.path.join(self.path, "runs.sqlite")
        self.busy_timeout = busy_timeout
        #: Why the last read failed ("" when it worked).
        self.read_fault = ""
        self._read_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        self._snapshot = False
        self._say_lock = threading.Lock()
        self._messages: dict[str, str] = {}  # warnings not printed yet, by kind
        self._warned: set[str] = set()  # kinds said in their current episode

    @property
    def problem(self) -> str:
        """Why the store cannot be used right now ("" while it works)."""
        return self.read_fault

    def model_path(self, run_id: str) -> str:
        """Where the model of run ``run_id`` is saved when it ends."""
        return os.path.join(self.path, "models", f"{run_id}.keras")

    def where(self) -> str:
        """The store file, relative to the working folder when inside it."""
        if self.db_path.startswith(os.getcwd() + os.sep):
            return os.path.relpath(self.db_path)
        return self.db_path

    def warn(self) -> None:
        """Print the pending warnings (each kind once per episode), on the calling thread."""
        with self._say_lock:
            messages, self._messages = list(self._messages.values()), {}
        for message in messages:
            print(f"nbml: {message}", file=sys.stderr)

    def _say(self, kind: str, message: str) -> None:
        """Queue a warning of ``kind`` unless one was said since the last :meth:`_unsay`."""
        with self._say_lock:
            if kind not in self._warned:
                self._warned.add(kind)
                self._messages[kind] = message

    def _unsay(self, kind: str, then: str = "") -> None:
        """The trouble of ``kind`` is over: a warning not printed yet is dropped; one that
        was printed is followed by ``then``."""
        with self._say_lock:
            if kind in self._warned:
                self._warned.discard(kind)
                if self._messages.pop(kind, None) is None and then:
                    self._messages[f"{kind}-over"] = then

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if not os.path.exists(self.db_path):
            return []
        rows: list[tuple[Any, ...]] = []
        with self._read_lock:
            try:
                if self._reader is None:
                    self._reader, self._snapshot = open_readonly(self.db_path, self.busy_timeout)
                rows = self._reader.execute(sql, args).fetchall()
                self.read_fault = ""
                self._unsay("read")
                if self._snapshot:  # read as an unchanging file: not kept past this read
                    self._drop_reader()
            except (sqlite3.Error, OSError) as exc:
                self._drop_reader()  # opened afresh next time: the fault may be gone
                if "no such table" not in str(exc):  # else a file without runs yet: empty
                    self.read_fault = reason(exc)
                    self._say(
                        "read",
                        f"the run store {self.where()} cannot be read ({self.read_fault}); "
                        "%runs lists this kernel's runs only until it can.",
                    )
        self.warn()
        return rows

    def _drop_reader(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(sqlite3.Error):
                self._reader.close()
            self._reader = None

    def _close_reader(self) -> None:
        with self._read_lock:
            self._drop_reader()

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

    def inspection(self, run_id: str) -> Inspected | None:
        """The model inspector's records of run ``run_id``: ``(name, layers, probe, records,
        notes, status)``, ``records`` being ``[(epoch, rows)]`` in epoch order with NaN and
        inf kept; None for an unknown run, a run that was not inspected, or a store older than
        the inspector (read as it is: readers never migrate)."""
        head = self._read(
            f"SELECT {COLUMNS}, inspected.layers, inspected.probe, inspected.notes FROM runs "
            "JOIN inspected ON inspected.run_id = runs.id WHERE runs.id = ?",
            (run_id,),
        )
        if not head:
            return None
        n = len(COLUMNS.split(", "))
        run = self._record(head[0][:n], time.time())
        layers, probe, notes = (json.loads(text) for text in head[0][n:])
        rows = self._read(
            "SELECT epoch, rows FROM inspections WHERE run_id = ? ORDER BY epoch", (run_id,)
        )
        records = [(epoch, json.loads(text)) for epoch, text in rows]
        return run.name, layers, probe, records, notes, run.status

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
