"""What the API does differently when a model trains over several processes
(``--distribute data`` in a joined job, docs/multihost.md).

Every process runs the same script (or notebook) and gets the same numbers; only process 0
writes: the run store and ``%save``. Evaluation joins every process's held-out rows, so each
process reports the whole test set.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import store as _store
from ..core.registry import Run
from ..ml import distribution, exporting, processes


def settle_store(plan: Any, run: Run) -> None:
    """Process 0 keeps the run store; any other process detaches its own (one run, one writer)
    and says where the run and its model go. One process: nothing changes."""
    if distribution.job_size(plan.distribution) == 1:
        return
    me, count = processes.info()
    if me == 0:
        return
    here = _store.current()
    _store.close()
    where = "its run store"
    if here is not None:
        where = os.path.join(os.path.abspath(here.path), "models", f"{run.id}.keras")
    print(
        f"nbml: process {me} of {count}: process 0 stores run {run.id} of {run.name} and its "
        f"model ({where}, as this process would name it); this process stores nothing."
    )


def whole(model: Any, *arrays: Any) -> tuple[Any, ...]:
    """``arrays`` (rows of this process) joined over every process, in process order, for a
    model trained over several processes; as they are otherwise."""
    if not processes.spans_processes(model):
        return arrays
    with processes.watch("evaluating"):
        return tuple(processes.gather(np.asarray(a)) for a in arrays)


def save(model: Any, name: str, path: str | None, store_path: str, format: str) -> str:
    """:func:`nbml.ml.exporting.save` in process 0; another process of a job only says where
    process 0 saved ``name`` and returns that path."""
    me, count = processes.info() if processes.spans_processes(model) else (0, 1)
    if me == 0:
        return exporting.save(model, name, path, store_path, format)
    target = path or exporting.default_path(name, os.path.expanduser(store_path), format)
    print(f"nbml: process {me} of {count}: process 0 saves {name} to {target}.")
    return target
