"""A sweep's live state and result: its trials as this kernel sees them, the best one, the study.

A :class:`Sweep` is what ``nbml.sweep`` and ``%%sweep`` return. While the sweep runs it is
observable (:meth:`Sweep.subscribe`): the sweep widget and the sidebar are views of it. Trials of
other kernels on the same study are read from the study (:meth:`Sweep.refresh`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.registry import REGISTRY, Event

#: Optuna's trial states as a sweep shows them.
STATES = {
    "COMPLETE": "complete",
    "PRUNED": "pruned",
    "FAIL": "failed",
    "RUNNING": "running",
    "WAITING": "waiting",
}
#: The sweeps of this kernel, oldest first (the sidebar lists the recent ones).
SWEEPS: list[Sweep] = []
_KEPT = 20

Listener = Callable[[str, Any], None]


@dataclass
class Trial:
    """One trial of a sweep: its number, state, sampled values and objective."""

    number: int
    state: str = "running"
    params: dict[str, Any] = field(default_factory=dict)
    #: The objective at the trial's end (a pruned trial's last reported value).
    value: float | None = None
    #: The objective reported at each epoch.
    values: list[float] = field(default_factory=list)
    #: This kernel's :class:`~nbml.Run` of the trial (None for another kernel's trial).
    run: Any = None
    run_id: str | None = None
    host: str | None = None
    #: Whether this kernel ran it.
    mine: bool = False
    #: Seconds the trial spent in ``fit`` (this kernel's trials).
    fit_seconds: float | None = None
    #: The Dask worker that ran it (a sweep on a cluster), else None.
    worker: str | None = None
    #: Why a failed trial failed, when not its training ("worker lost", "cancelled").
    reason: str = ""

    @property
    def history(self) -> dict[str, list[float]]:
        """Per-epoch logs of the trial's run, where this kernel has them."""
        return dict(self.run.history) if self.run is not None else {}


