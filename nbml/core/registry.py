"""The one observable place that holds this kernel's models and runs.

Training publishes :class:`Event` objects here; views (the progress display, widgets,
the sidebar) subscribe. Nothing in this module imports Keras.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import NbmlError
from .views_thread import ViewsThread

#: Run states: ``running`` while fit runs, then one of the three ends.
RUN_STATES = ("running", "finished", "stopped", "failed")


@dataclass
class Run:
    """One training of one model: hyperparameters, per-epoch history, outcome."""

    id: str
    name: str
    params: dict[str, Any]
    data: str
    epochs: int
    status: str = "running"
    epoch: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    ended: float | None = None
    message: str = ""
    samples: int = 0
    #: Set by an interrupt, ``%stop`` or a Stop click: stop at the next batch boundary.
    stop_requested: bool = False
    #: Who asked for the stop, for the message: "interrupt" or "a stop request".
    stop_reason: str = "interrupt"
    #: True while fit runs on the kernel's main thread (a stop then needs an interrupt).
    foreground: bool = True
    #: Batches per epoch, once known.
    steps: int | None = None
    #: The latest throttled batch logs: ``(epoch, batch, logs)``.
    last_batch: tuple[int, int, dict[str, float]] | None = None
    #: The inspector's log of this run (``nbml.training.inspector.Log``), if it records.
    inspection: Any = field(default=None, repr=False, compare=False)
    #: Set once the run's ``end`` has been heard by every subscriber (the store's model save
    #: included): until then its model is busy (:meth:`Registry.busy`).
    done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def duration(self) -> float:
        """Seconds from start to end (or to now while running)."""
        return (self.ended or time.time()) - self.started

    def __repr__(self) -> str:
        return describe(self)


def describe(run: Any) -> str:
    """``<Run id name: status, epoch 3/10, loss 0.31>`` for a :class:`Run` or a stored run."""
    last = ", ".join(f"{k} {v:.4g}" for k, v in run.metrics.items())
    return (
        f"<{type(run).__name__} {run.id} {run.name}: {run.status}, epoch {run.epoch}/{run.epochs}"
        + (f", {last}" if last else "")
        + ">"
    )


@dataclass
class ModelRecord:
    """A model known to this kernel, with its runs and the data it was trained on."""

    name: str
    model: Any
    dataset: Any = None
    task: Any = None
    runs: list[Run] = field(default_factory=list)
    status: str = "idle"
    #: The cell (execution count) that last trained the model, when known.
    cell: int | None = None
    #: Whether the model outputs logits (no softmax/sigmoid at the end).
    from_logits: bool = False
    #: The normalisation nbml placed inside the model.
    normalize: str = "none"
    device: str = ""
    #: Whether the user compiled the model (it then keeps its own ``steps_per_execution``).
    user_compiled: bool = False
    #: Makes the model afresh for ``--reset``, when nbml knows what built it (a ``%%train``
    #: cell's body): ``fresh(seed, dataset)`` (see ``nbml.training.resets``).
    fresh: Callable[..., Any] | None = None

    @property
    def run(self) -> Run | None:
        return self.runs[-1] if self.runs else None

    @property
    def epoch(self) -> int:
        return self.run.epoch if self.run else 0

    @property
    def epochs(self) -> int:
        return self.run.epochs if self.run else 0

    @property
    def history(self) -> dict[str, list[float]]:
        return self.run.history if self.run else {}

    @property
    def metrics(self) -> dict[str, float]:
        return self.run.metrics if self.run else {}

    @property
    def duration(self) -> float:
        return self.run.duration if self.run else 0.0

    @property
    def params(self) -> int:
        try:
            return int(self.model.count_params())
        except Exception:  # an unbuilt model has no parameter count yet
            return 0

    def __repr__(self) -> str:
        return f"<ModelRecord {self.name}: {self.status}, epoch {self.epoch}/{self.epochs}>"


@dataclass
class Event:
    """Something that happened to a run: ``show`` (registered, to be shown: see
    :func:`announce`), ``begin``, ``batch``, ``epoch`` or ``end``."""

    kind: str
    run: Run
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)


Subscriber = Callable[[Event], None]

#: Subscriber orders (:meth:`Registry.subscribe`): who hears an event first.
RECORD_FIRST = 0  #: the run store records a run's start and epochs before views show them
VIEWS = 50  #: monitors, the sidebar, sweeps: the default
SAVE_LAST = 100  #: the run store saves a run's end and model once every view has heard it


class Registry:
    """Models and runs of this kernel, and the observers that watch them."""

    def __init__(self) -> None:
        self._models: dict[str, ModelRecord] = {}
        #: (order, arrival, subscriber), kept sorted: the order in which events are heard.
        self._subscribers: list[tuple[int, int, Subscriber]] = []
        self._shows: list[Subscriber] = []
        self._arrivals = itertools.count()
        #: Models being set up for a run (:meth:`claim`): (name, model) pairs.
        self._claims: list[tuple[str, Any]] = []
        self._lock = threading.RLock()
        self._counter = itertools.count(1)
        self._views = ViewsThread(self.publish)

    def get(self, name: str) -> ModelRecord | None:
        return self._models.get(name)

    def put(self, record: ModelRecord) -> None:
        with self._lock:
            self._models[record.name] = record

    def remove(self, name: str) -> None:
        with self._lock:
            self._models.pop(name, None)

    def names(self) -> list[str]:
        return list(self._models)

    def records(self) -> list[ModelRecord]:
        return list(self._models.values())

    def busy(self, model: Any = None, name: str | None = None) -> tuple[ModelRecord, Run] | None:
        """The record and run that hold ``model`` (or the model ``name``) right now, if any.

        A model is busy from the moment a run of it is registered until that run's ``end`` has
        been heard by every subscriber. The same model object under two names is one model,
        and so is a model that wraps it (nbml's preprocessing) or that it wraps.
        """
        named = self._models.get(name) if name is not None else None
        targets = [m for m in (model, named.model if named else None) if m is not None]
        for rec in self.records():
            run = rec.run
            if run is None or run.done.is_set():
                continue
            if (named is not None and rec is named) or any(_same(rec.model, m) for m in targets):
                return rec, run
        return None

    def ensure_free(
        self, name: str, model: Any = None, *, action: str = "use it", wait: bool = False
    ) -> None:
        """Return once the model ``name`` (or ``model``) is not busy (:meth:`busy`).

        A run that has ended but whose end is still being published (its model being saved)
        takes a moment: that is always waited for. A run still training is waited for with
        ``wait``; otherwise, and for a foreground run on this very thread, :class:`NbmlError`
        names ``%stop`` and ``--wait``.
        """
        held = self.busy(model, name)
        if held is None:
            return
        rec, run = held
        here = run.foreground and threading.current_thread() is threading.main_thread()
        if here and run.status != "running":
            return  # called while this thread publishes the run's end: nothing to wait for
        if run.status == "running":
            same = "" if rec.name == name else f"{name} is the same model as {rec.name}, and "
            if not wait or here:
                raise NbmlError(
                    f"{same}{rec.name} is busy training (run {run.id}, epoch "
                    f"{run.epoch}/{run.epochs}): to {action} now would read weights that are "
                    f"changing. Stop it with %stop {rec.name}, or add --wait to {action} once "
                    "the run ends."
                )
        try:
            while not run.done.wait(0.2):
                pass
        except KeyboardInterrupt:
            raise NbmlError(
                f"Stopped waiting for {rec.name}, which is still training (%stop {rec.name} "
                "stops it)."
            ) from None

    @contextlib.contextmanager
    def claim(
        self, name: str, model: Any = None, *, action: str = "use it", wait: bool = False
    ) -> Iterator[None]:
        """Hold the model ``name`` (or ``model``) for a run being set up: checking that it is
        free (:meth:`ensure_free`) and taking it are one step, so two requests to train one
        model at once (a Retrain click and a sweep's next trial) never both start. Register
        the run inside the block: it holds the model from then on. A model claimed by another
        thread is busy: :class:`NbmlError`, or with ``wait`` a wait for the claim to end."""
        while True:
            self.ensure_free(name, model, action=action, wait=wait)
            with self._lock:
                named = self._models.get(name)
                mine = (name, model if model is not None else getattr(named, "model", None))
                if self.busy(model, name) is None and not self._claimed(*mine):
                    self._claims.append(mine)
                    break
            if not wait:
                raise NbmlError(
                    f"{name} is busy: another training of it is starting (a Retrain click or a "
                    f"sweep's trial). Wait for it, %stop {name}, or add --wait to {action} "
                    "once it ends."
                )
            time.sleep(0.05)
        try:
            yield
        finally:
            with self._lock:
                self._claims.remove(mine)

    def _claimed(self, name: str, model: Any) -> bool:
        return any(
            n == name or (model is not None and m is not None and _same(m, model))
            for n, m in self._claims
        )

    def new_run_id(self) -> str:
        return uuid.uuid4().hex[:12]

    def subscribe(
        self, fn: Subscriber, *, order: int | None = None, shows: bool = False
    ) -> Callable[[], None]:
        """Call ``fn(event)`` for every published event; returns an unsubscribe function.

        Subscribers hear each event by ``order`` (:data:`RECORD_FIRST`, :data:`VIEWS`, the
        default, then :data:`SAVE_LAST`), and in the order they subscribed within one order,
        whenever each subscribed: the run store records an epoch before any view shows it,
        and saves a run's model after every view has heard its end, even when it is attached
        again after the views. ``shows`` subscribers (the views layer's presenter) hear only
        the ``show`` events of :func:`announce`, on the announcing thread; the others never
        hear those.
        """
        entry = (VIEWS if order is None else order, next(self._arrivals), fn)
        with self._lock:
            if shows:
                self._shows.append(fn)
            else:
                self._subscribers.append(entry)
                self._subscribers.sort(key=lambda e: e[:2])

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._shows:
                    self._shows.remove(fn)
                if entry in self._subscribers:
                    self._subscribers.remove(entry)

        return unsubscribe

    def subscribed(self, fn: Subscriber) -> bool:
        """Whether ``fn`` hears published events now."""
        with self._lock:
            return any(e[2] == fn for e in self._subscribers)

    def post(self, event: Event, *, wait: bool = False) -> None:
        """Hand ``event`` to the views thread, which publishes it (order kept) in the context
        (the cell's output routing) of the caller; returns at once, or once it is published
        with ``wait``. Training posts, so a slow view never slows training
        (docs/reference.md#steps-per-execution)."""
        self._views.post(event, contextvars.copy_context(), wait)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every posted event has been published; False on timeout."""
        return self._views.drain(timeout)

    def publish(self, event: Event) -> None:
        with self._lock:
            group = list(self._shows) if event.kind == "show" else [e[2] for e in self._subscribers]
        for fn in group:
            try:
                fn(event)
            except Exception:  # a broken view must never stop training
                import logging

                logging.getLogger("nbml").exception("nbml view failed on %s", event.kind)


def _same(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are one model: the same object, or one a layer of the other."""
    if a is b:
        return True
    return any(layer is b for layer in getattr(a, "layers", ())) or any(
        layer is a for layer in getattr(b, "layers", ())
    )


REGISTRY = Registry()


def announce(
    record: ModelRecord,
    run: Run,
    display: str,
    *,
    foreground: bool,
    registry: Registry | None = None,
) -> None:
    """Publish a run's ``show`` event on this thread, before it trains: the views layer shows
    it (``display``: auto, widget, text or none) in the output of the cell that started it.
    A view that fails to show it is logged and training goes on (see :meth:`Registry.publish`).
    """
    data = {"record": record, "display": display, "foreground": foreground}
    (registry or REGISTRY).publish(Event("show", run, data))
