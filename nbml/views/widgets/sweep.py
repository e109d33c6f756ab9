"""The live sweep widget: the trials table, the objective by trial (with the best so far) and
against each hyperparameter, a trial's curves on click, and Stop.

It is a view of a :class:`~nbml.training.sweeps.Sweep` (it subscribes to its changes). The
trials travel as one synced list, re-sent at most once per ``update_interval`` (a trailing
update follows a burst): the state a view holds is bounded by the number of trials, each row
keeping the objective per epoch. Messages from the view (Stop, a trial click) are validated
like the monitor's (:mod:`nbml.views.widgets.messages`); a refused one changes nothing and says
why in ``notice``. A NaN travels as ``null``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import anywidget
import traitlets as t

from ...core.jsonsafe import json_safe
from ..sweeps import param_names, sweep_html, sweep_text
from . import STATIC
from .base import Listener, WithStatic, accepted
from .messages import check_shape, say, whole

#: Messages the view may send: type -> (required fields, optional fields).
SWEEP_MESSAGES: dict[str, tuple[set[str], set[str]]] = {
    "stop": (set(), set()),
    "select": ({"trial"}, set()),
}
MAX_TRIALS = 10**7


def sweep_request(msg: Any) -> dict[str, Any]:
    """A valid sweep-widget message: ``stop``, or ``select`` with a trial number."""
    msg = check_shape(msg, SWEEP_MESSAGES)
    if msg["type"] == "select":
        return {"type": "select", "trial": whole(msg, "trial", 0, MAX_TRIALS)}
    return msg


def _row(trial: Any) -> dict[str, Any]:
    return {
        "number": trial.number, "state": trial.state, "params": trial.params,
        "value": trial.value, "values": list(trial.values), "run": trial.run_id or "",
        "mine": trial.mine, "worker": trial.worker or "", "reason": trial.reason,
    }  # fmt: skip


class SweepWidget(Listener, WithStatic, anywidget.AnyWidget):
    """What ``%%sweep`` shows where widgets work; a view of one :class:`Sweep`."""

    _esm = STATIC / "sweep.js"
    _css = STATIC / "sweep.css"

    name = t.Unicode("").tag(sync=True)
    objective = t.Unicode("val_loss").tag(sync=True)
    direction = t.Unicode("minimize").tag(sync=True)
    status = t.Unicode("running").tag(sync=True)
    total = t.Int(0).tag(sync=True)
    summary = t.Unicode("").tag(sync=True)
    message = t.Unicode("").tag(sync=True)
    params = t.List(t.Unicode()).tag(sync=True)
    trials = t.List().tag(sync=True)
    #: The clicked trial's curves: ``{"trial": n, "history": {metric: [[epoch, value], ...]}}``.
    curves = t.Dict().tag(sync=True)
    notice = t.Unicode("").tag(sync=True)

    def __init__(self, sweep: Any, update_interval: float = 0.1, **kwargs: Any) -> None:
        super().__init__(
            name=sweep.name, objective=sweep.objective, direction=sweep.direction,
            total=sweep.total, **kwargs,
        )  # fmt: skip
        self.sweep = sweep
        self.update_interval = update_interval
        self.selected: int | None = None
        self._lock = threading.RLock()
        self._last = 0.0
        self._timer: threading.Timer | None = None
        self._push()
        if not sweep.done.is_set():
            self._listen()
        self.on_msg(self._on_msg)

    def _subscribe(self) -> Callable[[], None]:
        return self.sweep.subscribe(self._on_change)

    # ------------------------------------------------------------ state

    def _push(self) -> None:
        """Send the sweep's current state (one message for all traits that changed)."""
        sw = self.sweep
        with self._lock:
            self._last = time.monotonic()
            self._timer = None
            rows = json_safe([_row(r) for r in sw.rows])
            with self.hold_sync():
                self.trials = rows
                self.params = param_names(sw)
                self.status = sw.status if sw.done.is_set() else "running"
                self.summary = sw.summary()
                self.message = sw.message
                if self.selected is not None:
                    self.curves = self._curves(self.selected)

    def _on_change(self, kind: str, data: Any) -> None:
        if kind == "end":
            self._push()
            self.refresh()
            self._release()
            return
        with self._lock:
            wait = self.update_interval - (time.monotonic() - self._last)
            if wait <= 0:
                self._push()
            elif self._timer is None:  # a trailing update after a burst
                self._timer = threading.Timer(wait, self._push)
                self._timer.daemon = True
                self._timer.start()

    def _curves(self, number: int) -> dict[str, Any]:
        """A trial's per-epoch curves: its run's history (this kernel's run, or the store's
        record), else the objective it reported."""
        row = self.sweep.row(number)
        if row is None:
            return {}
        history = row.history or _stored_history(row.run_id)
        if not history and row.values:
            history = {self.sweep.objective: row.values}
        curves = {k: [[i + 1, v] for i, v in enumerate(vs)] for k, vs in history.items()}
        return json_safe({"trial": number, "history": curves})

    def refresh(self) -> None:
        """Re-render the output so its static HTML shows the latest state."""
        handle = self.sweep._views.get("handle")
        if handle is not None:
            handle.update(self)

    # ------------------------------------------------------------ messages from the view

    def _on_msg(self, widget: Any, content: Any, buffers: Any) -> None:
        msg = accepted(self, sweep_request, content)
        if msg is None:
            return
        if msg["type"] == "stop":
            if self.sweep.done.is_set():
                say(self, f"Refused: the sweep has ended ({self.sweep.status})")
                return
            say(self, self.sweep.stop("a Stop click"))
            return
        if self.sweep.row(msg["trial"]) is None:
            say(self, f"Refused: no trial {msg['trial']} in this sweep")
            return
        self.selected = msg["trial"]
        self.curves = self._curves(msg["trial"])

    def static(self) -> tuple[str, str]:
        return sweep_text(self.sweep), sweep_html(self.sweep)


