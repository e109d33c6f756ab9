"""How an :class:`~nbml.ml.evaluation.Evaluation` reads as static HTML (metrics, per-class
table, confusion matrix, or the regression's scatter plots), in JupyterLab and in exported
notebooks alike. The evaluation layer computes; this module only draws.
:func:`nbml.views.install` registers it, and the confusion-matrix widget
(:func:`nbml.views.widgets.confusion.bundle`), as IPython formatters.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np

from .charts import scatter_svg
from .text import CELL_STYLE, TABLE_STYLE, e, table_html


def evaluation_html(ev: Any) -> str:
    """The static rendering: metrics and per-class table with the confusion matrix, or the
    regression's predicted-vs-true and residual plots."""
    e = html.escape
    title = (
        f"<div style='font-weight:600;margin:4px 0'>{e(ev.name)} on "
        f"{e(ev.data or 'its test set')} &middot; {len(ev.y_true)} samples</div>"
    )
    if ev.task != "classification":
        t, p = np.ravel(ev.y_true), np.ravel(ev.y_pred)
        residuals = scatter_svg(
            p, t - p, xlabel="predicted", ylabel="residual (true - predicted)", reference="zero"
        )
        return (
            f"<div class='nbml-evaluation'>{title}{metrics_html(ev.metrics)}"
            f"<div style='display:flex;gap:12px;flex-wrap:wrap'>{scatter_svg(t, p)}"
            f"{residuals}</div></div>"
        )
    rows = [(str(lab), ev.report[str(lab)]) for lab in ev.labels if str(lab) in ev.report]
    return (
        f"<div class='nbml-evaluation'>{title}"
        f"{metrics_html(ev.metrics, ev.average)}"
        "<div style='display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start'>"
        f"{per_class_html(rows)}{confusion_html(ev.confusion_matrix, ev.labels)}</div></div>"
    )


def metrics_html(metrics: dict[str, float], average: str | None = None) -> str:
    note = f"<div style='font-size:11px;opacity:.7'>{e(average)} averages</div>" if average else ""
    return table_html(list(metrics), [[round(v, 4) for v in metrics.values()]]) + note


def per_class_html(rows: Sequence[tuple[str, dict[str, Any]]]) -> str:
    return table_html(
        ["class", "precision", "recall", "f1", "support"],
        [
            [lab, round(r["precision"], 4), round(r["recall"], 4), round(r["f1-score"], 4)]
            + [int(r["support"])]
            for lab, r in rows
        ],
    )


def confusion_html(cm: np.ndarray, labels: Sequence[Any]) -> str:
    """The confusion matrix as an HTML table with heat-coloured cells (rows = true)."""
    top = max(int(cm.max()), 1) if cm.size else 1
    head = "".join(f"<th style='{CELL_STYLE}'>{e(str(lab))}</th>" for lab in labels)
    body = []
    for lab, row in zip(labels, cm, strict=True):
        cells = []
        for v in row:
            a = v / top
            color = "#fff" if a > 0.55 else "inherit"
            cells.append(
                f"<td style='{CELL_STYLE};background:rgba(31,119,180,{a:.3f});color:{color}'>{int(v)}</td>"
            )
        body.append(f"<tr><th style='{CELL_STYLE}'>{e(str(lab))}</th>{''.join(cells)}</tr>")
    return (
        "<div><div style='font-size:11px;opacity:.7'>confusion matrix: rows = true, "
        f"columns = predicted</div><table style='{TABLE_STYLE}'><thead><tr><th style='{CELL_STYLE}'>"
        f"true \\ pred</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )
