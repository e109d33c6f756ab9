"""A sweep's local Dask cluster as nbml starts it (``nbml.training.cluster.start``), without a
kernel: ``--workers`` values, the workers' threads, environment and Dask settings, and how a
closed worker's process ends. The sweeps that use it: tests/test_sweep_cluster.py."""

from __future__ import annotations

import os
import sys
import time

import pytest


def test_workers_count_reads_a_number_or_auto():
    from nbml.core.errors import NbmlError
    from nbml.training.cluster import workers_count

    assert workers_count("auto") == os.cpu_count()
    assert workers_count("2") == workers_count(2) == 2
    for bad in (0, -1, "0", 1.5, "1.5", "two", True, None):
        with pytest.raises(NbmlError, match="--workers takes a number"):
            workers_count(bad)


_PACE = ("distributed.admin.tick.interval", "distributed.admin.system-monitor.interval",
         "distributed.worker.memory.monitor-interval")  # fmt: skip


def _worker_settings() -> tuple[bool, str | None, str | None, list[str]]:
    import dask

    return (dask.config.get("distributed.worker.profile.enabled"),
            os.environ.get("KERAS_BACKEND"), os.environ.get("NBML_STORE_PATH"),
            [dask.config.get(k) for k in _PACE])  # fmt: skip


def test_a_local_cluster_has_one_thread_a_worker_and_no_profiler():
    """The workers the sweep starts: one thread each, the environment it gives them, no
    statistical profiler (it samples the running trial's stack every 10 ms for a dashboard the
    local cluster does not start) and the event loop's upkeep at a trial's pace."""
    import dask
    import distributed  # noqa: F401  (its settings' defaults)

    from nbml.training import cluster

    mine = [dask.config.get(k) for k in _PACE]
    pool = cluster.start(2, None, {"KERAS_BACKEND": "jax", "NBML_STORE_PATH": ""})
    try:
        assert sorted(pool.workers().values()) == [1, 1]
        got = pool.client.run(_worker_settings)
        assert sorted(got.values()) == [(False, "jax", "", ["1s", "5s", "1s"])] * 2, got
    finally:
        pool.close()
    # this process's settings as they were
    assert dask.config.get("distributed.worker.profile.enabled")
    assert [dask.config.get(k) for k in _PACE] == mine != ["1s", "5s", "1s"]


def _say(text: str) -> int:
    """On a worker: ``text`` in a buffer of its standard output (as where that is a file or a
    pipe, and PYTHONUNBUFFERED is not set), written only when the buffer is flushed."""
    sys.stdout = open(1, "w", buffering=1 << 16, closefd=False)  # noqa: SIM115
    print(text, end="")
    return os.getpid()


def test_closed_workers_end_at_once_with_their_output_flushed(capfd):
    """A local cluster's worker process ends without Python's module teardown once its worker
    has closed (nbml.training.cluster._exit_closed): what it printed still reaches its output,
    and it leaves no process and no Dask scratch folder behind."""
    import psutil

    from nbml.training import cluster

    pool = cluster.start(2, None, {"KERAS_BACKEND": "jax", "NBML_STORE_PATH": ""})
    try:
        folders = pool.client.run(lambda dask_worker: dask_worker.local_directory)
        pids = pool.client.run(_say, "nbml-said-this")
    finally:
        pool.close()
    deadline = time.monotonic() + 30
    while any(psutil.pid_exists(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(psutil.pid_exists(p) for p in pids.values())
    assert capfd.readouterr().out.count("nbml-said-this") == 2
    assert not any(os.path.exists(f) for f in folders.values()), folders
