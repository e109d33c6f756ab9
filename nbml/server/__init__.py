"""nbml's Jupyter server extension: what every running kernel with nbml loaded is training.

``GET /nbml/kernels`` lists the kernels alive in this server's kernel manager, each with the
notebook paths of its sessions and, where nbml is loaded there, the snapshot the kernel reports
(:mod:`nbml.core.presence`); ``POST /nbml/kernels/<id>/stop`` asks a kernel to stop a model;
``GET /nbml/kernels/<id>/inspect/<run id>`` reads a run's inspector records from the run store
that kernel names (:mod:`nbml.server.stored`). The "Models" panel polls the list to show kernels that have no document in its own application (a
notebook in another Notebook 7 tab, or a closed notebook whose kernel still runs).

It imports neither Keras nor IPython nor the views: the server loads it at start-up (the wheel
enables it in ``etc/jupyter/jupyter_server_config.d/nbml.json``). Importing :mod:`nbml` in the
server chooses no backend (see :mod:`nbml`), so the server's kernels get Keras's own default
unless they import nbml themselves.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "nbml.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Add the handlers (the server calls this once at start-up)."""
    from .handlers import setup_handlers

    setup_handlers(serverapp)
    serverapp.log.info("nbml: /nbml/kernels serves the Models panel's other kernels")


load_jupyter_server_extension = _load_jupyter_server_extension  # older servers' name
