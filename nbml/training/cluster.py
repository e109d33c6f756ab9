"""A sweep's Dask cluster (docs/sweeps-at-scale.md#a-cluster): ``--workers N`` starts a local
one (``distributed.LocalCluster``: N worker processes of one thread each, no dashboard), closed
when the sweep ends; ``--cluster ADDRESS`` joins a running scheduler (``tcp://host:8786``).

The notebook's side is a :class:`Pool` (the client, the slots to fill, the events the workers
read: no new trials, stop the running ones). On a worker, :func:`on_worker` runs first: it gives the worker the
notebook's Keras backend (before Keras is imported there) and float settings and no run store
of its own, then unpickles and calls what the sweep shipped.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any

from ..core.errors import NbmlError
from ..core.files import first_line

#: Seconds to reach a scheduler given by ``--cluster`` before saying it is unreachable.
CONNECT_TIMEOUT_S = 10
_INSTALL = "pip install 'nbml[dask]' (distributed and cloudpickle)"
#: Dask settings of a local cluster's workers: no statistical profiler (it samples the running
#: trial's stack every 10 ms, holding Python's lock, for a dashboard this cluster does not
#: start), and the event loop's own upkeep at the pace a trial needs, not a dashboard's: the
#: blocked-loop check every 1 s (not 20 ms), the system monitor every 5 s (not 0.5 s), the
#: memory check every 1 s (not 0.1 s). Measured on an idle worker with Keras loaded: 0.4 s of
#: CPU in 20 s with Dask's defaults, 0.12 s with these (each worker shares its core with a
#: trial).
WORKER_CONFIG = {
    "distributed": {
        "worker": {"profile": {"enabled": False}, "memory": {"monitor-interval": "1s"}},
        "admin": {"tick": {"interval": "1s"}, "system-monitor": {"interval": "5s"}},
    }
}


def workers_count(value: Any) -> int:
    """``--workers N`` (N >= 1) or ``auto`` (the machine's cores)."""
    if value == "auto":
        return max(os.cpu_count() or 1, 1)
    try:
        n = int(value)
        ok = not isinstance(value, bool) and float(value) == n and n >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise NbmlError(
            f"--workers takes a number of worker processes (2) or auto (one per core), not "
            f"{value!r}."
        )
    return n


def _distributed() -> Any:
    try:
        import cloudpickle  # noqa: F401
        import distributed
    except ImportError as exc:
        raise NbmlError(f"--workers and --cluster need Dask: {exc}. {_INSTALL}.") from None
    return distributed


@dataclass
class Pool:
    """The sweep's Dask client; ``cluster`` is the local cluster it started (or None)."""

    client: Any
    cluster: Any
    where: str

    @property
    def remote(self) -> bool:
        return self.cluster is None

    def workers(self) -> dict[str, int]:
        """The workers the scheduler knows now: address -> threads."""
        # asked of the scheduler itself: the client's scheduler_info() is a cache its own
        # periodic refresh may empty of workers at any moment
        return dict(self.client.run_on_scheduler(_threads))

    def set_event(self, name: str) -> None:
        """Set the Dask event ``name`` (the workers read it: :func:`stop_asked`)."""
        import distributed

        distributed.Event(name, client=self.client).set()

    def close(self) -> None:
        """Let go of the client; close the local cluster this sweep started."""
        for part in (self.client, self.cluster):
            if part is not None:
                try:
                    part.close()
                except Exception as exc:  # closing never hides the sweep's own outcome
                    logging.getLogger("nbml").debug("closing %s: %s", part, exc)


def _threads(dask_scheduler: Any = None) -> list[tuple[str, int]]:
    """On the scheduler: each worker's address and threads."""
    return [(a, int(w.nthreads)) for a, w in dask_scheduler.workers.items()]


def start(workers: int | None, address: str | None, env: dict[str, str]) -> Pool:
    """A local cluster of ``workers`` processes (``env`` added to theirs), or a client of the
    scheduler at ``address``."""
    distributed = _distributed()
    if address is not None:
        if not isinstance(address, str) or not address.strip():
            raise NbmlError(f"--cluster takes a Dask scheduler's address (tcp://host:8786), not "
                            f"{address!r}.")  # fmt: skip
        try:
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except Exception as exc:
            raise NbmlError(
                f"Cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT_S} s "
                f"({first_line(exc, 160)}). Start one there (dask scheduler; dask worker "
                f"{address} --nthreads 1 on each host), or use --workers N for a local one."
            ) from None
        return Pool(client, None, f"the Dask scheduler {address}")
    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=logging.ERROR, env=env, preload=[__name__], config=_worker_config(),
    )  # fmt: skip
    try:
        client = distributed.Client(cluster, set_as_default=False)
    except BaseException:
        cluster.close()
        raise
    return Pool(client, cluster, f"a local Dask cluster of {workers} worker(s)")


