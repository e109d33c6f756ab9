"""Model files: serialised in memory, written next to their target and renamed into place.

A ``.keras`` file is never written in place: Keras opens its target with ``"wb"`` before it
serialises, so a model it cannot save would truncate an earlier good file. Here the model is
serialised to bytes first; only bytes that exist are written, to a ``.part`` file in the same
folder, fsynced, and renamed over the target (docs/reference.md#runs-and-the-store). A killed
kernel can leave a ``.part`` file behind; :func:`clean_parts` removes the stale ones.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
import time
from typing import Any

from ..compat import keras as keras_compat

#: A ``.part`` file untouched for this many seconds belongs to no write in progress.
STALE_PART_S = 3600.0


def serialise(model: Any) -> bytes:
    """The ``.keras`` file of ``model``, in memory; raises what Keras raises."""
    return keras_compat.model_bytes(model)


def reason(exc: BaseException, limit: int = 240) -> str:
    """One line saying what ``exc`` is about (Keras messages start with blank lines)."""
    text = " ".join(str(exc).split())
    if not text:
        return type(exc).__name__
    for end in (". ", "; "):  # the first sentence is the reason; the rest is a tutorial
        if end in text[:limit]:
            text = text[: text.index(end, 0, limit) + 1]
            break
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of what ``exc`` says, cut at ``limit`` characters, or its type's name when
    it says nothing: where the whole line matters (a parser's position, a path), not only the
    first sentence of :func:`reason`."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__


def write_atomic(path: str, blob: bytes) -> None:
    """Write ``blob`` to ``path`` through a fsynced ``.part`` file renamed into place.

    On any error the target is untouched and the ``.part`` file is removed.
    """
    folder, base = os.path.split(os.path.abspath(path))
    fd, part = tempfile.mkstemp(prefix=f".{base}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(part, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(part)
        raise
    sync_folder(folder)


def sync_folder(folder: str) -> None:
    """fsync a folder, so a rename in it survives an OS crash (where the OS allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def clean_parts(folder: str, prefix: str = "", older_than: float = STALE_PART_S) -> int:
    """Remove the ``.part`` files (of targets named ``prefix...``) in ``folder`` untouched for
    ``older_than`` seconds; returns how many."""
    removed = 0
    now = time.time()
    where = glob.escape(folder)
    for pattern in (f"{glob.escape(prefix)}*.part", f".{glob.escape(prefix)}*.part"):
        for part in glob.glob(os.path.join(where, pattern)):
            with contextlib.suppress(OSError):
                if now - os.path.getmtime(part) > older_than:
                    os.unlink(part)
                    removed += 1
    return removed


def inside(path: str, folder: str) -> bool:
    """Whether ``path``, links resolved, is a file directly inside ``folder``."""
    return os.path.dirname(os.path.realpath(path)) == os.path.realpath(folder)
