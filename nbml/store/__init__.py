"""Runs that outlive the kernel: a SQLite store at ``<store_path>/runs.sqlite``
(docs/reference.md#runs-and-the-store).

``%load_ext nbml`` attaches a store at ``NbmlMagics.store_path`` (``.nbml`` next to the
notebook); the Python API attaches one with :func:`open`. The store subscribes to the registry
(training code never imports it) and keeps, for every run, a row at its start, one committed
row per finished epoch, its outcome, and the model at ``models/<run_id>.keras``; see
:mod:`.writer`. Several kernels share one store (WAL mode, ``BEGIN IMMEDIATE``, a busy
timeout). A run whose kernel died reads as ``interrupted`` (:mod:`.liveness`). A read-only,
full, locked or corrupted store never stops training and drops nothing queued: writes are
retried until they succeed (:mod:`.backlog`), one warning line says what is not stored yet,
and ``%runs`` says the store is behind. Readers open the file read-only, so a store nobody
may write is still listed.
"""

from __future__ import annotations

import atexit
import os
import sys

from ..core.registry import RECORD_FIRST, REGISTRY, SAVE_LAST, Registry
from .records import StoredRun, lower_is_better
from .schema import MIGRATIONS, connect, migrate, schema_version
from .writer import Store, deferred_saves

__all__ = [
    "MIGRATIONS",
    "Store",
    "StoredRun",
    "close",
    "connect",
    "current",
    "deferred_saves",
    "ensure",
    "lower_is_better",
    "migrate",
    "open",
    "schema_version",
    "wait_saves",
]

_CURRENT: list[Store] = []
#: Whether a store was ever attached or detached on purpose (then :func:`ensure` leaves it be).
_CHOSEN: list[bool] = []
#: The folder :func:`ensure` attaches; ``NBML_STORE_PATH`` overrides it ('' for no store).
DEFAULT_PATH = ".nbml"


def open(path: str | os.PathLike[str] = ".nbml", *, registry: Registry = REGISTRY) -> Store:  # noqa: A001
    """Attach the store in folder ``path``: every run of ``registry`` is kept there.

    Opening does no I/O (the folder and file are made on the first write). A store attached
    before is closed; trainings running into it finish writing there.

    Example:
        >>> nbml.store.open("experiments/.nbml")
        >>> nbml.runs()
    """
    close()
    _CHOSEN.append(True)
    store = Store(path, registry=registry)
    first = registry.subscribe(store.early, order=RECORD_FIRST)  # before views show them
    last = registry.subscribe(store.finish, order=SAVE_LAST)  # the end: after views (slow)

    def unsubscribe() -> None:
        first()
        last()

    store._unsubscribe = unsubscribe
    _CURRENT.append(store)
    return store


def close() -> None:
    """Detach the current store, if any: runs are then kept in memory only."""
    _CHOSEN.append(True)
    while _CURRENT:
        _CURRENT.pop().close()


def current() -> Store | None:
    """The attached store, or None."""
    return _CURRENT[-1] if _CURRENT else None


def ensure() -> Store | None:
    """The attached store; on the Python API's first use without ``%load_ext`` (no store was
    ever attached or closed on purpose), the store at ``NBML_STORE_PATH`` (default ``.nbml``,
    made absolute now) is attached first, so a plain ``import nbml`` sees the same runs."""
    if not _CHOSEN:
        path = os.environ.get("NBML_STORE_PATH", DEFAULT_PATH)
        if path:
            open(path)
        else:
            _CHOSEN.append(True)
    return current()


def wait_saves(*_: object) -> None:
    """Wait for the model saves the last ``%%train`` cell left running (see
    :func:`deferred_saves`); an IPython ``pre_run_cell`` hook while nbml is loaded."""
    for store in _CURRENT:
        store.wait_saves()


@atexit.register
def _flush_at_exit() -> None:
    store = current()
    if store is not None and not store.flush(5.0) and store.fault:
        print(
            f"nbml: {store.pending.describe()} never reached the run store {store.where()} "
            f"({store.fault}).",
            file=sys.stderr,
        )
