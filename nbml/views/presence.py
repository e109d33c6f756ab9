"""This kernel's presence: a snapshot of its models for the Jupyter server, and stop requests.

The "Models" panel hears a document's kernel over that document's own comm
(:mod:`nbml.views.comm`). A kernel whose notebook is open in another Notebook 7 tab, or closed
while it still runs, has no document in the panel's application, so the panel asks the Jupyter
server instead (``GET /nbml/kernels``, :mod:`nbml.server`), which reads what each kernel reports
here: a file ``<runtime dir>/nbml/<kernel id>.json`` (:mod:`nbml.core.presence`).

A registry subscriber (on the views thread, never the training thread) marks the snapshot out of
date; the reporter's own thread rewrites it at most every ``interval`` seconds, at once when a
run begins or ends, and picks up stop requests (``POST /nbml/kernels/<id>/stop``) every
``poll`` seconds, calling :func:`nbml.stop`. The file is removed when nbml unloads or the kernel
exits. ``docs/notebook7.md`` has the message flow.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import time
from typing import Any

from ..core import presence
from ..core.errors import NbmlError
from ..core.jsonsafe import json_safe
from ..core.registry import REGISTRY, Event

log = logging.getLogger("nbml")
#: How many stop answers the snapshot keeps (newest last).
ANSWERS = 8


def connection_file() -> str | None:
    """This kernel's connection file, or None outside an ipykernel (terminal IPython)."""
    app = sys.modules.get("ipykernel.kernelapp")
    if app is None or not app.IPKernelApp.initialized():
        return None
    try:
        return str(app.IPKernelApp.instance().abs_connection_file)
    except Exception:  # an app without a connection file
        return None


class PresenceReporter:
    """Writes this kernel's snapshot while models change and serves stop requests."""

    def __init__(self, connection_file: str, interval: float = 0.5, poll: float = 0.25) -> None:
        self.dir = os.path.dirname(os.path.abspath(connection_file))
        kernel = presence.kernel_id(connection_file)
        if kernel is None:
            raise ValueError(f"no kernel id in the connection file name {connection_file!r}")
        self.kernel = kernel
        self.interval = interval
        self.poll = poll
        self.answers: list[dict[str, Any]] = []
        self._wake = threading.Condition()
        self._dirty = True
        self._urgent = True
        self._updated = time.time()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._unsubscribe: Any = None
        self._backend: dict[str, Any] = {}
        self._host: dict[str, Any] | None = None

    def start(self) -> None:
        self._unsubscribe = REGISTRY.subscribe(self._on_event)
        self._thread = threading.Thread(target=self._loop, name="nbml-presence", daemon=True)
        self._thread.start()
        atexit.register(self.stop)

    def stop(self) -> None:
        """Stop reporting and remove the snapshot (the server then lists no nbml here)."""
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        presence.remove_snapshot(self.dir, self.kernel)
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def _on_event(self, event: Event) -> None:
        with self._wake:
            self._dirty = True
            self._updated = event.time
            if event.kind in ("begin", "end"):
                self._urgent = True
                self._backend = {}  # devices may have changed: asked again at the next write
            self._wake.notify()

    def _loop(self) -> None:
        last = 0.0
        while True:
            with self._wake:
                if self._stopping:
                    return
                wait = self.poll
                if self._dirty:
                    left = 0.0 if self._urgent else last + self.interval - time.monotonic()
                    wait = min(wait, max(left, 0.0))
                if wait > 0:
                    self._wake.wait(wait)
                if self._stopping:
                    return
            try:
                self._serve_requests()
                with self._wake:
                    due = self._dirty and (self._urgent or time.monotonic() - last >= self.interval)
                    if due:
                        self._dirty = self._urgent = False
                if due:
                    last = time.monotonic()
                    self.write()
            except Exception:  # a full disk: the panel is behind, the kernel goes on
                log.debug("nbml presence: could not report", exc_info=True)
                time.sleep(self.poll)

    def snapshot(self) -> dict[str, Any]:
        """What the server hands to panels: what a sidebar's ``hello`` says (versions, devices,
        every model of this kernel), with each run's start time and the stop answers."""
        from .comm import about, backend_info, model_info

        def model(rec: Any) -> dict[str, Any]:  # (started: for the 2 s budget's test)
            return {**model_info(rec), "started": rec.run.started if rec.run else None}

        if self._host is None:
            from ..ml.hardware import host

            self._host = vars(host())
        if "keras" in sys.modules and not self._backend:  # asked again after a run's begin/end
            self._backend = backend_info()
        state = about(self._host, self._backend or None, model)
        return json_safe(
            {
                "version": presence.VERSION,
                "kernel": self.kernel,
                **state,
                "answers": self.answers[-ANSWERS:],
                "updated": self._updated,
                "time": time.time(),
            }
        )

    def write(self) -> None:
        presence.write_snapshot(self.dir, self.kernel, self.snapshot())

    def _serve_requests(self) -> None:
        taken = presence.take_requests(self.dir, self.kernel)
        for token, request in taken:
            if request is None:
                answer = {"token": token, "error": "not a valid stop request"}
            else:
                answer = {"token": token, "model": request["model"], **_stop(request["model"])}
            self.answers.append({**answer, "time": time.time()})
        if taken:
            del self.answers[:-ANSWERS]
            with self._wake:
                self._dirty = self._urgent = True


def _stop(name: str) -> dict[str, str]:
    if REGISTRY.get(name) is None:
        return {"error": f"no model named {name[:80]!r} in this kernel"}
    from .. import api

    try:
        return {"message": api.stop(name)}
    except NbmlError as e:
        return {"error": str(e)}


REPORTER: PresenceReporter | None = None


def start() -> PresenceReporter | None:
    """Start reporting this kernel's presence (``%load_ext nbml``); None outside a kernel."""
    global REPORTER
    if REPORTER is not None:
        return REPORTER
    path = connection_file()
    if path is None or presence.kernel_id(path) is None:
        return None
    REPORTER = PresenceReporter(path)
    REPORTER.start()
    return REPORTER


def stop() -> None:
    """Stop reporting and remove this kernel's snapshot (``%unload_ext nbml``)."""
    global REPORTER
    if REPORTER is not None:
        REPORTER.stop()
        REPORTER = None