class Sweep:
    """A hyperparameter sweep: ``trials`` (a DataFrame), ``best_trial``, ``best_params``,
    ``best_run``, ``study`` (the Optuna study), ``status`` and ``message``.

    ``stop()`` ends it after the running trial; ``wait()`` waits for a background sweep.
    """

    def __init__(
        self, name: str, study: Any, objective: str, direction: str, total: int, display: str
    ) -> None:
        self.name, self.study, self.study_name = name, study, study.study_name
        self.objective, self.direction, self.total = objective, direction, total
        self.display = display
        #: Seconds between two live updates of its views.
        self.update_interval = 0.1
        self.status = "running"
        self.message = ""
        self.started, self.ended = time.time(), None
        self.storage = ""
        #: Why the sweep is stopping ("" while it goes on).
        self.stop_reason = ""
        self.done = threading.Event()
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self._rows: dict[int, Trial] = {}
        self._listeners: list[Listener] = []
        self._lock = threading.RLock()
        self._unsubscribe: Any = None
        self._views: dict[str, Any] = {}  # what views keep per sweep (its widget, handle)
        SWEEPS.append(self)
        del SWEEPS[:-_KEPT]

    # ---------------------------------------------------------------- results

    @property
    def rows(self) -> list[Trial]:
        """The trials by number."""
        with self._lock:
            return [self._rows[n] for n in sorted(self._rows)]

    def row(self, number: int) -> Trial | None:
        return self._rows.get(number)

    @property
    def best_trial(self) -> Any:
        """The study's best complete trial (an Optuna ``FrozenTrial``), or None."""
        try:
            return self.study.best_trial
        except ValueError:  # no complete trial yet
            return None

    @property
    def best_params(self) -> dict[str, Any]:
        best = self.best_trial
        return dict(best.params) if best is not None else {}

    @property
    def best_run(self) -> Any:
        """The best trial's run: this kernel's :class:`~nbml.Run`, or the store's record."""
        best = self.best_trial
        if best is None:
            return None
        row = self._rows.get(best.number)
        if row is not None and row.run is not None:
            return row.run
        run_id = (best.user_attrs.get("nbml") or {}).get("run_id")
        if run_id is None:
            return None
        from .. import store

        st = store.current()
        try:
            return st.run(run_id) if st is not None else None
        except Exception:  # another machine's store holds it
            return None

    @property
    def trials(self) -> Any:
        """The trials as a pandas DataFrame: number, state, the objective, each parameter,
        the run id and where it ran."""
        import pandas as pd

        rows = []
        for t in self.rows:
            rows.append(
                {"number": t.number, "state": t.state, self.objective: t.value, **t.params,
                 "run": t.run_id, "host": t.host, "epochs": len(t.values), "worker": t.worker,
                 "reason": t.reason}
            )  # fmt: skip
        return pd.DataFrame(rows)

    def best_row(self) -> Trial | None:
        """The best complete trial this kernel knows of (no storage read: for live views)."""
        done = [t for t in self.rows if t.state == "complete" and t.value is not None]
        if not done:
            return None
        pick = min if self.direction == "minimize" else max
        return pick(done, key=lambda t: t.value)  # type: ignore[arg-type,return-value]

    def counts(self) -> dict[str, int]:
        """How many trials are in each state."""
        out: dict[str, int] = {}
        for t in self.rows:
            out[t.state] = out.get(t.state, 0) + 1
        return out

    def ended_trials(self) -> int:
        """How many trials have ended (complete, pruned or failed)."""
        c = self.counts()
        return sum(c.get(s, 0) for s in ("complete", "pruned", "failed"))

    # ---------------------------------------------------------------- control

    def stop(self, reason: str = "a stop request") -> str:
        """End the sweep after the running trial (finished trials are kept)."""
        if self.done.is_set():
            return f"The sweep of {self.name} has ended ({self.status}); nothing to stop."
        self.stop_reason = self.stop_reason or reason
        self.notify("status", None)
        return f"The sweep of {self.name} ends after the running trial; finished trials are kept."

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the sweep to end; False on timeout."""
        return self.done.wait(timeout)

    def subscribe(self, fn: Listener) -> Callable[[], None]:
        """Call ``fn(kind, data)`` on every change: ``trial`` (a :class:`Trial`), ``epoch``
        (a :class:`Trial` whose values grew), ``status`` and ``end``."""
        with self._lock:
            self._listeners.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._listeners:
                    self._listeners.remove(fn)

        return unsubscribe

    def notify(self, kind: str, data: Any) -> None:
        import logging

        for fn in list(self._listeners):
            try:
                fn(kind, data)
            except Exception:  # a broken view never stops the sweep
                logging.getLogger("nbml").exception("nbml sweep view failed on %s", kind)

    # ----------------------------------------------------------- bookkeeping

    def begin(self, trial: Any) -> Trial:
        """A trial of this kernel starts."""
        from ..store import liveness

        number = trial.number
        with self._lock:
            row = self._rows[number] = Trial(number, mine=True, host=liveness.HOST)
        self.notify("trial", row)
        return row

    def settle(self, row: Trial, state: str, value: float | None = None) -> None:
        row.state, row.value = state, value
        self.notify("trial", row)

    def listen(self) -> None:
        """Follow the epochs of this sweep's trial runs (registry events)."""
        self._unsubscribe = REGISTRY.subscribe(self._on_event)

    def unlisten(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_event(self, event: Event) -> None:
        run = event.run
        params = run.params or {}
        if run.name != self.name or params.get("sweep") != self.study_name:
            return
        row = self._rows.get(params.get("trial"))  # type: ignore[arg-type]
        if row is None or not row.mine:
            return
        if event.kind == "begin":
            row.run, row.run_id = run, run.id
            self.notify("trial", row)
        elif event.kind == "epoch":
            value = (event.data.get("logs") or {}).get(self.objective)
            if value is not None:
                row.values.append(float(value))
            self.notify("epoch", row)

    def refresh(self, trials: list[Any] | None = None) -> None:
        """Read the study's trials (or take ``trials``, just read): other kernels' trials join
        the table, and each trial's state and values are the storage's."""
        changed = []
        if trials is None:
            trials = self.study.get_trials(deepcopy=False)
        for ft in trials:
            state = STATES.get(ft.state.name, ft.state.name.lower())
            row = self._rows.get(ft.number)
            if row is not None and row.mine:
                continue  # this kernel's trials are kept up to date as they run
            value = ft.value if ft.values else None
            values = [ft.intermediate_values[k] for k in sorted(ft.intermediate_values)]
            where = ft.user_attrs.get("nbml") or {}
            new = Trial(
                ft.number, state, dict(ft.params), value, values,
                run_id=where.get("run_id"), host=where.get("host"),
                worker=where.get("worker"), reason=where.get("failed", ""),
            )  # fmt: skip
            seen = (state, value, values, where.get("failed", ""))
            if row is None or (row.state, row.value, row.values, row.reason) != seen:
                with self._lock:
                    self._rows[ft.number] = new
                changed.append(new)
        for row in changed:
            self.notify("trial", row)

    def summary(self) -> str:
        """One line: trials by state, and the best so far (as the rows have it: the live views
        call this at each update, and Optuna's ``best_trial`` reads the storage)."""
        c, done = self.counts(), self.ended_trials()
        parts = [f"{c[s]} {s}" for s in ("running", "complete", "pruned", "failed") if c.get(s)]
        best = self.best_row()
        text = f"sweep {self.study_name}: {done}/{self.total} trials ({', '.join(parts) or 'none'})"
        if best is not None:
            shown = ", ".join(f"{k} {_short(v)}" for k, v in best.params.items())
            text += f"; best #{best.number} {self.objective} {_short(best.value)} ({shown})"
        return text

    def __repr__(self) -> str:
        return f"<Sweep {self.name} {self.status}: {self.summary()}>"


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
