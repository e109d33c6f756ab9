"""The store's SQLite schema, its version number and the forward migrations.

The version is SQLite's ``PRAGMA user_version``: 0 is a file without nbml's tables (a new
file, or one made by something else), ``len(MIGRATIONS)`` is the schema this nbml writes.
Migrations run in one ``BEGIN IMMEDIATE`` transaction, so several kernels opening an old
store at once migrate it exactly once, and a failed migration changes nothing.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from collections.abc import Callable

#: Seconds a connection waits for another process's lock before giving up.
BUSY_TIMEOUT_S = 10.0

_V1 = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL,
    epoch INTEGER NOT NULL DEFAULT 0, epochs INTEGER NOT NULL DEFAULT 0,
    params TEXT NOT NULL DEFAULT '{}', data TEXT NOT NULL DEFAULT '',
    metrics TEXT NOT NULL DEFAULT '{}', best TEXT NOT NULL DEFAULT '{}',
    message TEXT NOT NULL DEFAULT '', started REAL NOT NULL, ended REAL,
    backend TEXT, devices TEXT, nbml_version TEXT, keras_version TEXT,
    host TEXT, pid INTEGER, pid_start TEXT, heartbeat REAL, model TEXT
);
CREATE INDEX runs_by_started ON runs (started);
CREATE INDEX runs_by_name ON runs (name, started);
CREATE TABLE epochs (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL, logs TEXT NOT NULL, time REAL NOT NULL, seconds REAL,
    PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;
"""


def _create_v1(db: sqlite3.Connection) -> None:
    """Version 1: one row per run (JSON params, metrics, best values), one per epoch."""
    for statement in _V1.split(";"):
        if statement.strip():
            db.execute(statement)


_V2 = """
CREATE TABLE inspected (
    run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    layers TEXT NOT NULL, probe TEXT NOT NULL, every INTEGER NOT NULL,
    notes TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;
CREATE TABLE inspections (
    run_id TEXT NOT NULL REFERENCES inspected (run_id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL, rows TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;
"""


def _create_v2(db: sqlite3.Connection) -> None:
    """Version 2: the model inspector's records (a run's ``inspection`` log).

    ``inspected`` holds one row per inspected run (its layer table, probe rows, cadence and
    notes, JSON), ``inspections`` one per record (the layers' statistics at an epoch end, a
    JSON list; NaN and inf are written as ``NaN``/``Infinity``, which Python's ``json`` reads
    back as floats). Runs of a version 1 store have no row in either: not inspected.
    """
    for statement in _V2.split(";"):
        if statement.strip():
            db.execute(statement)


#: ``MIGRATIONS[v]`` takes a store from version ``v`` to ``v + 1``. To change the schema,
#: append a function; never edit one that has shipped.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_create_v1, _create_v2]

#: The columns of ``runs``, in the order the store reads them.
COLUMNS = (
    "id, name, status, epoch, epochs, params, data, metrics, best, message, started, ended, "
    "backend, devices, nbml_version, keras_version, host, pid, pid_start, heartbeat, model"
)


def schema_version() -> int:
    """The schema version this nbml writes."""
    return len(MIGRATIONS)


def migrate(db: sqlite3.Connection) -> int:
    """Bring ``db`` (in autocommit mode) to :func:`schema_version`; returns the old version.

    Raises:
        sqlite3.DatabaseError: the file was made by a newer nbml, or is not a database.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        old = db.execute("PRAGMA user_version").fetchone()[0]
        if old > schema_version():
            raise sqlite3.DatabaseError(
                f"its schema version {old} is newer than this nbml's {schema_version()}; "
                "upgrade nbml"
            )
        for version in range(old, schema_version()):
            MIGRATIONS[version](db)
        db.execute(f"PRAGMA user_version = {schema_version()}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return old


def connect(path: str, busy_timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """The writer's connection to the store file ``path``: WAL mode, autocommit, current
    schema (it migrates; readers use :func:`open_readonly`)."""
    db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        db.execute("PRAGMA journal_mode = WAL")
        # In WAL mode a committed transaction survives a killed process; NORMAL skips the
        # fsync per commit (only an OS crash or power loss could lose the latest ones).
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        if db.execute("PRAGMA user_version").fetchone()[0] != schema_version():
            migrate(db)
    except BaseException:
        db.close()
        raise
    return db


def _open(uri: str, busy_timeout: float) -> sqlite3.Connection:
    db = sqlite3.connect(
        uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # opens it now
    except BaseException:
        db.close()
        raise
    return db


def open_readonly(
    path: str, busy_timeout: float = BUSY_TIMEOUT_S
) -> tuple[sqlite3.Connection, bool]:
    """A read-only connection to the store file ``path``, and whether it is a snapshot.

    It never changes the journal mode and never migrates, so a store on a read-only disk, or
    one this user may not write, can be listed. A WAL store whose ``-wal`` file is absent
    (closed cleanly) in a folder where SQLite cannot make its ``-shm`` file is opened as an
    immutable snapshot: use it for one read and open it again.
    """
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    try:
        return _open(uri, busy_timeout), False
    except sqlite3.OperationalError:
        wal = path + "-wal"
        if os.path.exists(wal) and os.path.getsize(wal) > 0:
            raise  # committed rows in the -wal file: an immutable read would miss them
    return _open(uri + "&immutable=1", busy_timeout), True