def _worker_config() -> dict[str, Any]:
    """This process's Dask settings with :data:`WORKER_CONFIG` over them (a worker takes the
    settings it is given whole)."""
    import dask

    return dask.config.merge(dask.config.config, WORKER_CONFIG)


#: Set when a local cluster's worker has closed (:func:`dask_teardown`).
_CLOSED = threading.Event()


def dask_setup(worker: Any = None) -> None:
    """A local cluster's worker process, as it starts (Dask's preload): out of the notebook's
    process group, so that interrupting the notebook (Jupyter signals the kernel's whole group)
    leaves the workers and their running trials alone; at its exit, :func:`_exit_closed`."""
    with contextlib.suppress(OSError):
        os.setpgrp()
    atexit.register(_exit_closed)


def dask_teardown(worker: Any = None) -> None:
    """A local cluster's worker closes (Dask's preload): its process may end without Python's
    teardown of its modules."""
    _CLOSED.set()


def _exit_closed() -> None:
    """At the exit of a local cluster's worker process whose worker has closed (its trials
    told to the study and sent to the notebook), after the exit work of what the process
    imported as a worker (Keras, JAX, Optuna): flush the output and logs and end the process,
    without Python's teardown of the modules it loaded. With Keras loaded that teardown takes
    about 0.5 s of CPU, on the cores the notebook uses to bind the best model, and the sweep
    ends only once its cluster is closed: closing took 1.3 s, now 0.3 s
    (benchmarks/sweep_workers.py). A process that exits otherwise (its worker never closed)
    ends as Python ends it."""
    if not _CLOSED.is_set():
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    logging.shutdown()
    os._exit(0)


def settings() -> dict[str, str]:
    """The notebook's Keras settings the workers take: backend, floatx, dtype policy."""
    import keras

    return {
        "backend": keras.backend.backend(),
        "floatx": keras.config.floatx(),
        "policy": keras.config.dtype_policy().name,
    }


def on_worker(setup: dict[str, str], blob: bytes, *args: Any) -> Any:
    """On a Dask worker: the notebook's Keras settings and no run store of the worker's own
    (the notebook records every trial), then call the function pickled in ``blob``."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = setup["backend"]
    os.environ["NBML_STORE_PATH"] = ""
    import cloudpickle
    import keras

    if keras.backend.backend() != setup["backend"]:
        raise NbmlError(
            f"The Dask worker runs Keras on {keras.backend.backend()}, the notebook on "
            f"{setup['backend']}: start the workers with KERAS_BACKEND={setup['backend']}."
        )
    keras.config.set_floatx(setup["floatx"])
    keras.config.set_dtype_policy(setup["policy"])
    return cloudpickle.loads(blob)(*args)


def worker_address() -> str | None:
    """The address of the Dask worker running this code (None outside one)."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return None


def stop_asked(name: str) -> bool:
    """On a worker: whether the notebook asked the running trials to stop."""
    try:
        from distributed import Event, get_client

        return bool(Event(name, client=get_client()).is_set())
    except Exception:  # no scheduler to ask: go on
        return False
