"""Sweep storages on a database server: ``--storage postgresql://...`` or ``mysql+pymysql://...``
(docs/sweeps-at-scale.md#storages). :func:`nbml.training.search.storage` opens file storages
itself and every other URL here, with Optuna's own ``RDBStorage`` as it ships.

- The drivers are optional extras: ``pip install 'nbml[postgres]'`` (psycopg2-binary) and
  ``pip install 'nbml[mysql]'`` (PyMySQL). A missing one is one error naming that command.
- Connecting gives up after :data:`CONNECT_TIMEOUT` seconds: the driver's ``connect_timeout``,
  passed through Optuna's ``RDBStorage(engine_kwargs=...)`` (one in the URL's query wins). An
  unreachable server is one error naming its host and port, never a hang.
- On PostgreSQL, creating Optuna's tables and asking for a trial hold a transaction-level
  advisory lock of the database (what the lock file beside a file storage does for SQLite and
  the journal file): kernels that start one sweep at once create the tables once, and trial
  numbers 0..N-1 each exist once. MySQL has no such lock here: each kernel checks the study's
  count just before asking, so two kernels asking at the same instant may add one trial more.
- A URL's password is never shown: messages print it as ``***``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..core.errors import NbmlError
from ..core.files import first_line

#: Seconds a connection to a database server may take before the storage gives up.
CONNECT_TIMEOUT = 10
#: The default port of each database server nbml names in its messages.
_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
#: Drivers known to take ``connect_timeout`` (seconds) as a connect argument.
_TIMED = {"psycopg2", "psycopg", "pymysql", "mysqldb"}
#: How to install the driver of each URL scheme: nbml's extras for the ones it documents.
_INSTALL = {
    "postgresql": "pip install 'nbml[postgres]'",
    "postgresql+psycopg2": "pip install 'nbml[postgres]'",
    "mysql+pymysql": "pip install 'nbml[mysql]'",
    "mysql": "pip install mysqlclient, or use mysql+pymysql:// after pip install 'nbml[mysql]'",
}
#: The advisory lock's key (one per database: asking is quick, so every study shares it).
_LOCK_KEY = 0x6E626D6C5357  # "nbmlSW"


def parse(url: str) -> Any:
    """SQLAlchemy's ``URL`` of ``url``; a URL it cannot read is an error naming the form."""
    import sqlalchemy

    try:
        return sqlalchemy.engine.make_url(url)
    except Exception as exc:
        raise NbmlError(
            f"--storage {url!r} is not a database URL ({first_line(exc)}): give "
            "postgresql://USER:PASSWORD@HOST:5432/DATABASE or mysql+pymysql://USER:PASSWORD@HOST"
            ":3306/DATABASE (docs/sweeps-at-scale.md#storages), or a path ending in .log."
        ) from None


def shown(url: Any) -> str:
    """``url`` as messages print it: its password as ``***``."""
    parsed = parse(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


def _driver(parsed: Any) -> str:
    try:
        return parsed.get_driver_name()  # the dialect's default driver for a bare postgresql://
    except Exception:
        return ""


def resolved(parsed: Any) -> Any:
    """A bare ``postgresql://`` URL with a driver that is installed: SQLAlchemy's default
    (psycopg from SQLAlchemy 2.1 on, psycopg2 before) if it is, else psycopg2 (nbml's
    ``postgres`` extra). Any other URL as it is."""
    import importlib.util

    if parsed.drivername != "postgresql" or importlib.util.find_spec(_driver(parsed) or "-"):
        return parsed
    if importlib.util.find_spec("psycopg2") is None:
        return parsed
    return parsed.set(drivername="postgresql+psycopg2")


def engine_kwargs(parsed: Any) -> dict[str, Any]:
    """SQLAlchemy ``create_engine`` arguments of a server URL: the connect timeout."""
    if parsed.get_backend_name() not in _PORTS or "connect_timeout" in parsed.query:
        return {}
    if _driver(parsed) not in _TIMED:
        return {}
    return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}}


def address(parsed: Any) -> str:
    """Where the server of ``parsed`` listens: ``host:port``, or its unix socket's folder."""
    host = parsed.host or parsed.query.get("host") or parsed.query.get("unix_socket")
    if isinstance(host, tuple):
        host = host[0]
    if host and str(host).startswith("/"):
        return f"the unix socket in {host}"
    return f"{host or 'localhost'}:{parsed.port or _PORTS.get(parsed.get_backend_name(), '?')}"


def open_server(url: str) -> Any:
    """Optuna's ``RDBStorage`` at a URL that is no SQLite file: a missing driver, a server that
    does not answer within :data:`CONNECT_TIMEOUT` or refuses the connection is one error."""
    import optuna
    import sqlalchemy

    given = parse(url)
    parsed = resolved(given)
    kwargs = engine_kwargs(parsed)
    try:
        with _schema_lock(parsed, kwargs):
            full = parsed.render_as_string(hide_password=False)
            return optuna.storages.RDBStorage(full, engine_kwargs=kwargs)
    except ImportError as exc:
        raise missing_driver(given, exc) from None
    except sqlalchemy.exc.DBAPIError as exc:
        reason = first_line(exc.orig if exc.orig is not None else exc)
        raise NbmlError(
            f"Cannot connect to the database server at {address(parsed)} (--storage "
            f"{shown(given)}): {reason}. Is the server running and reachable from here, and "
            "are the user, password and database right?"
        ) from None


def missing_driver(parsed: Any, exc: ImportError) -> NbmlError:
    """The error of a database driver that is not installed, naming the pip command."""
    cause = exc.__cause__ if isinstance(exc.__cause__, ImportError) else exc
    driver = _driver(parsed) or getattr(cause, "name", None) or "its driver"
    how = _INSTALL.get(parsed.drivername, f"install the Python package {cause.name or driver}")
    return NbmlError(
        f"--storage {shown(parsed)} needs the database driver {driver}, which is not "
        f"installed: {how} (or give a path ending in .log)."
    )


@contextlib.contextmanager
def _schema_lock(parsed: Any, kwargs: dict[str, Any]) -> Iterator[None]:
    """The database's advisory lock (PostgreSQL) while Optuna creates its tables: two kernels
    creating them at once otherwise race in PostgreSQL's catalog."""
    if parsed.get_backend_name() != "postgresql":
        yield
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(parsed, poolclass=sqlalchemy.pool.NullPool, **kwargs)
    try:
        with engine.begin() as conn:
            _advise(conn)
            yield
    finally:
        engine.dispose()


def _advise(conn: Any) -> None:
    import sqlalchemy

    conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


class AskLock:
    """The lock a kernel holds while it counts a study's trials and asks for one, on a database
    server (:func:`ask_lock`). It pickles with its storage (Optuna's ``RDBStorage`` does)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """PostgreSQL's advisory lock, held until the transaction of its connection ends."""
        with self.store.engine.begin() as conn:
            _advise(conn)
            yield


def ask_lock(store: Any) -> AskLock | None:
    """The lock to ask for trials under in the RDB storage ``store`` (PostgreSQL only)."""
    engine = getattr(store, "engine", None)
    if engine is None or engine.dialect.name != "postgresql":
        return None
    return AskLock(store)
