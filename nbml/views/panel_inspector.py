"""The Models panel's inspector, kernel side (docs/protocol.md): the ``inspection`` reply to an
``inspect`` request, the ``inspect`` push of each new record, and what a model's entry says of
its inspector (the latest inspected run and its flags). The comm (:mod:`nbml.views.comm`) sends
them; every value goes through :mod:`nbml.core.inspect_wire` (a NaN travels as null).
"""

from __future__ import annotations

import time
from typing import Any

from ..core.inspect_wire import inspect_layers, inspect_record
from ..core.protocol import VERSION
from ..core.registry import Event, ModelRecord, Run


def latest_inspected(rec: ModelRecord) -> Run | None:
    """The model's latest run the inspector recorded (what ``nbml.inspect(name)`` shows)."""
    runs = [r for r in rec.runs if r.inspection is not None]
    return runs[-1] if runs else None


def flag_dicts(flags: list[Any]) -> list[dict[str, Any]]:
    return [
        {"layer": f.layer, "kind": f.kind, "epoch": int(f.epoch), "reason": f.reason} for f in flags
    ]


def model_fields(rec: ModelRecord) -> dict[str, Any]:
    """``inspected`` and ``flags`` of a model's panel entry."""
    run = latest_inspected(rec)
    if run is None:
        return {"inspected": None, "flags": []}
    return {"inspected": run.id, "flags": flag_dicts(list(run.inspection.flags))}


def inspection_msg(rec: ModelRecord) -> dict[str, Any]:
    """The ``inspection`` reply for a model of this kernel: ``nbml.inspect(name)`` as the
    protocol carries it (a model whose runs were not inspected: its layers and why)."""
    from ..api.inspect import inspect

    ins = inspect(rec.name)
    return {
        "type": "inspection",
        "version": VERSION,
        "model": rec.name,
        "run": ins.run_id,
        "status": ins.status,
        "layers": inspect_layers(ins.layer_rows),
        "records": [inspect_record(epoch, rows) for epoch, rows in ins.records],
        "flags": flag_dicts(ins.flags),
        "notes": {str(k): str(v) for k, v in ins.notes.items()},
        "total": ins.total_params,
    }


def inspect_push(event: Event) -> dict[str, Any] | None:
    """The ``inspect`` push for the registry's ``inspect`` event (a new record), or None when
    the run keeps no inspector log."""
    log = event.run.inspection
    if log is None:
        return None
    return {
        "type": "inspect",
        "version": VERSION,
        "model": event.run.name,
        "run": event.run.id,
        "layers": inspect_layers(list(log.layers)),
        "record": inspect_record(event.data["epoch"], event.data["rows"]),
        "flags": flag_dicts(list(log.flags)),
        "notes": {str(k): str(v) for k, v in dict(log.notes).items()},
        "time": event.time or time.time(),
    }