def _stored_history(run_id: str | None) -> dict[str, list[float]]:
    if not run_id:
        return {}
    from ... import store

    st = store.current()
    try:
        return st.run(run_id).history if st is not None else {}
    except Exception:  # another machine's store holds it
        return {}


class SweepText(Listener):
    """Where widgets do not work: the static table, re-rendered after each trial."""

    def __init__(self, sweep: Any) -> None:
        self.sweep = sweep
        self._listen()

    def _subscribe(self) -> Callable[[], None]:
        return self.sweep.subscribe(self._on_change)

    def _on_change(self, kind: str, data: Any) -> None:
        done = kind == "end" or (kind == "trial" and data.state != "running")
        handle = self.sweep._views.get("handle")
        if done and handle is not None:
            handle.update(self)
        if kind == "end":
            self._release()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, str]:
        return static_bundle(self.sweep)


def static_bundle(sweep: Any) -> dict[str, str]:
    return {"text/plain": sweep_text(sweep), "text/html": sweep_html(sweep)}


def bundle(sweep: Any) -> dict[str, Any] | None:
    """The mime bundle of a sweep: the first time in a cell, its live widget (or, with widgets
    off, its table, re-rendered after each trial); shown again in the same cell (the cell's
    result), one line."""
    from IPython import get_ipython

    from ..showing import widgets_available

    shell = get_ipython()
    cell = shell.execution_count if shell is not None else None
    if cell is not None and sweep._views.get("cell") == cell:
        return {"text/plain": sweep_text(sweep).splitlines()[0]}
    sweep._views["cell"] = cell
    live = widgets_available() and (STATIC / "sweep.js").exists()
    if sweep.display in ("auto", "widget") and live:
        widget = SweepWidget(sweep, update_interval=sweep.update_interval)
        sweep._views["widget"] = widget
        shown = widget._repr_mimebundle_()
        return shown[0] if shown else None
    if not sweep.done.is_set():
        sweep._views["text"] = SweepText(sweep)
    return static_bundle(sweep)
