"""The JupyterLab sidebar's protocol: comm target ``nbml``, JSON messages, validated.

Every message is ``{"type": ..., "version": 1, ...}`` (``docs/protocol.md``). The kernel
announces itself when nbml loads (it opens a comm to the frontend's ``nbml`` target) and
answers a ``snapshot`` request on a comm the sidebar opens later. Changes are pushed on every
open comm, throttled, also from inside a foreground training (comm messages go out on iopub,
which a busy shell does not block). Incoming messages are validated here: anything malformed
gets an ``error`` reply and changes nothing, and no message can make the kernel run code.

Every message sent is strict JSON: a value that is not finite (a NaN loss) travels as ``null``
(:func:`nbml.core.jsonsafe.json_safe`). A sidebar names itself with a ``client`` key in its
``snapshot`` request; a newer comm with the same key (the same tab after a page reload) replaces
the older one, which the kernel closes, so no push goes out twice to one sidebar. The
announcement comm is closed once a sidebar has opened its own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from numbers import Real
from typing import Any

from ..core import protocol, rules
from ..core.jsonsafe import finite_or_none, json_safe
from ..core.registry import REGISTRY, Event, ModelRecord
from ..core.version import __version__
from ..ml.hardware import process
from .panel_inspector import inspect_push, model_fields

TARGET = "nbml"
VERSION = protocol.VERSION
MAX_BYTES = 4096
#: Request types the frontend may send (:mod:`nbml.core.protocol`): the fields each one needs
#: and those it may have, besides ``type`` and ``version``.
REQUESTS: dict[str, tuple[set[str], set[str]]] = {
    kind: (needs, may) for kind, needs, may in map(protocol.request_fields, protocol.REQUESTS)
}
log = logging.getLogger("nbml")


class InvalidMessage(ValueError):
    """A message from the frontend that does not follow the protocol."""


def check_shape(
    msg: Any, kinds: dict[str, tuple[set[str], set[str]]], version: int | None = None
) -> dict[str, Any]:
    """``msg`` if it is a JSON object of at most :data:`MAX_BYTES` with a known ``type``, exactly
    that type's fields (``kinds``: type -> (required, optional)) and, given ``version``, that
    protocol ``version``; else :class:`InvalidMessage`. The sidebar's requests and the widgets'
    messages (:mod:`nbml.views.widgets.messages`) both take this shape."""
    if not isinstance(msg, dict):
        raise InvalidMessage(f"a message must be a JSON object, not {type(msg).__name__}")
    try:
        size = len(json.dumps(msg, allow_nan=False))
    except (TypeError, ValueError) as e:  # NaN and infinity included: no number field takes them
        raise InvalidMessage(f"a message must be plain JSON with finite numbers: {e}") from None
    if size > MAX_BYTES:
        raise InvalidMessage(f"a message must be at most {MAX_BYTES} bytes, not {size}")
    kind = msg.get("type")
    if not isinstance(kind, str) or kind not in kinds:
        raise InvalidMessage(f"unknown message type {str(kind)[:40]!r}; known: {sorted(kinds)}")
    always = {"type"}
    if version is not None:
        if msg.get("version") != version or isinstance(msg.get("version"), bool):
            raise InvalidMessage(f"unsupported protocol version {str(msg.get('version'))[:20]!r}")
        always.add("version")
    required, optional = kinds[kind]
    extra = sorted(str(k)[:40] for k in msg if k not in required | optional | always)
    if extra:
        raise InvalidMessage(f"unexpected fields {extra} in a {kind!r} message")
    missing = sorted(required - set(msg))
    if missing:
        raise InvalidMessage(f"a {kind!r} message needs {missing}")
    return msg


def validate(msg: Any) -> dict[str, Any]:
    """Return ``msg`` if it is a valid request, else raise :class:`InvalidMessage`."""
    msg = check_shape(msg, REQUESTS, VERSION)
    if "model" in msg and not _short_text(msg["model"]):
        raise InvalidMessage("'model' must be a model name (a string of 1-200 characters)")
    if "client" in msg and not _short_text(msg["client"]):
        raise InvalidMessage("'client' must be a string of 1-200 characters")
    return msg


def _short_text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 200


def model_info(rec: ModelRecord) -> dict[str, Any]:
    """What the sidebar shows of one model."""
    from .sweeps import sweep_info

    run = rec.run
    metrics = dict(run.metrics) if run else {}
    progress = 0.0
    if run:
        batch = None
        if run.status == "running" and run.last_batch:
            _, batch, logs = run.last_batch
            metrics = {**metrics, **{k: finite_or_none(v) for k, v in logs.items()}}
        progress = rules.progress(run, batch, run.steps)
    return {
        "name": rec.name,
        "status": rec.status,
        "epoch": rec.epoch,
        "epochs": rec.epochs,
        "progress": finite_or_none(progress),
        # a NaN or infinite metric travels as null (the sidebar shows "nan")
        "metrics": {
            k: finite_or_none(v) for k, v in metrics.items() if v is None or isinstance(v, Real)
        },
        "elapsed": finite_or_none(round(rec.duration, 3)),
        "params": rec.params,
        "device": rec.device,
        "cell": rec.cell,
        "foreground": bool(run and run.foreground),
        "run": run.id if run else None,
        # the run's own word (running/finished/stopped/failed), which the panel shows so that it
        # says what the monitor and %runs say for that run; None for a model without runs
        "run_status": run.status if run else None,
        "message": run.message if run else "",
        # the sweep this run is a trial of: its trials' progress and best so far (or None)
        "sweep": sweep_info(rec.name, run),
        # the latest inspected run and its flags (the panel's inspector, the monitor's link)
        **model_fields(rec),
    }


class SidebarChannel:
    """The kernel side of the sidebar protocol: open comms, pushes and requests."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.comms: dict[str, Any] = {}
        self._changed: set[str] = set()
        self._last_push = 0.0
        self._event_time = 0.0
        self._devices_due = False
        self._lock = threading.RLock()
        self._unsubscribe: Any = None
        self._manager: Any = None
        #: The newest comm of each sidebar that named itself (``client`` in its snapshot).
        self.clients: dict[str, str] = {}
        self._announce: str | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Register the comm target, subscribe to the registry and announce this kernel."""
        from comm import create_comm, get_comm_manager

        self._manager = get_comm_manager()
        self._manager.register_target(TARGET, self._on_open)
        self._unsubscribe = REGISTRY.subscribe(self._on_event)
        try:
            announce = create_comm(target_name=TARGET, data=json_safe(self.hello()))
        except Exception:  # no frontend to announce to (terminal IPython)
            return
        self._announce = announce.comm_id
        self._adopt(announce)

    def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        if self._manager is not None:
            self._manager.unregister_target(TARGET, self._on_open)
        with self._lock:
            comms = list(self.comms.values())
            self.comms.clear()
            self.clients.clear()
        for c in comms:
            with contextlib.suppress(Exception):  # already closed by the frontend
                c.close()

    def _adopt(self, c: Any, client: str | None = None) -> None:
        """Keep ``c`` open; a ``client`` key replaces (closes) that client's older comm."""
        with self._lock:
            old = self.comms.get(self.clients.get(client, "")) if client else None
            self.comms[c.comm_id] = c
            if client:
                self.clients[client] = c.comm_id
        c.on_msg(lambda msg, c=c: self.receive(c, msg["content"]["data"]))
        c.on_close(lambda msg, c=c: self._forget(c.comm_id))
        if old is not None and old is not c:
            self._close(old, "replaced", "a newer comm of the same client replaced this one")

    def _forget(self, comm_id: str) -> None:
        with self._lock:
            self.comms.pop(comm_id, None)
            for key in [k for k, v in self.clients.items() if v == comm_id]:
                del self.clients[key]
            if self._announce == comm_id:
                self._announce = None

    def _close(self, c: Any, reason: str, message: str) -> None:
        """Close ``c`` from the kernel's side, saying why (the frontend hears a comm_close)."""
        self._forget(c.comm_id)
        data = {"type": "closed", "version": VERSION, "reason": reason, "message": message}
        with contextlib.suppress(Exception):  # the frontend is gone already
            c.close(data=data)

    def _on_open(self, c: Any, open_msg: dict[str, Any]) -> None:
        data = open_msg["content"].get("data")
        try:
            client = validate(data).get("client")
        except InvalidMessage:
            client = None  # receive() answers with the error
        self._adopt(c, client)
        # a sidebar has its own comm now: the announcement (sent to every frontend) is done
        announce = self.comms.get(self._announce or "")
        if announce is not None and announce is not c:
            self._close(announce, "announced", "a sidebar opened its own comm")
        self.receive(c, data)

    # ------------------------------------------------------------ messages

    def hello(self) -> dict[str, Any]:
        """The full state: versions, devices, host, every model."""
        return {"type": "hello", "version": VERSION, **about(), "time": time.time()}

    def receive(self, c: Any, data: Any) -> None:
        """Answer one message from the frontend; invalid ones get an ``error`` reply."""
        try:
            msg = validate(data)
        except InvalidMessage as e:
            c.send(json_safe({"type": "error", "version": VERSION, "error": str(e)}))
            return
        c.send(json_safe(self.answer(msg)))

    def answer(self, msg: dict[str, Any]) -> dict[str, Any]:
        """The reply to a valid request."""
        kind = msg["type"]
        if kind == "snapshot":
            return self.hello()
        rec = REGISTRY.get(msg["model"])
        if rec is None:
            return {
                "type": "error",
                "version": VERSION,
                "request": kind,
                "error": f"no model named {msg['model'][:80]!r} in this kernel",
            }
        if kind == "inspect":
            from .panel_inspector import inspection_msg

            return inspection_msg(rec)
        if kind == "stop":
            from ..api import stop

            return {
                "type": "ack",
                "version": VERSION,
                "request": "stop",
                "model": rec.name,
                "message": stop(rec.name),
            }
        from .summaries import summary_rows

        rows = summary_rows(rec.model)
        return {
            "type": "summary",
            "version": VERSION,
            "model": rec.name,
            "layers": [{"name": n, "type": t, "shape": s, "params": p} for n, t, s, p in rows],
            "total": rec.params,
        }

    # ------------------------------------------------------------ pushes

    def _on_event(self, event: Event) -> None:
        with self._lock:
            self._changed.add(event.run.name)
            self._event_time = event.time
            if event.kind == "inspect":  # a new inspector record: at once, on every comm
                self._send_all(inspect_push(event))
            # the devices' memory in use is asked again after every epoch
            self._devices_due |= event.kind == "epoch"
            urgent = event.kind in ("begin", "end", "sweep")
            if not urgent and time.monotonic() - self._last_push < self.interval:
                return
            self.push(with_devices=urgent or self._devices_due)

    def push(self, with_devices: bool = False) -> None:
        """Send the changed models to every open comm."""
        with self._lock:
            names, self._changed = self._changed, set()
            self._last_push = time.monotonic()
            models = [model_info(r) for n in names if (r := REGISTRY.get(n)) is not None]
            msg = {
                "type": "models",
                "version": VERSION,
                "models": models,
                "time": self._event_time or time.time(),
            }
            if with_devices:
                msg.update(_backend())
                self._devices_due = False
            self._send_all(msg)

    def _send_all(self, msg: dict[str, Any] | None) -> None:
        if msg is None:
            return
        msg = json_safe(msg)
        for c in list(self.comms.values()):
            try:
                c.send(msg)
            except Exception:  # a closed comm; the frontend went away
                log.debug("nbml comm %s is gone", getattr(c, "comm_id", "?"))


