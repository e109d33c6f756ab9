"""nbml: Keras training as a first-class part of Jupyter.

``%load_ext nbml`` registers the magics (``%%train``, ``%evaluate``, ``%predict``, ``%models``,
``%devices``, ``%stop``, ``%save``, ``%runs``). Every magic is a thin layer over the functions
exported here. Importing nbml imports neither Keras nor a backend, nor IPython or the views.

The backend: when ``KERAS_BACKEND`` is unset and Keras is not yet imported, importing nbml sets
it to ``jax`` (so ``import nbml`` then ``import keras`` trains on JAX), except in a Jupyter server
process (``jupyter_server.serverapp`` already imported): the server imports this package to find
its extension, and its kernels, with or without nbml, inherit its environment. A kernel never
imports the server app, so a kernel with nbml gets ``jax`` from its own ``import nbml``.

The views (:func:`nbml.views.install`: the monitor shown for each run, the formatters of an
evaluation) are installed at the first use of the API: ``%load_ext nbml``, the first of the
names below read from the package (``nbml.train``, ``nbml.LiveMonitor``, ...), importing
:mod:`nbml.api` or starting a ``LiveMonitor`` imported from its module (:mod:`nbml.core.hooks`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

#: A Jupyter server runs here (it imports nbml to find its extension points): choose no backend.
_IN_SERVER = "jupyter_server.serverapp" in sys.modules
if not _IN_SERVER and "keras" not in sys.modules and "KERAS_BACKEND" not in os.environ:
    os.environ["KERAS_BACKEND"] = "jax"

from .core import hooks as _hooks  # noqa: E402
from .core.errors import NbmlError  # noqa: E402
from .core.version import __version__  # noqa: E402, F401  (nbml.__version__)


def _install_views(shell: Any = None) -> None:
    """Subscribe the views and register their formatters (:func:`nbml.views.install`)."""
    from .views import install

    install(shell)


_hooks.on_first_use(_install_views)  # importing nbml.api installs the views (nothing here)

_LAZY = {
    "train": "api",
    "evaluate": "api",
    "predict": "api",
    "models": "api",
    "devices": "api",
    "runs": "api",
    "save": "api",
    "stop": "api",
    "load_data": "api",
    "lr_find": "api.lr_find",
    "inspect": "api.inspect",
    "Inspection": "api.inspect",
    "sweep": "api.sweep",
    "Run": "core.registry",
    "ModelRecord": "core.registry",
    "Evaluation": "ml.evaluation",
    "Dataset": "ml.data",
    "LiveMonitor": "training.callbacks",
}

__all__ = [*_LAZY, "NbmlError", "load_ipython_extension", "store", "unload_ipython_extension"]


def __getattr__(name: str) -> Any:
    import importlib

    if name == "store":  # the run store module: nbml.store.open(PATH)
        return importlib.import_module(".store", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nbml' has no attribute {name!r}")
    _install_views()  # the API's first use: its runs show in the cell
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


_MAGIC_NAMES = (
    "train", "evaluate", "predict", "models", "devices", "stop", "save", "runs", "lr_find", "sweep",
    "inspect",
)  # fmt: skip


#: The line magics nbml's shadowed, per shell (``id``): put back by ``%unload_ext nbml``.
_SHADOWED: dict[int, dict[str, Any]] = {}


def load_ipython_extension(ipython: Any) -> None:
    """Register nbml's magics (``%load_ext nbml``) and attach the run store at
    ``NbmlMagics.store_path`` (no file is touched until a run starts); loading twice is
    harmless."""
    from .magics import NbmlMagics, attach_store
    from .magics.inspect import InspectMagics
    from .magics.lr_find import LRFindMagics
    from .magics.sweep import SweepMagics

    if any(isinstance(c, NbmlMagics) for c in ipython.configurables):
        return
    shadowed = {n: ipython.find_line_magic(n) for n in _MAGIC_NAMES}
    _SHADOWED[id(ipython)] = {n: fn for n, fn in shadowed.items() if fn is not None}
    _install_views(ipython)
    magics = NbmlMagics(ipython)
    ipython.register_magics(magics)
    for cls in (LRFindMagics, SweepMagics, InspectMagics):  # beside NbmlMagics, its settings
        ipython.register_magics(cls(ipython, magics))
    attach_store(magics.store_path)
    from . import store

    ipython.events.register("pre_run_cell", store.wait_saves)
    from .views import comm

    if comm.CHANNEL is None:
        comm.CHANNEL = comm.SidebarChannel()
        comm.CHANNEL.start()
    from .views import presence

    presence.start()  # the Jupyter server lists this kernel's models (docs/notebook7.md)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove nbml's magics (``%unload_ext nbml``), restoring any magic they shadowed, and
    detach the run store (trainings still running finish writing to it)."""
    from . import store
    from .magics import NbmlMagics

    store.close()
    with contextlib.suppress(ValueError):  # not registered
        ipython.events.unregister("pre_run_cell", store.wait_saves)
    ipython.configurables[:] = [c for c in ipython.configurables if not isinstance(c, NbmlMagics)]
    from .compat import ipython as ipython_compat

    classes = ("NbmlMagics", "LRFindMagics", "SweepMagics", "InspectMagics")
    ipython_compat.remove_magics(ipython, _MAGIC_NAMES, classes)
    ipython_compat.restore_line_magics(ipython, _SHADOWED.pop(id(ipython), {}))
    from .views import comm

    if comm.CHANNEL is not None:
        comm.CHANNEL.stop()
        comm.CHANNEL = None
    from .views import presence

    presence.stop()


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The Jupyter server extension (``nbml.server``: ``/nbml/kernels``), enabled by the
    wheel's ``etc/jupyter/jupyter_server_config.d/nbml.json``."""
    return [{"module": "nbml.server"}]
