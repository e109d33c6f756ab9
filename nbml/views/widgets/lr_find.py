"""The learning-rate finder's chart: loss against rate (uPlot, log x axis) with the suggestions
marked. Clicking a marker or a point fills the rate of the **Train** button, which trains the
model in the background (``nbml.train``) with that rate and the finder's batch size and
optimizer; the widget then shows that run's progress and outcome.

The chart is sent once, as traits; the view's one message, ``train``, is validated like every
widget message (:mod:`nbml.views.widgets.messages`): a refused one changes nothing and says why
in ``notice``.
"""

from __future__ import annotations

import math
import threading
from numbers import Real
from typing import Any

import anywidget
import traitlets as t

from ...core.errors import NbmlError
from ...core.jsonsafe import json_safe
from ...core.registry import Event, Run
from ..comm import InvalidMessage
from ..lr_find import MARKER_COLORS, finding_html, loss_range
from ..progress import progress_text
from . import STATIC
from .base import Listener, WithStatic, accepted, widget_bundle
from .messages import MAX_EPOCHS, check_shape, say, whole

#: The view's messages: type -> (required fields, optional fields).
LR_FIND: dict[str, tuple[set[str], set[str]]] = {"train": ({"lr", "epochs"}, set())}


def lr_find_request(msg: Any) -> dict[str, Any]:
    """A valid ``train`` message: a positive, finite ``lr`` and whole ``epochs``, each also
    passing the check ``nbml.train`` runs."""
    msg = check_shape(msg, LR_FIND)
    lr = msg["lr"]
    if isinstance(lr, bool) or not isinstance(lr, Real) or not math.isfinite(lr) or lr <= 0:
        raise InvalidMessage(f"the learning rate must be a positive number, not {lr!r}")
    epochs = whole(msg, "epochs", 1, MAX_EPOCHS)
    from ...core.options import from_kwargs

    try:
        checked = from_kwargs(lr=float(lr), epochs=epochs).checked()
    except NbmlError as e:
        raise InvalidMessage(str(e)) from None
    return {"type": "train", "lr": checked.lr, "epochs": checked.epochs}


class LRFinderWidget(Listener, WithStatic, anywidget.AnyWidget):
    """The chart of an :class:`~nbml.training.lr_range.LRFinding`, and its Train button."""

    _esm = STATIC / "lr_find.js"
    _css = STATIC / "lr_find.css"

    name = t.Unicode("").tag(sync=True)
    lrs = t.List().tag(sync=True)
    losses = t.List().tag(sync=True)
    #: ``[{"name", "value", "x", "y", "color"}]``: each suggestion and where it sits.
    markers = t.List().tag(sync=True)
    suggestion = t.Float(None, allow_none=True).tag(sync=True)
    #: The loss axis's range (``nbml.views.lr_find.loss_range``), or None.
    y_range = t.List(allow_none=True, default_value=None).tag(sync=True)
    message = t.Unicode("").tag(sync=True)
    batch_size = t.Int(0).tag(sync=True)
    optimizer = t.Unicode("").tag(sync=True)
    #: The Train button's epochs to start with.
    epochs = t.Int(10).tag(sync=True)
    #: The training the Train button started: its status, progress line and rate.
    status = t.Unicode("").tag(sync=True)
    progress = t.Unicode("").tag(sync=True)
    run_lr = t.Float(None, allow_none=True).tag(sync=True)
    notice = t.Unicode("").tag(sync=True)

    def __init__(self, finding: Any, *, epochs: int = 10, **kwargs: Any) -> None:
        span = loss_range(finding.losses)
        markers = [{**m, "color": MARKER_COLORS.get(m["name"], "#000")} for m in finding.markers]
        super().__init__(
            name=finding.name,
            lrs=json_safe(list(finding.lrs)),
            losses=json_safe(list(finding.losses)),
            markers=json_safe(markers),
            suggestion=finding.suggestion,
            y_range=list(span) if span else None,
            message=finding.message,
            batch_size=finding.batch_size,
            optimizer=finding.optimizer or "",
            epochs=epochs,
            **kwargs,
        )
        self.finding = finding
        self.run: Run | None = None
        self._early: list[Run] = []
        self._starting = False
        self._lock = threading.Lock()
        self.on_msg(self._on_msg)

    def static(self) -> tuple[str, str]:
        return self.finding.text(), finding_html(self.finding)

    # ------------------------------------------------------------ Train

    def _on_msg(self, widget: Any, content: Any, buffers: Any) -> None:
        msg = accepted(self, lr_find_request, content)
        if msg is None:
            return
        self.train(msg["lr"], msg["epochs"])

    def train(self, lr: float, epochs: int) -> Run | None:
        """Train the model in the background at ``lr`` for ``epochs`` (with the finder's batch
        size and optimizer); if it cannot start, say why in ``notice``."""
        from ... import api

        options: dict[str, Any] = {"lr": lr, "epochs": epochs, "batch_size": self.batch_size}
        if self.optimizer:
            options["optimizer"] = self.optimizer
        self._follow()
        try:
            run = api.train(self.name, **options, background=True, display="none")
        except (NbmlError, ValueError, TypeError, OverflowError) as e:
            with self._lock:
                self._starting = False
                idle = self.run is None or self.run.done.is_set()
            if idle:
                self._release()
            say(self, str(e))
            return None
        with self._lock:
            self.run, self._starting = run, False
            ended = run in self._early
        with self.hold_sync():
            self.notice, self.run_lr = "", lr
            self.status, self.progress = run.status, progress_text(run)
        if ended or run.done.is_set():  # it ended before we knew it was ours
            self._ended(run)
        return run

    def _follow(self) -> None:
        with self._lock:
            self._starting, self._early = True, []
        self._listen()

    def _on_event(self, event: Event) -> None:
        with self._lock:
            mine = self.run is not None and event.run is self.run
            early = self._starting and not mine and event.run.name == self.name
            if early and event.kind == "end":
                self._early.append(event.run)  # a quick run may end before train() returns
        if not mine or event.kind not in ("epoch", "end"):
            return
        if event.kind == "end":
            self._ended(event.run)
        else:
            self.progress = progress_text(event.run)

    def _ended(self, run: Run) -> None:
        text = progress_text(run) + (f" — {run.message}" if run.message else "")
        with self.hold_sync():
            self.status, self.progress = run.status, text
        self._release()

    def close(self) -> None:
        self._release()
        super().close()


def bundle(finding: Any) -> dict | None:
    """The chart widget's mime bundle where widgets work (the static HTML inside), else None
    (IPython then shows the static HTML)."""
    from ..showing import widgets_available

    if getattr(finding, "_static", False) or not widgets_available():
        return None
    if not (STATIC / "lr_find.js").exists():
        return None
    return widget_bundle(finding, LRFinderWidget)
