"""``nbml.inspect``: a model's inside — its layers, their statistics over training, the flags.

Behind ``%inspect NAME`` and the Models panel's inspector (docs/inspector.md). A model of this
kernel gives its latest inspected run, live while it trains; a run id gives that run's stored
records (any kernel, after a restart); a Keras model nbml did not train gives its layer table
and says that statistics come from ``%%train``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import store as _store
from ..core.errors import NbmlError, did_you_mean
from ..core.registry import REGISTRY, Run
from ..ml import flags as _flags
from ..ml import inspection
from ..ml.flags import Flag
from ..training import inspector
from . import _namespace

#: Said for a model nbml has not inspected while training it.
NO_STATS = "statistics come from training it with %%train (the inspector records every epoch)"


@dataclass
class Inspection:
    """What the inspector knows of one model or run.

    Attributes:
        name: the model's name.
        run_id: the inspected run, or None for a model nbml did not train.
        layers: a DataFrame, one row per layer (``layer`` path, ``class``, ``output_shape``,
            ``trainable``, ``non_trainable``, ``activation``, ``flags``).
        stats: a long DataFrame: ``epoch``, ``layer`` and the statistics (``weight_norm``,
            ``update_ratio``, ``grad_norm``, ``act_mean``, ``act_std``, ``dead_fraction``).
        flags: the :class:`Flag` list (``layer``, ``kind``, ``epoch``, ``reason``).
        probe: the probe rows' indices in the run's training part.
        notes: why a statistic is not available (``gradients``, ``activations``, ``stats``).
    """

    name: str
    run_id: str | None
    layer_rows: list[dict[str, Any]]
    records: list[tuple[int, list[dict[str, Any]]]] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    probe: list[int] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    status: str | None = None

    @property
    def layers(self) -> Any:
        import pandas as pd

        flagged: dict[str, list[str]] = {}
        for f in self.flags:
            flagged.setdefault(f.layer, []).append(f.kind)
        rows = [{**r, "flags": ",".join(flagged.get(r["layer"], []))} for r in self.layer_rows]
        return pd.DataFrame(rows, columns=[*inspector.LAYER_COLUMNS, "flags"])

    @property
    def stats(self) -> Any:
        import pandas as pd

        rows = [{"epoch": e, **r} for e, rs in self.records for r in rs]
        return pd.DataFrame(rows, columns=["epoch", "layer", *inspection.STAT_COLUMNS])

    @property
    def total_params(self) -> int:
        return int(sum(r["trainable"] + r["non_trainable"] for r in self.layer_rows))

    def __repr__(self) -> str:
        where = f"run {self.run_id}" if self.run_id else "not trained by nbml"
        what = f"{len(self.layer_rows)} layers, {len(self.records)} records"
        return f"<Inspection {self.name} ({where}): {what}, {len(self.flags)} flags>"


def inspect(name_or_run_id: str, *, namespace: dict[str, Any] | None = None) -> Inspection:
    """The inspection of a model of this kernel (its latest inspected run, live while it
    trains), of a stored run (by id, in any kernel) or of a Keras model in the notebook that
    nbml did not train (its layers only).

    Example:
        >>> ins = nbml.inspect("mlp")
        >>> ins.stats.query("layer == 'dense'")
    """
    if not isinstance(name_or_run_id, str) or not name_or_run_id.strip():
        raise NbmlError(f"%inspect takes a model's name or a run id, not {name_or_run_id!r}.")
    key = name_or_run_id.strip()
    record = REGISTRY.get(key)
    if record is not None:
        runs = [r for r in record.runs if r.inspection is not None]
        if runs:
            return from_run(key, runs[-1])
        return _layers_only(key, record.model, "its runs were not inspected (--inspect off)")
    for rec in REGISTRY.records():
        for run in rec.runs:
            if run.id == key and run.inspection is not None:
                return from_run(rec.name, run)
    stored = _stored(key)
    if stored is not None:
        return stored
    value = _namespace(namespace).get(key)
    import keras

    if isinstance(value, keras.Model):
        return _layers_only(key, value, NO_STATS)
    raise _unknown(key)


def from_run(name: str, run: Run) -> Inspection:
    """The inspection of a run of this kernel (its log as it stands)."""
    log: inspector.Log = run.inspection
    records = list(log.records)
    return Inspection(name, run.id, list(log.layers), records, list(log.flags), list(log.probe),
                      dict(log.notes), run.status)  # fmt: skip


def _layers_only(name: str, model: Any, why: str) -> Inspection:
    table = inspector.layer_rows(inspection.layer_table(model))
    return Inspection(name, None, table, notes={"stats": why})


def _stored(run_id: str) -> Inspection | None:
    st = _store.ensure()
    if st is None:
        return None
    found = st.inspection(run_id)
    if found is None:
        return None
    name, layers, probe, records, notes, status = found
    found = _flags.find(records, layers)
    return Inspection(name, run_id, layers, records, found, probe, notes, status)


def _unknown(key: str) -> NbmlError:
    st = _store.ensure()
    known = set(REGISTRY.names()) | set(st.names() if st is not None else [])
    listing = f" Known models: {', '.join(sorted(known))}." if known else ""
    return NbmlError(
        f"No model or run '{key}' to inspect.{did_you_mean(key, known)}{listing} Give a model's "
        "name (%models lists them), a run id (%runs lists them), or a Keras model variable."
    )
