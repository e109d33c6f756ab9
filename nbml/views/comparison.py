"""Runs side by side (what ``%runs`` shows): a table, and an overlay of selected runs' curves.

Rows are :class:`nbml.Run` (this kernel) or :class:`nbml.store.StoredRun` records; both have
``id``, ``name``, ``status``, ``epoch``, ``epochs``, ``params``, ``metrics``, ``history`` and
``duration``. The HTML is static (tables and inline SVG), so it survives nbconvert and GitHub.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ..core.rules import main_metric
from ..store.records import better
from .charts import curves_svg
from .text import e, seconds, table_html, table_text

#: Hyperparameters always shown; other ones are shown when they differ between the rows.
KEY_PARAMS = ("batch_size", "optimizer", "lr")
_OTHER_PARAMS = (
    "epochs", "loss", "seed", "validation_split", "test_split", "normalize", "augment",
    "early_stopping", "task", "reset", "from_run",
)  # fmt: skip
#: Parameters nbml records that the table never shows.
_HIDDEN_PARAMS = ("steps_per_execution", "distribute")
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
_COLORS += ("#7f7f7f", "#bcbd22", "#17becf")


def best_of(run: Any, key: str) -> float | None:
    """The best value of metric ``key`` over the run's epochs."""
    stored = getattr(run, "best", None)
    if isinstance(stored, dict) and key in stored:
        return stored[key]
    out = None
    for v in run.history.get(key, []):
        out = v if better(key, v, out) else out
    return out


def _sweep_params(runs: Sequence[Any]) -> list[str]:
    """A sweep's trial runs: their study and trial number, then what the sweep sampled beyond
    the usual options (the model's own hyperparameters), in the order they appear."""
    known = {*KEY_PARAMS, *_OTHER_PARAMS, *_HIDDEN_PARAMS, "sweep", "trial"}
    out = [k for k in ("sweep", "trial") if any(k in r.params for r in runs)]
    for r in runs:
        out += [k for k in r.params if k not in known and k not in out]
    return out


class RunTable:
    """A table of runs; with ``compare``, also their curves overlaid (one colour per run).

    Args:
        runs: the rows, oldest first.
        total: how many runs match (the rows may be the last of them only).
        compare: runs whose curves to overlay.
        store: the run store they come from: the table then says when it is behind (what is
            not stored yet, and why), when it cannot be read, and which runs have no model.
    """

    def __init__(
        self,
        runs: Sequence[Any],
        total: int | None = None,
        compare: Sequence[Any] = (),
        store: Any = None,
    ):
        self.runs = list(runs)
        self.total = len(self.runs) if total is None else max(total, len(self.runs))
        self.compare = list(compare)
        self.headers, self.rows = self._table()
        #: Sentences about the store: behind, unreadable, runs kept without their model.
        self.store_notes: list[str] = store.notes(self.runs) if store is not None else []

    def _table(self) -> tuple[list[str], list[list[Any]]]:
        params = list(KEY_PARAMS)
        for key in _OTHER_PARAMS:
            values = {repr(r.params.get(key)) for r in self.runs}
            if len(values) > 1:
                params.append(key)
        params += _sweep_params(self.runs)
        keys: list[str] = []
        for r in self.runs:
            keys += [k for k in r.metrics if k not in keys]
        metric = main_metric(keys)
        rows = []
        for r in self.runs:
            best = best_of(r, metric) if metric else None
            rows.append(
                [r.id, r.name, r.status, f"{r.epoch}/{r.epochs}", r.data]
                + ["" if r.params.get(k) is None else r.params[k] for k in params]
                + ["" if best is None else best]
                + [r.metrics.get(k, "") for k in ("loss", "val_loss")]
                + [seconds(r.duration), time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started))]
            )
        best_header = f"best {metric}" if metric else "best"
        headers = ["run", "name", "status", "epoch", "data", *params, best_header]
        return [*headers, "loss", "val_loss", "time", "started"], rows

    @property
    def note(self) -> str:
        count = self._count_note() if self.runs or not self.store_notes else ""
        return " ".join(n for n in (count, *self.store_notes) if n)

    def _count_note(self) -> str:
        if not self.runs:
            return "No runs yet: train a model with %%train NAME --data SPEC."
        if self.total > len(self.runs):
            return (
                f"The last {len(self.runs)} of {self.total:,} runs; %runs --all lists them all, "
                "%runs --compare ID,ID overlays their curves."
            )
        return ""

    def __repr__(self) -> str:
        out = table_text(self.headers, self.rows)
        for r in self.compare:
            hist = ", ".join(f"{k} {v[-1]:.4g}" for k, v in r.history.items() if v)
            out += f"\n{r.id} {r.name}: {len(r.history.get('loss', []))} epochs; last {hist}"
        return out + (f"\n{self.note}" if self.note else "")

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict | None:
        """The sortable runs widget where widgets work (with the static table as fallback)."""
        from .showing import widgets_available

        if not self.runs or not widgets_available():
            return None
        from .widgets.runs import RunsWidget

        bundle = RunsWidget(self)._repr_mimebundle_()
        return bundle[0] if bundle else None

    def _repr_html_(self) -> str:
        note = f"<div style='font-size:12px'>{e(self.note)}</div>" if self.note else ""
        return table_html(self.headers, self.rows) + note + self.curves_html()

    def curves_html(self) -> str:
        """The selected runs' validation (else training) curves, overlaid per metric."""
        if not self.compare:
            return ""
        keys: list[str] = []
        for r in self.compare:
            keys += [k for k in r.history if not k.startswith("val_") and k not in keys]
        metric = main_metric([k for k in keys if k != "loss"])
        charts = []
        for key in [k for k in ("loss", metric) if k]:
            series = []
            for i, r in enumerate(self.compare):
                k = f"val_{key}" if f"val_{key}" in r.history else key
                points = [(j + 1, float(v)) for j, v in enumerate(r.history.get(k, []))]
                series.append((f"{r.id} {r.name} {k}", points, _COLORS[i % len(_COLORS)], 0.9))
            charts.append(curves_svg(f"{key} (validation where measured)", series, 360, 200))
        legend = " ".join(
            f"<span style='color:{_COLORS[i % len(_COLORS)]}'>&#9644; {e(r.id)} {e(r.name)}</span>"
            for i, r in enumerate(self.compare)
        )
        return (
            f"<div class='nbml-compare'><div style='font-size:12px'>{legend}</div>"
            f"{''.join(charts)}</div>"
        )