def about(
    host: dict[str, Any] | None = None,
    backend: dict[str, Any] | None = None,
    model: Callable[[ModelRecord], dict[str, Any]] = model_info,
) -> dict[str, Any]:
    """What this kernel says of itself, to a sidebar (``hello``) and to the Jupyter server (its
    presence snapshot, :mod:`nbml.views.presence`): nbml's version, the pid, the host (or
    ``host``), the backend and devices (or ``backend``: see :func:`backend_info`) and every
    model (each as ``model`` describes it)."""
    from ..ml.hardware import host as this_host

    return {
        "nbml": __version__,
        "pid": os.getpid(),
        "host": host if host is not None else vars(this_host()),
        **(backend if backend is not None else backend_info()),
        "store": _store_path(),
        "models": [model(r) for r in REGISTRY.records()],
    }


def _store_path() -> str | None:
    """The folder of the attached run store (the server reads stored inspector records there)."""
    from .. import store

    attached = store.current()
    return attached.path if attached is not None else None


def backend_info() -> dict[str, Any]:
    """``backend``, ``keras`` and ``devices``: Keras's once it is imported; before, the chosen
    backend's name and nulls (nbml never imports Keras just to say so)."""
    if "keras" not in sys.modules:
        return {
            "backend": os.environ.get("KERAS_BACKEND"),
            "keras": None,
            "devices": None,
            "process": vars(process()),
        }
    return _backend()


def _backend() -> dict[str, Any]:
    try:
        import keras

        from ..ml.hardware import devices

        return {
            "backend": keras.backend.backend(),
            "keras": keras.__version__,
            "devices": [vars(d) for d in devices()],
            "process": vars(process()),
        }
    except Exception as e:  # a backend that cannot list its devices
        return {
            "backend": None,
            "keras": None,
            "devices": None,
            "devices_error": str(e)[:200],
            "process": vars(process()),
        }


CHANNEL: SidebarChannel | None = None
