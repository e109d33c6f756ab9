"""Presence files: how a kernel with nbml loaded tells the Jupyter server what it trains.

A kernel reports a small snapshot of its models to ``<connection dir>/nbml/<kernel id>.json``
(replaced atomically) and takes stop requests from ``<kernel id>.stop-<token>.json`` files in
the same folder. The connection dir is the folder of the kernel's connection file
(``kernel-<kernel id>.json``), which is the server's runtime dir: kernel and server agree on
it without any configuration. The kernel side is :mod:`nbml.views.presence`, the server side
:mod:`nbml.server`; both use only this module (no Keras, no IPython). ``docs/notebook7.md``
describes the flow.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import secrets
import time
from typing import Any

from .files import write_atomic

FOLDER = "nbml"
VERSION = 1
#: The most bytes a stop request file may hold (anything larger is ignored).
MAX_REQUEST_BYTES = 1024
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_CONNECTION_FILE = re.compile(r"^kernel-(.+)\.json$")


def valid_id(kernel_id: str) -> bool:
    """Whether ``kernel_id`` may name a file here (no path separators, no dots first)."""
    return isinstance(kernel_id, str) and bool(_ID.match(kernel_id))


def kernel_id(connection_file: str) -> str | None:
    """The kernel id in a connection file's name (``kernel-<id>.json``), or None."""
    match = _CONNECTION_FILE.match(os.path.basename(connection_file))
    if match is None or not valid_id(match.group(1)):
        return None
    return match.group(1)


def folder(connection_dir: str) -> str:
    """Where the presence files of the kernels whose connection files lie in ``connection_dir``
    go."""
    return os.path.join(connection_dir, FOLDER)


def snapshot_path(connection_dir: str, kernel: str) -> str:
    return os.path.join(folder(connection_dir), f"{kernel}.json")


def write_snapshot(connection_dir: str, kernel: str, snapshot: dict[str, Any]) -> None:
    """Replace the kernel's snapshot (strict JSON, written to a temporary file and renamed)."""
    os.makedirs(folder(connection_dir), exist_ok=True)
    blob = json.dumps(snapshot, allow_nan=False, separators=(",", ":")).encode()
    write_atomic(snapshot_path(connection_dir, kernel), blob)


def remove_snapshot(connection_dir: str, kernel: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(snapshot_path(connection_dir, kernel))


def read_snapshot(connection_dir: str, kernel: str) -> dict[str, Any] | None:
    """The kernel's snapshot, or None when there is none, it is not one, or its process is
    gone (a killed kernel leaves its file behind: it is removed here)."""
    path = snapshot_path(connection_dir, kernel)
    try:
        with open(path, "rb") as f:
            snapshot = json.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(snapshot, dict) or snapshot.get("version") != VERSION:
        return None
    pid = snapshot.get("pid")
    if isinstance(pid, int) and not pid_alive(pid):
        with contextlib.suppress(OSError):
            os.unlink(path)
        return None
    return snapshot


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (the run store's liveness check,
    :mod:`nbml.store.liveness`, starts with it too)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    except OSError:
        return False
    return True


def request_stop(connection_dir: str, kernel: str, model: str) -> str:
    """Ask the kernel to stop ``model``; returns the request's token (its answer comes back in
    the snapshot's ``answers``)."""
    token = secrets.token_hex(6)
    request = {"version": VERSION, "type": "stop", "model": model, "time": time.time()}
    os.makedirs(folder(connection_dir), exist_ok=True)
    path = os.path.join(folder(connection_dir), f"{kernel}.stop-{token}.json")
    write_atomic(path, json.dumps(request).encode())
    return token


def take_requests(connection_dir: str, kernel: str) -> list[tuple[str, dict[str, Any] | None]]:
    """The kernel's pending requests as ``(token, request)``, oldest first, each file removed;
    ``request`` is None for a file that is no valid request."""
    where = glob.escape(folder(connection_dir))
    paths = glob.glob(os.path.join(where, f"{glob.escape(kernel)}.stop-*.json"))
    taken = []
    for path in sorted(paths, key=_mtime):
        token = os.path.basename(path)[len(kernel) + len(".stop-") : -len(".json")]
        try:
            with open(path, "rb") as f:
                blob = f.read(MAX_REQUEST_BYTES + 1)
            os.unlink(path)
        except OSError:  # taken meanwhile
            continue
        taken.append((token, _request(blob)))
    return taken


def _request(blob: bytes) -> dict[str, Any] | None:
    if len(blob) > MAX_REQUEST_BYTES:
        return None
    try:
        request = json.loads(blob)
    except ValueError:
        return None
    if not isinstance(request, dict) or request.get("type") != "stop":
        return None
    model = request.get("model")
    if not isinstance(model, str) or not 0 < len(model) <= 200:
        return None
    return request


def _mtime(path: str) -> float:
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0
