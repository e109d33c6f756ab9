"""The model inspector's values as the sidebar protocol carries them (docs/protocol.md): the
layer table's rows and the records, from the inspector's own dicts (``nbml.training.inspector``)
or the run store's (the same keys). The kernel's comm (:mod:`nbml.views.comm`) and the server
extension (:mod:`nbml.server`) both use it, so a record reads the same from either.
"""

from __future__ import annotations

import math
from typing import Any

#: The inspector's statistics per layer, in the order a record's rows hold them.
STATS = ("weight_norm", "update_ratio", "grad_norm", "act_mean", "act_std", "dead_fraction")


def inspect_layers(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The layer table's rows (``layer``, ``class``, ``output_shape``, ...: the inspector's and
    the store's) as :class:`nbml.core.protocol.InspectLayer` values."""
    return [
        {
            "name": str(r.get("layer", "")),
            "type": str(r.get("class", "")),
            "shape": str(r.get("output_shape", "")),
            "trainable": int(r.get("trainable") or 0),
            "non_trainable": int(r.get("non_trainable") or 0),
            "activation": None if r.get("activation") is None else str(r["activation"]),
        }
        for r in rows
    ]


def inspect_record(epoch: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One record as an :class:`nbml.core.protocol.InspectRecord`: a NaN or an infinity
    becomes null, named in its row's ``nonfinite``; a value that is no number becomes null."""
    out = []
    for r in rows:
        row: dict[str, Any] = {"layer": str(r.get("layer", ""))}
        bad = []
        for key in STATS:
            row[key] = _number(r.get(key))
            if row[key] is None and _nonfinite(r.get(key)):
                bad.append(key)
        if bad:
            row["nonfinite"] = bad
        out.append(row)
    return {"epoch": int(epoch), "rows": out}


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, (bool, str)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _nonfinite(value: Any) -> bool:
    if value is None or isinstance(value, (bool, str)):
        return False
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return False
