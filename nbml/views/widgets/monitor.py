"""The live training monitor widget: curves, progress, Stop and Retrain.

The widget is a view of the registry: it subscribes to the events of the runs it shows. Live data
goes to the browser as ``tick`` messages holding only new points, at most one per
``update_interval``; a view that appears later asks for a ``snapshot`` of the bounded history.
Batch points are thinned to at most ``points_per_epoch`` per epoch and every curve is halved when
it grows past ``max_points``, so the bytes sent grow with epochs, not batches. A NaN or infinite
value travels as ``null`` (:mod:`nbml.core.jsonsafe`). Messages from the view are validated
(:mod:`nbml.views.widgets.messages`); a refused one changes nothing and says why in ``notice``.
"""

from __future__ import annotations

import html
import threading
import time
from collections import deque
from typing import Any

import anywidget
import traitlets as t

from ...core import rules
from ...core.errors import NbmlError
from ...core.jsonsafe import json_safe
from ...core.registry import REGISTRY, Event, ModelRecord, Run
from ..charts import curves_svg
from ..progress import progress_text
from ..text import STATUS_COLORS, ordered
from . import STATIC
from .base import Listener, WithStatic, accepted
from .messages import monitor_request, retrain_panel, say
from .monitor_sweep import follows, refuse_while_sweeping, sweep_around

Point = list[float]
COLORS = {"train": "#1f77b4", "val": "#ff7f0e"}


def add_points(curve: list[Point], points: list[Point], max_points: int) -> None:
    """Append ``points`` to ``curve``, halving it whenever it grows past ``max_points``."""
    curve.extend(points)
    while len(curve) > max_points:
        curve[:] = curve[::2]


