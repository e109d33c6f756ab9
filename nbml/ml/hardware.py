"""The devices the Keras backend sees (with their memory in use and peak where the backend
reports it), the host's CPUs and memory (``nbml.devices()``), and the kernel process's
resident memory."""

from __future__ import annotations

import os
import sys
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
    #: The most bytes in use so far, where the backend reports it (accelerators).
    memory_peak: int | None = None


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


@dataclass
class Process:
    """This process (the kernel): its resident memory now and at its peak, in bytes (None
    where the platform does not say)."""

    pid: int
    rss: int | None
    rss_peak: int | None


def process() -> Process:
    """The kernel's resident memory: ``/proc/self/status`` (VmRSS, VmHWM) on Linux, else
    psutil when it is installed (nbml does not depend on it) and ``getrusage``'s peak."""
    rss = peak = None
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        rss, peak = (_kib(fields.get(k)) for k in ("VmRSS", "VmHWM"))
    except OSError:  # not Linux
        pass
    if rss is None:
        try:
            import psutil

            rss = int(psutil.Process().memory_info().rss)
        except Exception:  # not installed, or not allowed
            rss = None
    if peak is None:
        try:
            import resource

            most = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            peak = int(most) * (1 if sys.platform == "darwin" else 1024)  # bytes on macOS
        except (ImportError, OSError, ValueError):  # Windows
            peak = None
    return Process(os.getpid(), rss, peak)


def _kib(text: str | None) -> int | None:
    """``"  1234 kB"`` as bytes."""
    parts = (text or "").split()
    if len(parts) != 2 or parts[1] != "kB" or not parts[0].isdigit():
        return None
    return int(parts[0]) * 1024


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
        memory = used = peak = None
        try:
            stats = d.memory_stats() or {}  # None on CPU
            memory, used = stats.get("bytes_limit"), stats.get("bytes_in_use")
            peak = stats.get("peak_bytes_in_use")
        except Exception:  # a platform without memory stats
            pass
        kind = d.platform.lower()
        if kind == "cpu":
            memory = memory or host().memory
        name = str(getattr(d, "device_kind", kind))
        out.append(Device(kind, int(d.id), memory, name, "jax", used, peak))
    return out


def _tensorflow() -> list[Device]:
    import tensorflow as tf

    out = []
    for i, d in enumerate(tf.config.list_logical_devices()):
        kind = d.device_type.lower()
        memory = host().memory if kind == "cpu" else None
        used = peak = None
        if kind == "gpu":
            try:
                info = tf.config.experimental.get_memory_info(d.name)
                used, peak = info.get("current"), info.get("peak")
            except Exception:  # older TensorFlow
                used = peak = None
        out.append(Device(kind, i, memory, d.name, "tensorflow", used, peak))
    return out


def _torch() -> list[Device]:
    import torch

    out = [Device("cpu", 0, host().memory, "cpu", "torch")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            used, peak = (
                int(torch.cuda.memory_allocated(i)),
                int(torch.cuda.max_memory_allocated(i)),
            )
            out.append(Device("gpu", i, int(props.total_memory), props.name, "torch", used, peak))
    return out


def describe(model: object | None = None) -> str:
    """A short label of where training runs, e.g. ``cpu:0`` or ``gpu:0 (+1)``."""
    ds = devices()
    accel = [d for d in ds if d.kind != "cpu"] or ds
    extra = f" (+{len(accel) - 1})" if len(accel) > 1 else ""
    return f"{accel[0].kind}:{accel[0].id}{extra}"
