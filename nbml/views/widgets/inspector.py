"""The model inspector's widget: the layer table with a sparkline per layer (weight norm;
gradient norm on a log scale; dead fraction) and the flagged layers with their reason, live
while the model trains (docs/inspector.md).

It is a view of one :class:`~nbml.api.inspect.Inspection`. While the inspected model trains in
this kernel, the widget follows that run: each ``inspect`` event of the run (posted by the
training's inspector at every record) sends the records the view has not seen as a ``tick``
message, at most one per ``update_interval`` (a trailing tick follows a burst). The records
are read from the run's own log (``run.inspection``), so none is lost to a subscription that
came late. A view that appears later asks for a ``snapshot`` (``sync``); the ``state`` trait
holds the whole state as of the widget's creation and of the run's end, so a re-rendered view
draws it at once. At most ``max_records`` records are kept (halved, the latest kept, when they
grow past it): what a view holds is bounded however long training runs. A NaN or infinite
statistic travels as ``null`` and shows as "nan"; one that does not apply to a layer (no
weights, activations not known) travels as ``"n/a"`` and leaves its cell empty. Messages
from the view are validated (:mod:`nbml.views.widgets.messages`); a refused one changes
nothing and says why in ``notice``. The static HTML (:mod:`nbml.views.inspection`) is the
widget's ``text/html`` fallback, for saved notebooks and nbconvert exports.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import anywidget
import traitlets as t

from ...core.jsonsafe import json_safe
from ...core.registry import REGISTRY, Event, Run
from ...ml.inspection import STAT_COLUMNS
from ..inspection import inspection_html, inspection_text
from . import STATIC
from .base import Listener, WithStatic, accepted
from .messages import inspector_request

#: One record as it travels: ``[epoch, [[statistic per STAT_COLUMNS] per layer]]``.
Record = list[Any]
#: A statistic that does not apply to a layer, or is not available (``None`` in the record).
NOT_AVAILABLE = "n/a"


def halve(records: list[Record]) -> list[Record]:
    """Every other record, the latest kept."""
    return records[(len(records) - 1) % 2 :: 2]


def wire(epoch: int, rows: list[dict[str, Any]], layers: list[str]) -> Record:
    """A record as it travels: the statistics of each layer of ``layers``, in order: None for
    NaN or inf, :data:`NOT_AVAILABLE` for what the record does not hold."""
    by_layer = {r["layer"]: r for r in rows}
    stats = [[_stat((by_layer.get(name) or {}).get(c)) for c in STAT_COLUMNS] for name in layers]
    return json_safe([epoch, stats])


def _stat(value: Any) -> Any:
    return NOT_AVAILABLE if value is None else value


def followed_run(ins: Any) -> Run | None:
    """The run of this kernel the widget of ``ins`` follows: the inspected run while it
    trains, or the model's run that trains now when ``ins`` is what the model's name gives
    (its latest inspected run, or its layers only: the new run has not recorded yet). An
    earlier run asked for by its id, or a stored run, is shown as it is."""
    record = REGISTRY.get(ins.name)
    run = record.run if record is not None else None
    if run is None or run.status != "running":
        return None
    inspected = [r.id for r in record.runs if r.inspection is not None]
    latest = inspected[-1] if inspected else None
    return run if ins.run_id in (None, run.id, latest) else None


class InspectorWidget(Listener, WithStatic, anywidget.AnyWidget):
    """What ``%inspect NAME`` shows where widgets work; live while the model trains here."""

    _esm = STATIC / "inspector.js"
    _css = STATIC / "inspector.css"

    name = t.Unicode("").tag(sync=True)
    #: The statistics of each record, in the order a record's rows hold them.
    columns = t.List(t.Unicode()).tag(sync=True)
    #: ``{"run", "status", "epochs", "layers", "records", "flags", "notes"}`` as of the
    #: widget's creation, of a new run's first record and of the run's end.
    state = t.Dict().tag(sync=True)
    max_records = t.Int(500).tag(sync=True)
    notice = t.Unicode("").tag(sync=True)

    def __init__(
        self, ins: Any, *, update_interval: float = 0.1, max_records: int = 500, **kwargs: Any
    ) -> None:
        super().__init__(name=ins.name, columns=list(STAT_COLUMNS), max_records=max_records,
                         **kwargs)  # fmt: skip
        self.ins, self.update_interval = ins, update_interval
        self.handle: Any = None
        self._lock = threading.RLock()
        self._last, self._timer, self._ended = 0.0, None, False
        self.run: Run | None = followed_run(ins)
        self._shown = ins.run_id  # the run whose records the view holds
        self._layers = [r["layer"] for r in ins.layer_rows]
        self._records = [wire(e, rows, self._layers) for e, rows in ins.records]
        self._sent = len(ins.records)  # records of the run's log already taken
        while len(self._records) > max_records:
            self._records = halve(self._records)
        self._flags = [vars(f) for f in ins.flags]
        self.state = self._state()
        self.on_msg(self._on_msg)
        if self.run is not None:
            self._listen()
            if self.run.status != "running":  # it ended while we subscribed
                self._end(self.run)

    # ------------------------------------------------------------ state

    def current(self) -> Any:
        """The inspection as it stands now (the followed run's log, once it records)."""
        run = self.run
        if run is not None and run.inspection is not None:
            from ...api.inspect import from_run

            return from_run(self.ins.name, run)
        return self.ins

    def _state(self) -> dict[str, Any]:
        ins = self.current()
        run = self.run if self.run is not None and self.run.id == self._shown else None
        status, notes = (run.status if run is not None else ins.status or ""), dict(ins.notes)
        if self.run is not None and run is None:  # following a run that has not recorded yet
            status = "running"
            notes["stats"] = f"run {self.run.id} trains: its records come at its epochs' ends"
        return json_safe({
            "run": self._shown or "", "status": status,
            "epochs": run.epochs if run is not None else None,
            "layers": list(ins.layer_rows), "records": list(self._records),
            "flags": list(self._flags), "notes": notes,
        })  # fmt: skip

    def _take(self) -> tuple[list[Record], bool]:
        """The followed run's records not taken yet, and whether the view must start afresh
        (the first record of a run other than the one shown)."""
        run = self.run
        log = run.inspection if run is not None else None
        if log is None:
            return [], False
        fresh = run.id != self._shown
        if fresh:
            self._shown, self._sent, self._records = run.id, 0, []
            self._layers = [r["layer"] for r in log.layers]
        records = list(log.records)
        new = [wire(e, rows, self._layers) for e, rows in records[self._sent :]]
        self._sent = len(records)
        self._records.extend(new)
        while len(self._records) > self.max_records:
            self._records = halve(self._records)
        last = records[-1][0] if records else 0
        self._flags = [vars(f) for f in list(log.flags) if f.epoch <= last]
        return new, fresh

    def _push(self) -> None:
        """Send the records the view has not seen (a tick), or the whole state when a new run
        begins to record."""
        with self._lock:
            self._last, self._timer = time.monotonic(), None
            new, fresh = self._take()
            run = self.run
            tick = {
                "type": "tick", "run": self._shown or "", "records": new, "flags": self._flags,
                "status": run.status if run is not None else "",
            }  # fmt: skip
            state = self._state() if fresh else None
        if state is not None:
            self.state = state
        elif new:
            self.send(json_safe(tick))

    # ------------------------------------------------------------ events

    def _on_event(self, event: Event) -> None:
        if event.run is not self.run:
            return
        if event.kind == "end":
            self._end(event.run)
        elif event.kind == "inspect":
            self._schedule()

    def _schedule(self) -> None:
        with self._lock:
            wait = self.update_interval - (time.monotonic() - self._last)
            if wait <= 0:
                self._push()
            elif self._timer is None:  # a trailing tick after a burst
                self._timer = threading.Timer(wait, self._push)
                self._timer.daemon = True
                self._timer.start()

    def _end(self, run: Run) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._take()
            state = self._state()
        self.state = state  # the final state, also what a re-rendered view draws at once
        self._release()
        if self.handle is not None:  # the static HTML of the output: the final table
            self.handle.update(self)

    # ------------------------------------------------------------ messages from the view

    def _on_msg(self, widget: Any, content: Any, buffers: Any) -> None:
        msg = accepted(self, inspector_request, content)
        if msg is None:
            return
        self.notice = ""
        with self._lock:
            snapshot = {"type": "snapshot", **self._state()}
        self.send(json_safe(snapshot))

    def static(self) -> tuple[str, str]:
        ins = self.current()
        return inspection_text(ins), inspection_html(ins)

    def close(self) -> None:
        self._release()
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        super().close()


def bundle(ins: Any) -> dict | None:
    """The inspector widget's mime bundle where widgets work (its static HTML inside), else
    None (IPython then shows the static HTML). While the model trains here, the widget is
    displayed with a handle, so the output's static HTML is the final table once the run
    ends, and the bundle is the inspection's one line (``ins._shown_live`` set)."""
    from ..showing import widgets_available

    if not widgets_available() or not (STATIC / "inspector.js").exists():
        return None
    widget = getattr(ins, "_widget", None)
    if widget is None:
        widget = ins._widget = InspectorWidget(ins)
    if widget.run is not None and not widget._ended:
        from IPython.display import display

        widget.handle = display(widget, display_id=True)
        ins._shown_live = True
        return {"text/plain": repr(ins)}
    data = widget._repr_mimebundle_()
    return data[0] if data else None
