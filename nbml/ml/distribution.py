"""``--distribute data``: Keras's own ``DataParallel`` over the backend's devices.

nbml drives ``keras.distribution`` rather than inventing its own: the model's variables are
(re)created under the distribution's scope, replicated on a 1-D device mesh, and each batch is
split across the devices. Multi-host training uses ``keras.distribution.initialize(...)`` first
(see the README).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..core.errors import NbmlError, did_you_mean

MODES = ("none", "data")


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
    return keras.distribution.DataParallel(devices=chosen)


def describe(dist: Any) -> str:
    """The device mesh in a few words, e.g. ``cpu:0,cpu:1 (data parallel)``."""
    if dist is None:
        return ""
    names = [str(d).lower().replace("_", ":") for d in dist.device_mesh.devices.ravel()]
    return f"{','.join(_short(n) for n in names)} (data parallel)"


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
    import keras

    with dist.scope():
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
    return copy


def even(x: Any, y: Any, dist: Any) -> tuple[Any, Any]:
    """``x`` and ``y`` without the few last rows that would leave an uneven last batch."""
    n = int(dist.device_mesh.devices.size)
    keep = len(x) - len(x) % n
    return (x, y) if keep == len(x) else (x[:keep], y[:keep])
