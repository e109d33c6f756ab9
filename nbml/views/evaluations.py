"""How an :class:`~nbml.ml.evaluation.Evaluation` reads as static HTML (metrics, per-class
table, confusion matrix, or the regression's scatter plots), in JupyterLab and in exported
notebooks alike. The evaluation layer computes; this module only draws.
:func:`nbml.views.install` registers it, and the confusion-matrix widget
(:func:`nbml.views.widgets.confusion.bundle`), as IPython formatters.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from .display import confusion_html, metrics_html, per_class_html, scatter_svg


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
