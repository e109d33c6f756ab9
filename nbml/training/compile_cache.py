"""Compiled training steps kept on disk: JAX's persistent compilation cache, switched on by nbml.

A small model's ``%%train`` on a CPU spends most of its first seconds in XLA compiling the
train and test steps (measured: 1.25 s of a 1.8 s two-epoch run of a 64-32-10 MLP). The
notebook workflow re-runs the same cell, rebuilds the same architecture and restarts kernels:
every time, the same programs are compiled again. With JAX's persistent cache, an identical
program (same model, shapes, optimizer, loss, metrics, JAX version and CPU) is loaded from disk
instead, with the same arithmetic.

nbml switches the cache on the first time it trains on JAX, unless the user has chosen a cache
folder already (``jax_compilation_cache_dir``): then theirs is used as they set it. The folder
is ``$NBML_COMPILE_CACHE``, else ``$XDG_CACHE_HOME/nbml/jax`` (``~/.cache/nbml/jax``); setting
``NBML_COMPILE_CACHE=off`` (or ``0``) leaves JAX as it is. The cache is capped at
:data:`MAX_BYTES` (JAX evicts the least recently used programs). JAX's cache is process-wide:
once on, the kernel's other JAX code reads it too (identical programs only).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading

log = logging.getLogger("nbml")

#: The most disk the cache may take (JAX evicts least recently used programs beyond it).
MAX_BYTES = 1 << 30
#: Programs that compile faster than this are not worth a file.
MIN_COMPILE_S = 0.2

_OFF = {"0", "off", "false", "no", "none", ""}
_lock = threading.Lock()
_state: dict[str, str | None] = {}  # "path": the folder in use (None: off), once decided


def folder() -> str | None:
    """Where nbml keeps compiled programs, or None when ``NBML_COMPILE_CACHE`` turns it off."""
    chosen = os.environ.get("NBML_COMPILE_CACHE")
    if chosen is not None:
        return None if chosen.strip().lower() in _OFF else os.path.expanduser(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "nbml", "jax")


def enable() -> str | None:
    """Switch JAX's persistent compilation cache on (decided once per process); returns the
    folder in use, or None when it stays off (turned off, not JAX, or no folder to be had)."""
    with _lock:
        if "path" not in _state:
            _state["path"] = _switch_on()
        return _state["path"]


def _switch_on() -> str | None:
    import keras

    if keras.backend.backend() != "jax":
        return None
    import jax

    if jax.config.jax_compilation_cache_dir:  # the user's own choice stands
        return jax.config.jax_compilation_cache_dir
    path = folder()
    if path is None:
        return None
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        log.warning("nbml: no compile cache at %s (%s); training compiles as usual", path, exc)
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    if jax.config.jax_persistent_cache_min_compile_time_secs == 1.0:  # JAX's default
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_S)
    # JAX's default is unbounded; its LRU eviction needs filelock (a dependency of nbml): without
    # it, JAX would fail to read every entry, so the cap is set only where filelock imports
    if jax.config.jax_compilation_cache_max_size == -1 and importlib.util.find_spec("filelock"):
        jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    return path
