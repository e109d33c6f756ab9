"""The inspector's flags: what looks wrong in a layer, found from its statistics over records.

Each flag names the layer, the epoch of the record where it was found and a one-line reason
that carries the number. The thresholds are these named constants (docs/inspector.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: ``dead_units``: at least this share of a layer's units output <= 0 on every probe row...
DEAD_FRACTION = 0.5
#: ...at this many records in a row.
DEAD_RECORDS = 2
#: ``vanishing_gradient``: a layer's gradient norm below this times the largest layer's.
VANISHING_RATIO = 1e-4
#: ``exploding_gradient``: a layer's gradient norm at least this times its previous record's...
EXPLODING_GROWTH = 10.0
#: ...while its weights moved at least this much relative to their norm (the update ratio).
EXPLODING_UPDATE = 1.0

#: Activations whose outputs are positive by construction: an output <= 0 there is a value that
#: underflowed, not a dead unit, so ``dead_units`` is not looked for.
POSITIVE_OUTPUTS = ("softmax", "sigmoid", "softplus", "exponential")

KINDS = ("dead_units", "vanishing_gradient", "exploding_gradient", "non_finite")


@dataclass(frozen=True)
class Flag:
    """Something wrong with ``layer`` found at the record of ``epoch``."""

    layer: str
    kind: str
    epoch: int
    reason: str


def _bad(value: Any) -> bool:
    return value is not None and not math.isfinite(value)


def find(
    history: list[tuple[int, list[dict[str, Any]]]], layers: list[dict[str, Any]] | None = None
) -> list[Flag]:
    """Every flag in the records so far: ``history`` is ``[(epoch, rows), ...]`` in order,
    each row a layer's statistics (:meth:`nbml.ml.inspection.Probe.record`); ``layers``, the
    layer table (its ``activation``). A flag is reported once, at the first record where it
    holds."""
    positive = {r["layer"] for r in layers or () if r.get("activation") in POSITIVE_OUTPUTS}
    flags: dict[tuple[str, str], Flag] = {}
    for i, (epoch, rows) in enumerate(history):
        prev = {r["layer"]: r for r in history[i - 1][1]} if i else {}
        before = {r["layer"]: r for r in history[i - 2][1]} if i > 1 else {}
        found = _non_finite(epoch, rows) + _vanishing(epoch, rows)
        found += _exploding(epoch, rows, prev)
        found += _dead(epoch, [r for r in rows if r["layer"] not in positive], prev, before)
        for flag in found:
            flags.setdefault((flag.layer, flag.kind), flag)
    return sorted(flags.values(), key=lambda f: (f.epoch, KINDS.index(f.kind), f.layer))


def update(
    found: list[Flag],
    history: list[tuple[int, list[dict[str, Any]]]],
    layers: list[dict[str, Any]] | None = None,
) -> list[Flag]:
    """:func:`find` of ``history`` when ``found`` are the flags of all its records but the
    last: the last record's checks look back two records at most, so only the last three are
    read (a record costs the same at epoch 1 and at epoch 1,000)."""
    seen = {(f.layer, f.kind) for f in found}
    latest = history[-1][0] if history else None
    new = [f for f in find(history[-(DEAD_RECORDS + 1):], layers)
           if f.epoch == latest and (f.layer, f.kind) not in seen]  # fmt: skip
    return sorted(found + new, key=lambda f: (f.epoch, KINDS.index(f.kind), f.layer))


def _non_finite(epoch: int, rows: list[dict[str, Any]]) -> list[Flag]:
    for r in rows:  # the first such layer only: the others follow from it
        for key, what in (("weight_norm", "weights"), ("grad_norm", "gradient")):
            if _bad(r.get(key)):
                why = f"its {what} hold NaN or inf ({key.replace('_', ' ')} {r[key]})"
                return [Flag(r["layer"], "non_finite", epoch, why)]
    return []


def _vanishing(epoch: int, rows: list[dict[str, Any]]) -> list[Flag]:
    norms = [r["grad_norm"] for r in rows if r.get("grad_norm") is not None]
    if not norms or any(_bad(g) for g in norms):
        return []
    top = max(norms)
    out = []
    for r in rows:
        g = r.get("grad_norm")
        if g is not None and top > 0 and g < VANISHING_RATIO * top:
            why = (f"gradient norm {g:.3g} is {g / top:.2g} x the largest layer's ({top:.3g}), "
                   f"below {VANISHING_RATIO:g}")  # fmt: skip
            out.append(Flag(r["layer"], "vanishing_gradient", epoch, why))
    return out


def _exploding(epoch: int, rows: list[dict[str, Any]], prev: dict[str, Any]) -> list[Flag]:
    out = []
    for r in rows:
        g, p = r.get("grad_norm"), (prev.get(r["layer"]) or {}).get("grad_norm")
        u = r.get("update_ratio")
        if None in (g, p, u) or _bad(g) or _bad(p) or p <= 0:
            continue
        if g >= EXPLODING_GROWTH * p and u >= EXPLODING_UPDATE:
            why = f"gradient norm grew {g / p:.3g}x to {g:.3g} with an update ratio of {u:.3g}"
            out.append(Flag(r["layer"], "exploding_gradient", epoch, why))
    return out


def _dead(
    epoch: int, rows: list[dict[str, Any]], prev: dict[str, Any], before: dict[str, Any]
) -> list[Flag]:
    out = []
    for r in rows:
        series = [r, prev.get(r["layer"]), before.get(r["layer"])][:DEAD_RECORDS]
        shares = [(s or {}).get("dead_fraction") for s in series]
        if all(d is not None and d >= DEAD_FRACTION for d in shares):
            why = (f"{shares[0]:.0%} of its units output <= 0 on every probe row "
                   f"({DEAD_RECORDS} records in a row)")  # fmt: skip
            out.append(Flag(r["layer"], "dead_units", epoch, why))
    return out
