"""Several processes in one ``--distribute data`` job, on JAX's distributed runtime.

The processes are joined before nbml sees them (``keras.distribution.initialize()``, which calls
``jax.distributed.initialize``; ``python -m nbml.launch`` starts them on one machine). nbml's
part, all through JAX's public multi-host utilities (``jax.experimental.multihost_utils``):

- :func:`gather`: an array of every process, joined in process order (rows may differ);
- :func:`fewest`: the smallest of a number over the processes (equal steps per epoch);
- :func:`broadcast`: process 0's weights in every process (the same start everywhere);
- :func:`watch`: a collective that fails (a process died) or stalls past the timeout ends this
  process with one line naming it and the coordinator, not a hang (docs/multihost.md).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

#: Seconds a collective may wait for the other processes (``python -m nbml.launch --timeout``).
TIMEOUT_ENV = "NBML_DISTRIBUTED_TIMEOUT"
DEFAULT_TIMEOUT = 300.0
#: Where the coordinator's address is, when nbml.launch or the user set it.
_ADDRESS_ENVS = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "JAX_COORDINATOR_ADDRESS")
#: What JAX's errors say when another process is gone (its collectives, its coordination).
_LOST = (
    "Gloo", "Connection closed", "Connection reset", "UNAVAILABLE", "DEADLINE_EXCEEDED",
    "heartbeat", "coordination service",
)  # fmt: skip


def info() -> tuple[int, int]:
    """``(this process's index, the number of processes)`` of the job (1 process: ``(0, 1)``).
    Asks JAX only where it is loaded: an unjoined or non-JAX kernel is one process."""
    if "jax" not in sys.modules:
        return 0, 1
    import jax

    return int(jax.process_index()), int(jax.process_count())


def several() -> bool:
    """Whether this process is one of several in a joined job."""
    return info()[1] > 1


def spans_processes(model: Any) -> bool:
    """Whether ``model``'s variables live on devices of several processes (JAX arrays that this
    process cannot address alone: trained with ``--distribute data`` over the job)."""
    weights = getattr(model, "weights", None)
    if not weights or "jax" not in sys.modules:
        return False
    value = getattr(weights[0], "value", None)
    return getattr(value, "is_fully_addressable", True) is False


def timeout() -> float:
    """The seconds a process waits for the others (``NBML_DISTRIBUTED_TIMEOUT``, default 300)."""
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        return float(raw) if raw.strip() else DEFAULT_TIMEOUT
    except ValueError:
        return DEFAULT_TIMEOUT


def coordinator() -> str:
    """The coordinator's address as this process was given it, for messages."""
    for env in _ADDRESS_ENVS:
        value = os.environ.get(env, "").strip()
        if value:
            return value.split(",")[0]
    return "found by JAX from the cluster's environment"


def others() -> str:
    """The other processes, in words: ``process 1`` or ``one of processes 1, 2, 3``."""
    me, count = info()
    rest = [str(i) for i in range(count) if i != me]
    return f"process {rest[0]}" if len(rest) == 1 else f"one of processes {', '.join(rest)}"


def _multihost() -> Any:
    from jax.experimental import multihost_utils

    return multihost_utils


def fewest(n: int) -> int:
    """The smallest ``n`` over every process."""
    counts = _multihost().process_allgather(np.array([n], dtype=np.int32))
    return int(np.min(counts))


def gather(a: Any) -> np.ndarray:
    """``a``'s rows from every process, process 0's first (each may hold a different number of
    rows, of the same shape and dtype). Sent as bytes, so no value changes on the way (JAX
    would turn float64 into float32)."""
    a = np.ascontiguousarray(a)
    rows = np.asarray(a.reshape(len(a), -1).view(np.uint8)) if a.size else np.zeros((len(a), 0))
    width = a.dtype.itemsize * int(np.prod(a.shape[1:], dtype=np.int64))
    rows = rows.reshape(len(a), width).astype(np.uint8, copy=False)
    mh = _multihost()
    counts = mh.process_allgather(np.array([len(a)], dtype=np.int32)).reshape(-1)
    padded = np.zeros((int(counts.max()), width), dtype=np.uint8)
    padded[: len(a)] = rows
    every = np.asarray(mh.process_allgather(padded))
    joined = np.concatenate([every[i, : int(c)] for i, c in enumerate(counts)])
    return joined.view(a.dtype).reshape((len(joined), *a.shape[1:]))


def broadcast(arrays: list[Any]) -> list[np.ndarray]:
    """Process 0's ``arrays`` in every process (each keeps its dtype)."""
    sent = _multihost().broadcast_one_to_all([np.asarray(a) for a in arrays])
    return [np.asarray(s).astype(np.asarray(a).dtype) for s, a in zip(sent, arrays, strict=True)]


def _fail(what: str, why: str) -> None:
    """End this process with one line: JAX's runtime cannot go on once a process is lost (it
    would abort later, with pages of log)."""
    me, count = info()
    print(
        f"nbml: process {me} of {count} stopped {what}: {others()} {why} (coordinator "
        f"{coordinator()}; the wait is set by {TIMEOUT_ENV} or python -m nbml.launch --timeout).",
        file=sys.stderr,
        flush=True,
    )
    sys.stdout.flush()
    os._exit(1)


@contextlib.contextmanager
def watch(what: str, progress: Callable[[], Any] | None = None) -> Iterator[None]:
    """Run a block of collectives over the processes: if it raises (a process left: its
    connection closed), or makes no ``progress()`` for :func:`timeout` seconds (a process stalls
    or never came), this process ends with one line naming the other process and the
    coordinator. One process: the block runs as it is."""
    if not several():
        yield
        return
    limit, done = timeout(), threading.Event()
    probe = progress or (lambda: None)

    def guard() -> None:
        seen, since = probe(), time.monotonic()
        while not done.wait(min(1.0, limit / 10)):
            now, state = time.monotonic(), probe()
            if state != seen:
                seen, since = state, now
            elif now - since > limit:
                _fail(what, f"did not answer for {limit:g} s")

    threading.Thread(target=guard, name="nbml-processes", daemon=True).start()
    try:
        yield
    except Exception as exc:
        text = str(exc)
        if not any(sign in text for sign in _LOST):
            raise  # this process's own error: the others stop at their timeout
        first = text.strip().splitlines()[0][:160] if text.strip() else type(exc).__name__
        _fail(what, f"left the job ({first})")
    finally:
        done.set()