class TrainingMonitor(Listener, WithStatic, anywidget.AnyWidget):
    """Live curves and controls for the runs of one model.

    Example:
        >>> model.fit(x, y, epochs=5, callbacks=[nbml.LiveMonitor()])
    """

    _esm = STATIC / "monitor.js"
    _css = STATIC / "monitor.css"

    name = t.Unicode("").tag(sync=True)
    status = t.Unicode("idle").tag(sync=True)
    epochs = t.Int(0).tag(sync=True)
    metrics = t.List(t.Unicode()).tag(sync=True)
    summary = t.Unicode("").tag(sync=True)
    foreground = t.Bool(False).tag(sync=True)
    #: The Retrain panel: its fields (from ``nbml.core.options.TrainOptions``) and their values.
    fields = t.List().tag(sync=True)
    defaults = t.Dict().tag(sync=True)
    # The bounded curves and header as of the end of the latest run. The output is re-rendered at
    # the end of every run (for its static HTML), and the new view draws these at once instead of
    # waiting for the answer to its ``sync`` message, which a busy kernel gives only after the
    # cells queued behind (a blank monitor until then).
    history = t.Dict().tag(sync=True)
    #: Why the view's last request was refused (a bad Retrain option, a run already going).
    notice = t.Unicode("").tag(sync=True)
    #: A sweep the Sweep choice started is running: Retrain and Sweep wait for its end.
    sweeping = t.Bool(False).tag(sync=True)
    #: How many layers the inspector has flagged in the latest run (the "N layers flagged" link).
    flagged = t.Int(0).tag(sync=True)

    def __init__(
        self,
        name: str,
        *,
        update_interval: float = 0.1,
        max_points: int = 1000,
        points_per_epoch: int = 50,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.update_interval = update_interval
        self.max_points = max_points
        self.points_per_epoch = points_per_epoch
        self.runs: list[dict[str, Any]] = []
        self.header: dict[str, Any] = {}
        self._pending: dict[str, dict[str, dict[str, list[Point]]]] = {}
        self._last_step: dict[str, float] = {}
        self._last_send = 0.0
        self._sent: deque[float] = deque()  # when this second's live messages went out
        self._lock = threading.RLock()
        self._tracked: dict[str, Run] = {}  # the runs this monitor follows, by id
        self._adopt = False
        self._sweep: Any = None  # a sweep the Sweep choice started: the monitor draws its trials
        self.handle: Any = None
        self.on_msg(self._on_msg)
        self._listen()  # from creation until the runs followed have ended

    def _idle(self) -> bool:
        running = any(r.status == "running" for r in self._tracked.values())
        return not self._adopt and self._sweep is None and not running

    # ------------------------------------------------------------ display

    @classmethod
    def show(cls, record: ModelRecord, run: Run, *, foreground: bool) -> TrainingMonitor:
        """Create a monitor following ``run`` of ``record`` and display it."""
        from IPython.display import display

        # the initial state travels in the widget's comm_open: no extra update message
        monitor = cls(record.name, **cls._state(run, record, foreground))
        monitor.track(run, record, foreground=foreground)
        monitor.handle = display(monitor, display_id=True)
        return monitor

    @staticmethod
    def _state(run: Run, record: ModelRecord | None, foreground: bool) -> dict[str, Any]:
        fields, defaults = retrain_panel(run)
        state: dict[str, Any] = {
            "status": "running",
            "epochs": run.epochs,
            "foreground": foreground,
            "fields": json_safe(fields),
            "defaults": json_safe(defaults),
            "flagged": 0,
        }
        if record is not None:
            state["summary"] = _summary(record.model)
        return state

    def track(self, run: Run, record: ModelRecord | None = None, *, foreground: bool) -> None:
        """Follow ``run``: its events feed this monitor."""
        self._listen()
        with self._lock:
            self._tracked[run.id] = run
            p = run.params
            label = f"run {len(self.runs) + 1}"
            if p.get("lr") is not None:
                label += f" (lr {p['lr']:g}, batch {p.get('batch_size')})"
            if p.get("data"):  # rows of a memory-mapped file: "streamed from disk"
                label += f", data {p['data']}"
            self.runs.append({"id": run.id, "label": label, "curves": {}})
            self.header = {"run": run.id, "status": "running", "epoch": 0, "epochs": run.epochs}
            self._pending[run.id] = {"batch": {}, "epoch": {}}
        with self.hold_sync():  # sends only what changed (nothing for a fresh monitor)
            for name, value in self._state(run, record, foreground).items():
                setattr(self, name, value)

    def static(self) -> tuple[str, str]:
        return self.text(), self.static_html()

    def text(self) -> str:
        run = self._latest_run()
        if run is None:
            return f"{self.name}: no run yet"
        return progress_text(run) + (f"\n{run.message}" if run.message else "")

    def static_html(self) -> str:
        """The latest state as HTML with inline SVG curves (no JavaScript needed)."""
        run = self._latest_run()
        head = html.escape(self.text().splitlines()[0]) if run else html.escape(self.name)
        color = STATUS_COLORS.get(self.status, "#777")
        charts = []
        bases = [m for m in self.metrics if not m.startswith("val_")] or ["loss"]
        for metric in bases:
            series = []
            for i, r in enumerate(self.runs):
                alpha = 1.0 if i == len(self.runs) - 1 else 0.3
                for key, kind in ((metric, "train"), (f"val_{metric}", "val")):
                    pts = r["curves"].get(key, {}).get("epoch", [])
                    series.append((key, [tuple(p) for p in pts], COLORS[kind], alpha))
            charts.append(curves_svg(metric, series))
        msg = run.message if run else ""
        return (
            f"<div class='nbml-monitor-static' style='font:12px sans-serif'>"
            f"<div style='border-left:3px solid {color};padding-left:6px'>{head}</div>"
            + (f"<div style='color:{color}'>{html.escape(msg)}</div>" if msg else "")
            + f"<div style='display:flex;flex-wrap:wrap;gap:8px'>{''.join(charts)}</div></div>"
        )

    def _latest_run(self) -> Run | None:
        return self._tracked.get(self.runs[-1]["id"]) if self.runs else None

    # ------------------------------------------------------------ events

    def _on_event(self, event: Event) -> None:
        run = event.run
        if event.kind == "begin" and run.name == self.name and (self._adopt or follows(self, run)):
            self._adopt = False
            record = REGISTRY.get(run.name)
            self.track(run, record, foreground=False)
            self._send_now()
            return
        if run.id not in self._tracked:
            return
        with self._lock:
            pending = self._pending.setdefault(run.id, {"batch": {}, "epoch": {}})
            curves = next(r["curves"] for r in self.runs if r["id"] == run.id)
            if event.kind == "batch":
                self._on_batch(run, event.data, pending, curves)
            elif event.kind == "epoch":
                x = event.data["epoch"] + 1
                for key, value in event.data["logs"].items():
                    self._add(curves, pending, key, "epoch", [[x, float(value)]])
                self.header.update(epoch=run.epoch, progress=rules.progress(run))
                self._learn_metrics(event.data["logs"])
            elif event.kind == "inspect" and run.inspection is not None:
                self.flagged = len({f.layer for f in run.inspection.flags})
            elif event.kind == "end":
                self.header.update(
                    status=run.status, epoch=run.epoch, message=run.message, eta=None
                )
                self.header["progress"] = rules.progress(run)
        if event.kind == "end":
            self._send_now()
            with self.hold_sync():
                self.status = run.status
                self.history = self._history()
            self.refresh()
            if self._idle():
                self._release()  # Retrain listens again
        elif self._has_pending() and self._may_send():
            self._send_now()

    #: Messages kept back from live updates for a run's end (its last tick and final state), so
    #: no second holds more than ``1 / update_interval`` messages, the end included.
    END_MESSAGES = 2

    def _may_send(self) -> bool:
        """Whether a live update may go now: one per ``update_interval``, and room in the
        last second for the end's messages."""
        now = time.monotonic()
        if now - self._last_send < self.update_interval:
            return False
        if self.update_interval <= 0:
            return True
        while self._sent and now - self._sent[0] >= 1.0:
            self._sent.popleft()
        limit = int(1 / self.update_interval + 1e-9)
        reserve = min(self.END_MESSAGES, max(limit - 1, 0))  # at least one update a second
        return len(self._sent) + 1 + reserve <= limit

    def _on_batch(
        self, run: Run, data: dict[str, Any], pending: dict[str, Any], curves: dict[str, Any]
    ) -> None:
        steps = data.get("steps") or 0
        epoch, batch = data["epoch"], data["batch"]
        step = epoch * max(steps, 1) + batch + 1
        gap = max(steps, 1) / self.points_per_epoch if steps else 0
        if steps and step - self._last_step.get(run.id, -gap) < gap:
            return
        self._last_step[run.id] = step
        x = epoch + ((batch + 1) / steps if steps else 0.0)
        for key, value in data["logs"].items():
            self._add(curves, pending, key, "batch", [[x, float(value)]])
        progress = rules.progress(run, batch, steps)
        self.header.update(
            status="running",
            epoch=epoch,
            progress=progress,
            samples_per_s=data.get("samples_per_s"),
            eta=data.get("eta"),
        )
        self._learn_metrics(data["logs"])

    def _add(
        self,
        curves: dict[str, Any],
        pending: dict[str, Any],
        key: str,
        kind: str,
        points: list[Point],
    ) -> None:
        curve = curves.setdefault(key, {"batch": [], "epoch": []})[kind]
        add_points(curve, points, self.max_points)
        add_points(pending[kind].setdefault(key, []), points, self.max_points)

    def _learn_metrics(self, logs: dict[str, Any]) -> None:
        names = [k for k, _ in ordered(logs)]
        if any(n not in self.metrics for n in names):
            self.metrics = [*self.metrics, *[n for n in names if n not in self.metrics]]
            self._sent.append(time.monotonic())  # a trait update is a message too

    def _has_pending(self) -> bool:
        return any(p["batch"] or p["epoch"] for p in self._pending.values())

    def _send_now(self) -> None:
        with self._lock:
            self._last_send = time.monotonic()
            self._sent.append(self._last_send)
            ticks = []
            for rid, pending in self._pending.items():
                if pending["batch"] or pending["epoch"]:
                    label = next(r["label"] for r in self.runs if r["id"] == rid)
                    ticks.append({"type": "tick", "run": rid, "label": label, **pending})
                    self._pending[rid] = {"batch": {}, "epoch": {}}
            if not ticks:
                ticks = [{"type": "tick"}]
            ticks[-1]["header"] = dict(self.header)
            ticks = json_safe(ticks)  # a NaN loss travels as null
        for tick in ticks:
            self.send(tick)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return json_safe({"type": "snapshot", "header": self.header, "runs": self.runs})

    def _history(self) -> dict[str, Any]:
        # a copy (json_safe copies): the curves keep growing in place, and an equal dict would
        # not be synced again
        with self._lock:
            return json_safe({"header": self.header, "runs": self.runs})

    def refresh(self) -> None:
        """Re-render the output so its static HTML fallback shows the latest state."""
        if self.handle is not None:
            self.handle.update(self)

    # ------------------------------------------------------------ messages from the view

    def _on_msg(self, widget: Any, content: Any, buffers: Any) -> None:
        msg = accepted(self, monitor_request, content)
        if msg is None:
            return
        if msg["type"] == "sync":
            self.send(self.snapshot())
        elif msg["type"] == "stop":
            self._stop()
        elif msg["type"] == "sweep":
            sweep_around(self, msg)
        else:
            self.retrain(msg)

    def _stop(self) -> None:
        """Stop the run this monitor follows (never a run of the model started elsewhere)."""
        from ... import api

        running = [r for r in self._tracked.values() if r.status == "running"]
        if not running:
            say(self, "Refused: no run of this monitor is training")
            return
        self.notice = ""
        self.send({"type": "info", "message": api.stop(self.name)})

    def retrain(self, options: dict[str, Any]) -> Run | None:
        """Start a background run of the same model with the panel's options (its ``fields``:
        ``epochs``, ``batch_size``, ``lr``, ...); if they are not valid, say why in ``notice``."""
        from ... import api

        opts = accepted(self, monitor_request, {"type": "retrain", **options})
        if opts is None:
            return None
        if refuse_while_sweeping(self):
            return None
        try:
            self._adopt = True
            self._listen()  # to adopt the new run when it begins
            given = {k: v for k, v in opts.items() if k != "type" and v is not None}
            run = api.train(self.name, **given, background=True, display="none")
        except (NbmlError, ValueError, TypeError, OverflowError) as e:
            self._adopt = False
            if self._idle():
                self._release()
            say(self, str(e))
            return None
        self.notice = ""
        return run

    def close(self) -> None:
        self._release()
        super().close()


def _summary(model: Any) -> str:
    from ..summaries import summary_text

    return summary_text(model)
