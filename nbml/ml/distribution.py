"""``--distribute data``: Keras's own ``DataParallel`` over the backend's devices.

nbml drives ``keras.distribution`` rather than inventing its own: the model's variables are
(re)created under the distribution's scope, replicated on a 1-D device mesh, and each batch is
split across the devices. Several processes (hosts) are joined first with
``keras.distribution.initialize()``; then each process feeds its own shard of every global batch
(docs/multihost.md), and :mod:`.processes` does what crosses them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..compat import keras as keras_compat
from ..core.errors import NbmlError, did_you_mean
from . import processes

MODES = ("none", "data")
#: Whether this process said that Keras's auto-sharding is off (said once).
_SAID: list[bool] = []


def plan(mode: str | None, devices: str | list[str] | None, batch_size: int) -> Any:
    """The ``keras.distribution.DataParallel`` for these options, or None."""
    if mode in (None, "none"):
        if devices:
            raise NbmlError("--devices chooses devices for --distribute data; add that option.")
        return None
    if mode not in MODES:
        raise NbmlError(
            f"--distribute must be none or data, not '{mode}'.{did_you_mean(mode, MODES)}"
        )
    import keras

    backend = keras.backend.backend()
    if backend != "jax":
        raise NbmlError(
            f"--distribute data uses keras.distribution, which this Keras supports on the JAX "
            f"backend only (this kernel runs {backend}). Set KERAS_BACKEND=jax before importing "
            "Keras (restart the kernel), or train without --distribute."
        )
    available = keras.distribution.list_devices()
    if devices:
        wanted = devices.split(",") if isinstance(devices, str) else list(devices)
        wanted = [d.strip().lower() for d in wanted if d.strip()]
        unknown = [d for d in wanted if d not in available]
        if unknown:
            raise NbmlError(
                f"Unknown device {unknown[0]!r}.{did_you_mean(unknown[0], available)} This kernel "
                f"sees: {', '.join(available)}."
            )
        chosen = wanted
    else:
        chosen = available
    if batch_size % len(chosen):
        n = len(chosen)
        raise NbmlError(
            f"--batch-size {batch_size} does not split evenly over {n} devices; use a multiple "
            f"of {n}, e.g. --batch-size {max(n, batch_size // n * n)}."
        )
    dist = keras.distribution.DataParallel(devices=chosen)
    if processes.several():
        _shard_locally(dist)
    return dist


def _shard_locally(dist: Any) -> None:
    """Several processes: each feeds its own rows (Keras can auto-shard only a tf.data
    Dataset, not the arrays nbml passes); said once."""
    dist.auto_shard_dataset = False
    if not _SAID:
        _SAID.append(True)
        me, count = processes.info()
        print(
            f"nbml: process {me} of {count}: --distribute data over {count} processes; each "
            "process trains on its own shard of the data (Keras's auto-sharding is off for "
            "in-memory arrays) and --batch-size is the global batch."
        )


def job_size(dist: Any) -> int:
    """How many processes ``dist`` spans (1 without one)."""
    return processes.info()[1] if dist is not None else 1


def job_run_id(run_id: str, dist: Any) -> str:
    """Process 0's run id in every process of the job (one run, one id), else ``run_id``."""
    if job_size(dist) == 1:
        return run_id
    import numpy as np

    raw = np.frombuffer(run_id.encode("ascii").ljust(32), dtype=np.uint8)
    with processes.watch("starting the run"):
        (sent,) = processes.broadcast([raw])
    return bytes(sent.astype(np.uint8)).decode("ascii").strip()


def local_batch(batch_size: int, dist: Any) -> int:
    """The rows of a global batch that this process feeds."""
    return batch_size // job_size(dist)


def describe(dist: Any) -> str:
    """The device mesh in a few words, e.g. ``cpu:0,cpu:1 (data parallel)``."""
    if dist is None:
        return ""
    names = [str(d).lower().replace("_", ":") for d in dist.device_mesh.devices.ravel()]
    count = job_size(dist)
    over = f" over {count} processes" if count > 1 else ""
    return f"{','.join(_short(n) for n in names)} (data parallel{over})"


def _short(name: str) -> str:
    # jax prints CpuDevice(id=0); keras lists "cpu:0"
    if "(id=" in name:
        kind = name.split("device")[0] or "cpu"
        return f"{kind}:{name.split('id=')[1].rstrip(')')}"
    return name


@contextlib.contextmanager
def scope(dist: Any) -> Iterator[None]:
    """The distribution's scope, or nothing."""
    if dist is None:
        yield
        return
    with dist.scope():
        yield


def replicate(model: Any, dist: Any) -> Any:
    """A copy of ``model`` whose variables live on ``dist``'s mesh, with the same weights."""

    weights = model.get_weights()
    if job_size(dist) > 1:  # every process starts from process 0's weights
        with processes.watch("starting to train"):
            weights = processes.broadcast(weights)
    with dist.scope():
        copy = keras_compat.clone_model(model)
        copy.set_weights(weights)
    return copy


def even(x: Any, y: Any, dist: Any) -> tuple[Any, Any]:
    """``x`` and ``y`` without the few last rows that would leave an uneven last batch; over
    several processes, as many rows in each as in the smallest (the same steps everywhere)."""
    count = job_size(dist)
    n = int(dist.device_mesh.devices.size) // count  # this process's devices
    rows = len(x)
    if count > 1:
        with processes.watch("counting rows"):
            rows = processes.fewest(rows)
    keep = rows - rows % n
    return (x, y) if keep == len(x) else (x[:keep], y[:keep])


def shard(dataset: Any, dist: Any, named: bool) -> Any:
    """This process's part of ``dataset`` over several processes: a named dataset (loaded
    whole, split the same way, in every process) gives each process every ``count``-th row of
    each part; in-memory data is each process's own shard already."""
    count = job_size(dist)
    if count == 1 or not named or dataset.is_stream:
        return dataset
    import dataclasses

    me = processes.info()[0]
    parts = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
    cut = {k: getattr(dataset, k)[me::count] for k in parts if getattr(dataset, k) is not None}
    return dataclasses.replace(dataset, **cut)


def local(model: Any) -> Any:
    """``model``, or, for a model whose variables span several processes, a copy on this
    process's devices with the same weights (to predict this process's own rows)."""
    if not processes.spans_processes(model):
        return model

    copy = keras_compat.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy
