"""The API's look-ups shared by its modules: the notebook's namespace and a model's record."""

from __future__ import annotations

from typing import Any

from ..core.registry import REGISTRY, ModelRecord
from ..training import pipeline


def namespace_of(namespace: dict[str, Any] | None) -> dict[str, Any]:
    """``namespace``, else the IPython user namespace (empty outside IPython)."""
    if namespace is not None:
        return namespace
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover
        shell = None
    return shell.user_ns if shell is not None else {}


def record_of(name: str, namespace: dict[str, Any] | None = None) -> ModelRecord:
    """The model ``name``'s record; an unknown name is an error naming the fix."""
    record = REGISTRY.get(name)
    if record is None:
        raise pipeline.unknown_model(name)
    return record


def free_record(name: str, action: str, wait: bool) -> ModelRecord:
    """The record of ``name`` once no run is using its model (see ``Registry.ensure_free``)."""
    record = record_of(name)
    REGISTRY.ensure_free(name, record.model, action=action, wait=wait)
    return REGISTRY.get(name) or record
