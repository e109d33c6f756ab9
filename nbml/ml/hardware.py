"""The devices the Keras backend sees, and the host's CPUs and memory (``nbml.devices()``)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class Device:
    """One compute device: ``kind`` (cpu, gpu, tpu), ``id``, ``memory`` in bytes or None."""

    kind: str
    id: int
    memory: int | None = None
    name: str = ""
    backend: str = ""
    #: Bytes in use, where the backend reports it (accelerators).
    memory_used: int | None = None


@dataclass
class Host:
    """The machine the kernel runs on."""

    cpus: int
    memory: int | None


def host() -> Host:
    """CPU count and total memory of this machine."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on this platform
        memory = None
    return Host(os.cpu_count() or 1, memory)


def devices() -> list[Device]:
    """The devices the active Keras backend can compute on."""
    import keras

    name = keras.backend.backend()
    if name == "jax":
        return _jax()
    if name == "tensorflow":
        return _tensorflow()
    if name == "torch":
        return _torch()
    return [Device("cpu", 0, host().memory, "cpu", name)]


def _jax() -> list[Device]:
    import jax

    out = []
    for d in jax.devices():
        memory = used = None
        try:
            stats = d.memory_stats() or {}
            memory, used = stats.get("bytes_limit"), stats.get("bytes_in_use")
        except Exception:  # CPU devices have no memory stats
            pass
        kind = d.platform.lower()
        if kind == "cpu":
            memory = memory or host().memory
        name = str(getattr(d, "device_kind", kind))
        out.append(Device(kind, int(d.id), memory, name, "jax", used))
    return out


def _tensorflow() -> list[Device]:
    import tensorflow as tf

    out = []
    for i, d in enumerate(tf.config.list_logical_devices()):
        kind = d.device_type.lower()
        memory = host().memory if kind == "cpu" else None
        used = None
        if kind == "gpu":
            try:
                used = tf.config.experimental.get_memory_info(d.name).get("current")
            except Exception:  # older TensorFlow
                used = None
        out.append(Device(kind, i, memory, d.name, "tensorflow", used))
    return out


def _torch() -> list[Device]:
    import torch

    out = [Device("cpu", 0, host().memory, "cpu", "torch")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            used = int(torch.cuda.memory_allocated(i))
            out.append(Device("gpu", i, int(props.total_memory), props.name, "torch", used))
    return out


def describe(model: object | None = None) -> str:
    """A short label of where training runs, e.g. ``cpu:0`` or ``gpu:0 (+1)``."""
    ds = devices()
    accel = [d for d in ds if d.kind != "cpu"] or ds
    extra = f" (+{len(accel) - 1})" if len(accel) > 1 else ""
    return f"{accel[0].kind}:{accel[0].id}{extra}"
