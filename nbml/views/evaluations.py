"""How an :class:`~nbml.ml.evaluation.Evaluation` reads as static HTML (metrics, per-class
table, confusion matrix; for a multi-label classifier a per-label table and one 2x2 matrix per
label; or the regression's scatter plots), in JupyterLab and in exported notebooks alike. The evaluation layer computes; this module only draws.
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
    if ev.task == "multilabel":
        return f"<div class='nbml-evaluation'>{title}{multilabel_html(ev)}</div>"
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


def per_class_html(rows: Sequence[tuple[str, dict[str, Any]]], what: str = "class") -> str:
    return table_html(
        [what, "precision", "recall", "f1", "support"],
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


def multilabel_html(ev: Any) -> str:
    """A multi-label evaluation: subset accuracy and the averages, the per-label table with the
    ``samples`` and ``macro`` averages (and the one ``--average`` asked for), and one 2x2
    matrix per label."""
    metrics = {("subset accuracy" if k == "accuracy" else k): v for k, v in ev.metrics.items()}
    rows = [(key, ev.report[key]) for key in [*ev.labels, *ev.shown_averages()]]
    return (
        f"{metrics_html(metrics, ev.average)}"
        "<div style='display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start'>"
        f"{per_class_html(rows, 'label')}{label_matrices_html(ev.confusion_matrix, ev.labels)}"
        "</div>"
    )


#: The cells of a label's 2x2 matrix, ``[[tn, fp], [fn, tp]]``, in words.
CELL_NAMES = (("true negatives", "false positives"), ("false negatives", "true positives"))


def label_matrices_html(matrices: np.ndarray, labels: Sequence[Any]) -> str:
    """One heat-coloured 2x2 table per label (rows = true 0/1, columns = predicted 0/1)."""
    tables = []
    for lab, m in zip(labels, matrices, strict=True):
        top = max(int(m.max()), 1)
        body = []
        for i, row in enumerate(m):
            cells = []
            for j, v in enumerate(row):
                a = v / top
                color = "#fff" if a > 0.55 else "inherit"
                cells.append(
                    f"<td style='{CELL_STYLE};background:rgba(31,119,180,{a:.3f});"
                    f"color:{color}' title='{CELL_NAMES[i][j]}'>{int(v)}</td>"
                )
            body.append(f"<tr><th style='{CELL_STYLE}'>{i}</th>{''.join(cells)}</tr>")
        head = "".join(f"<th style='{CELL_STYLE}'>{j}</th>" for j in (0, 1))
        tables.append(
            f"<table style='{TABLE_STYLE}' class='nbml-label-matrix'><caption style='font-weight:600'>"
            f"{e(str(lab))}</caption><thead><tr><th style='{CELL_STYLE}'>true \\ pred</th>"
            f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )
    return (
        "<div><div style='font-size:11px;opacity:.7'>one matrix per label: rows = true, "
        "columns = predicted (1: has the label, predicted at probability &ge; 0.5)</div>"
        f"<div style='display:flex;gap:10px;flex-wrap:wrap'>{''.join(tables)}</div></div>"
    )
