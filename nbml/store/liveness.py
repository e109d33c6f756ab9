"""Telling a running run from one whose kernel died.

Each run row records the host (hostname and boot id), the pid and the process start time of
the kernel that trains it, and a heartbeat (written at every epoch and every
:data:`HEARTBEAT_S` seconds). A ``running`` row reads as ``interrupted`` when, on this host,
its process is gone (or is a zombie, or the pid now belongs to a newer process); on another
host, when its heartbeat is older than :data:`STALE_S`. A reboot changes the boot id, so rows
from before it fall under the heartbeat rule.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from ..core.presence import pid_alive

#: Seconds between two heartbeats of a running run.
HEARTBEAT_S = 30.0
#: A running row from another host whose heartbeat is older than this reads as interrupted.
STALE_S = 3 * HEARTBEAT_S


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()[:8]
    except OSError:
        return ""


def process(pid: int) -> tuple[str, str] | None:
    """(state, start time) of process ``pid`` from ``/proc``, or None where unavailable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0].decode(), fields[19].decode()  # stat fields 3 (state) and 22 (starttime)


HOST = f"{socket.gethostname()}/{_boot_id()}"
PID = os.getpid()
PID_START = (process(PID) or (None, None))[1]


def alive(pid: int | None, start: str | None) -> bool:
    """Whether process ``pid`` on this host, started at ``start``, still runs."""
    if not pid or not pid_alive(pid):
        return False
    info = process(pid)
    if info is None:
        return True  # no /proc: the pid exists, which is all we can tell
    state, now = info
    return state not in ("Z", "X") and (start is None or now == start)


def status(row: dict[str, Any], now: float) -> str:
    """The status a run row reads as: its own, or ``interrupted`` for a dead ``running`` one."""
    if row["status"] != "running":
        return row["status"]
    if row["host"] == HOST:
        ok = alive(row["pid"], row["pid_start"])
    else:
        ok = now - (row["heartbeat"] or row["started"]) < STALE_S
    return "running" if ok else "interrupted"


def interrupted_message(epochs: int) -> str:
    return (
        "The kernel that ran this training stopped (killed, crashed or shut down) after "
        f"{epochs} committed epoch(s); those epochs are kept, the model was not saved."
    )
