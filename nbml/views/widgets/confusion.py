"""The interactive confusion matrix: click a cell to see that cell's samples.

A multi-label evaluation shows one 2x2 matrix per label (rows = has the label, columns =
predicted to have it); a click there names the label too (``{"type": "cell", "label": i,
"true": 0|1, "pred": 0|1}``).

Floats that are not finite (an undefined precision, a NaN feature) travel as ``null`` and show
as "nan"; a click message is validated (:mod:`nbml.views.widgets.messages`), and a refused one
says why in ``notice``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import anywidget
import numpy as np
import traitlets as t

from ...core.jsonsafe import finite_or_none
from ..comm import InvalidMessage
from ..evaluations import evaluation_html
from . import STATIC
from .base import WithStatic, widget_bundle
from .images import is_image_batch, png_data_url
from .messages import check_shape, confusion_request, say, whole

if TYPE_CHECKING:
    from ...ml.evaluation import Evaluation


#: A click on a multi-label matrix: the label's position, and the cell.
LABEL_CELL: dict[str, tuple[set[str], set[str]]] = {"cell": ({"label", "true", "pred"}, {"page"})}


def _row(label: str, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "label": label,
        "precision": finite_or_none(values["precision"]),
        "recall": finite_or_none(values["recall"]),
        "f1": finite_or_none(values["f1-score"]),
        "support": int(values["support"]),
    }


class ConfusionMatrix(WithStatic, anywidget.AnyWidget):
    """Heatmap of an :class:`~nbml.Evaluation`'s confusion matrix with per-class metrics.

    Clicking a cell asks the kernel for that cell's samples, ``page_size`` at a time:
    thumbnails for image data, feature rows otherwise.
    """

    _esm = STATIC / "confusion.js"
    _css = STATIC / "confusion.css"

    #: ``classification``, or ``multilabel``: ``matrix`` is then one 2x2 per label,
    #: ``accuracy`` the subset accuracy and ``averages`` the report's average rows shown.
    task = t.Unicode("classification").tag(sync=True)
    labels = t.List(t.Unicode()).tag(sync=True)
    matrix = t.List().tag(sync=True)
    per_class = t.List().tag(sync=True)
    averages = t.List().tag(sync=True)
    normalize = t.Unicode("none").tag(sync=True)
    accuracy = t.Float(0.0, allow_none=True).tag(sync=True)
    feature_names = t.List(t.Unicode()).tag(sync=True)
    notice = t.Unicode("").tag(sync=True)

    page_size = 24

    def __init__(self, evaluation: Evaluation, **kwargs: Any) -> None:
        labels = [str(lab) for lab in evaluation.labels]
        task = getattr(evaluation, "task", "classification")
        report = evaluation.report
        averages = evaluation.shown_averages() if task == "multilabel" else []
        super().__init__(
            task=task,
            labels=labels,
            matrix=evaluation.confusion_matrix.astype(int).tolist(),
            per_class=[_row(lab, report[lab]) for lab in labels],
            averages=[_row(key, report[key]) for key in averages],
            accuracy=finite_or_none(evaluation.accuracy),
            feature_names=[str(f) for f in getattr(evaluation, "feature_names", []) or []],
            **kwargs,
        )
        self.evaluation = evaluation
        self.on_msg(self._on_msg)

    def samples(
        self, true: int, pred: int, page: int = 0, label: int | None = None
    ) -> dict[str, Any]:
        """The samples of cell (true, pred) (of the matrix of the label at position ``label``,
        multi-label), one page of them."""
        idx = self.evaluation.cell(int(true), int(pred), label=label)
        pages = max(1, math.ceil(len(idx) / self.page_size))
        page = min(max(int(page), 0), pages - 1)
        chosen = idx[page * self.page_size : (page + 1) * self.page_size]
        x = getattr(self.evaluation, "x", None)
        items: list[dict[str, Any]] = []
        for i in chosen.tolist():
            item: dict[str, Any] = {"index": i}
            if x is not None:
                sample = np.asarray(x[i])
                if is_image_batch(np.asarray(x[:1])):
                    item["image"] = png_data_url(sample)
                else:
                    item["values"] = [finite_or_none(v) for v in sample.ravel()[:64]]
            items.append(item)
        reply = {
            "type": "samples",
            "true": int(true),
            "pred": int(pred),
            "page": page,
            "pages": pages,
            "total": len(idx),
            "items": items,
        }
        return reply if label is None else {**reply, "label": int(label)}

    def _on_msg(self, widget: Any, content: Any, buffers: Any) -> None:
        label = None
        try:
            if self.task == "multilabel":  # a label, then a cell of its 2x2 matrix
                label = whole(check_shape(content, LABEL_CELL), "label", 0, len(self.labels) - 1)
                content = {k: v for k, v in content.items() if k != "label"}
                msg = confusion_request(content, 2)
            else:
                msg = confusion_request(content, len(self.labels))
        except InvalidMessage as e:
            say(self, f"Refused: {e}")
            return
        self.notice = ""
        self.send(self.samples(msg["true"], msg["pred"], msg["page"], label))

    def static(self) -> tuple[str, str]:
        return self.evaluation.text(), evaluation_html(self.evaluation)


def bundle(ev: Evaluation) -> dict | None:
    """An evaluation's confusion-matrix widget as a mime bundle (classification and
    multi-label, where widgets work; one widget per evaluation), with its static HTML beside
    it; None otherwise."""
    from ..showing import widgets_available

    if ev.task not in ("classification", "multilabel") or not widgets_available():
        return None
    return widget_bundle(ev, ConfusionMatrix)
