"""The interactive confusion matrix: click a cell to see that cell's samples.

Floats that are not finite (an undefined precision, a NaN feature) travel as ``null`` and show
as "nan"; a click message is validated (:mod:`nbml.widgets.messages`), and a refused one says why
in ``notice``.
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
from .images import is_image_batch, png_data_url
from .messages import confusion_request, say

if TYPE_CHECKING:
    from ...ml.evaluation import Evaluation


class ConfusionMatrix(anywidget.AnyWidget):
    """Heatmap of an :class:`~nbml.Evaluation`'s confusion matrix with per-class metrics.

    Clicking a cell asks the kernel for that cell's samples, ``page_size`` at a time:
    thumbnails for image data, feature rows otherwise.
    """

    _esm = STATIC / "confusion.js"
    _css = STATIC / "confusion.css"

    labels = t.List(t.Unicode()).tag(sync=True)
    matrix = t.List().tag(sync=True)
    per_class = t.List().tag(sync=True)
    normalize = t.Unicode("none").tag(sync=True)
    accuracy = t.Float(0.0, allow_none=True).tag(sync=True)
    feature_names = t.List(t.Unicode()).tag(sync=True)
    notice = t.Unicode("").tag(sync=True)

    page_size = 24

    def __init__(self, evaluation: Evaluation, **kwargs: Any) -> None:
        labels = [str(lab) for lab in evaluation.labels]
        per_class = [
            {
                "label": lab,
                "precision": finite_or_none(evaluation.report[lab]["precision"]),
                "recall": finite_or_none(evaluation.report[lab]["recall"]),
                "f1": finite_or_none(evaluation.report[lab]["f1-score"]),
                "support": int(evaluation.report[lab]["support"]),
            }
            for lab in labels
        ]
        super().__init__(
            labels=labels,
            matrix=evaluation.confusion_matrix.astype(int).tolist(),
            per_class=per_class,
            accuracy=finite_or_none(evaluation.accuracy),
            feature_names=[str(f) for f in getattr(evaluation, "feature_names", []) or []],
            **kwargs,
        )
        self.evaluation = evaluation
        self.on_msg(self._on_msg)

    def samples(self, true: int, pred: int, page: int = 0) -> dict[str, Any]:
        """The samples of cell (true, pred), one page of them."""
        idx = self.evaluation.misclassified(int(true), int(pred))
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
        return {
            "type": "samples",
            "true": int(true),
            "pred": int(pred),
            "page": page,
            "pages": pages,
            "total": len(idx),
            "items": items,
        }

    def _on_msg(self, widget: Any, content: Any, buffers: Any) -> None:
        try:
            msg = confusion_request(content, len(self.labels))
        except InvalidMessage as e:
            say(self, f"Refused: {e}")
            return
        self.notice = ""
        self.send(self.samples(msg["true"], msg["pred"], msg["page"]))

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict, dict] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, metadata = bundle
        data["text/plain"] = self.evaluation.text()
        data["text/html"] = evaluation_html(self.evaluation)
        return data, metadata


def bundle(ev: Evaluation) -> dict | None:
    """An evaluation's confusion-matrix widget as a mime bundle (classification, where widgets
    work; one widget per evaluation), with its static HTML beside it; None otherwise."""
    from ..showing import widgets_available

    if ev.task != "classification" or not widgets_available():
        return None
    widget = getattr(ev, "_widget", None)
    if widget is None:
        widget = ev._widget = ConfusionMatrix(ev)
    shown = widget._repr_mimebundle_()
    return shown[0] if shown else None
