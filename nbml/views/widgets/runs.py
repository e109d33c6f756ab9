"""The runs table as a widget: sortable columns, and the curves of the runs you tick.

A value that is not finite (a NaN loss) travels as ``null`` and shows as "nan".
"""

from __future__ import annotations

from typing import Any

import anywidget
import traitlets as t

from ...core.jsonsafe import finite_or_none
from . import STATIC
from .base import WithStatic


def _cell(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, (int, float)):
        return finite_or_none(value)  # null for NaN and inf
    return str(value)


class RunsWidget(WithStatic, anywidget.AnyWidget):
    """What ``%runs`` shows where widgets work: click a header to sort, tick runs to overlay.

    Only the ticked runs' per-epoch curves are sent to the browser.
    """

    _esm = STATIC / "runs.js"
    _css = STATIC / "runs.css"

    headers = t.List(t.Unicode()).tag(sync=True)
    rows = t.List().tag(sync=True)
    selected = t.List(t.Unicode()).tag(sync=True)
    curves = t.Dict().tag(sync=True)
    note = t.Unicode("").tag(sync=True)

    def __init__(self, table: Any, **kwargs: Any) -> None:  # a RunTable (which imports this)
        super().__init__(
            headers=[str(h) for h in table.headers],
            rows=[[_cell(v) for v in row] for row in table.rows],
            note=table.note,
            **kwargs,
        )
        self.table = table
        self._runs = {r.id: r for r in [*table.runs, *table.compare]}
        self.observe(self._on_select, names="selected")
        self.selected = [r.id for r in table.compare]

    def _on_select(self, change: dict[str, Any]) -> None:
        curves = {}
        for rid in change["new"]:
            run = self._runs.get(rid)
            if run is None:
                continue
            history = {
                key: [[i + 1, finite_or_none(v)] for i, v in enumerate(values)]
                for key, values in run.history.items()
            }
            curves[rid] = {"label": f"{run.id} {run.name}", "history": history}
        self.curves = curves

    def static(self) -> tuple[str, str]:
        return repr(self.table), self.table._repr_html_()
