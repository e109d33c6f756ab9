"""A run's inspector records read straight from a kernel's run store, for the Models panel's
inspector of a kernel that no document of the panel's application holds (docs/protocol.md).

The server extension imports nothing of nbml but :mod:`nbml.core`, so this reads the SQLite
file itself, read-only, by the store's documented schema (``nbml/store/schema.py``, version 2):
``runs`` (``id``, ``name``, ``status``), ``inspected`` (one row per inspected run: ``layers``,
``notes`` as JSON) and ``inspections`` (one row per record: ``epoch``, ``rows`` as JSON, with
NaN and Infinity kept). It never writes, migrates or changes the journal mode; a store older than
the inspector (no such tables) has no records to give.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import urllib.parse
from typing import Any

from ..core.inspect_wire import inspect_layers, inspect_record

#: The store's file in its folder (``nbml.store``).
STORE_FILE = "runs.sqlite"
#: Seconds a read waits for a writer's lock.
BUSY_TIMEOUT_S = 5.0


class NotStored(LookupError):
    """The run is not in the store, or was not inspected."""


def _connect(path: str) -> sqlite3.Connection:
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    try:
        return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.OperationalError:
        wal = path + "-wal"
        if os.path.exists(wal) and os.path.getsize(wal) > 0:
            raise  # committed rows wait in the -wal file: an immutable read would miss them
    # a closed WAL store in a folder where SQLite may not make its -shm file
    return sqlite3.connect(uri + "&immutable=1", uri=True, timeout=BUSY_TIMEOUT_S)


def read_inspection(store: str, run_id: str, since: int = 0) -> dict[str, Any]:
    """Run ``run_id``'s name, status, layer table, records (those after epoch ``since``) and
    notes from the store folder ``store``, as the protocol carries them (a NaN travels as
    null). Raises :class:`NotStored`
    for a run the store does not have or did not inspect, :class:`sqlite3.Error` or
    :class:`OSError` for a store that cannot be read."""
    path = os.path.join(store, STORE_FILE)
    if not os.path.isfile(path):
        raise NotStored(f"no run store at {store}")
    db = _connect(path)
    try:
        head = _rows(
            db,
            "SELECT runs.name, runs.status, inspected.layers, inspected.notes FROM runs "
            "JOIN inspected ON inspected.run_id = runs.id WHERE runs.id = ?",
            (run_id,),
        )
        if not head:
            raise NotStored(f"run {run_id} has no inspector records in the store")
        name, status, layers, notes = head[0]
        rows = _rows(
            db,
            "SELECT epoch, rows FROM inspections WHERE run_id = ? AND epoch > ? ORDER BY epoch",
            (run_id, since),
        )
    finally:
        with contextlib.suppress(sqlite3.Error):
            db.close()
    return {
        "run": run_id,
        "model": str(name),
        "status": str(status),
        "layers": inspect_layers(json.loads(layers)),
        "records": [inspect_record(epoch, json.loads(text)) for epoch, text in rows],
        "notes": {str(k): str(v) for k, v in (json.loads(notes) or {}).items()},
    }


def _rows(db: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    try:
        return db.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # a store older than the inspector
            raise NotStored("the store is older than the inspector") from None
        raise
