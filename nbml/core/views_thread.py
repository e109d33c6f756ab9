"""The thread that publishes the registry's posted events (:meth:`Registry.post`), in order,
each in the context (the cell's output routing) of its poster: training never waits on a view.
"""

from __future__ import annotations

import collections
import contextvars
import threading
from collections.abc import Callable
from typing import Any


class ViewsThread:
    """The thread that publishes posted events, in order. A ``batch`` event that a newer one
    of the same run has overtaken in the queue is dropped (views show the newest anyway)."""

    def __init__(self, publish: Callable[[Any], None]) -> None:
        self._publish = publish
        self._items: collections.deque = collections.deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None

    def post(self, event: Any, context: contextvars.Context, wait: bool) -> None:
        if threading.current_thread() is self._thread:  # a view posting: publish it in turn
            self._publish(event)
            return
        done = threading.Event() if wait else None
        with self._ready:
            self._items.append((event, context, done))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="nbml-views", daemon=True)
                self._thread.start()
            self._ready.notify()
        if done is not None:
            done.wait()

    def drain(self, timeout: float | None = None) -> bool:
        with self._ready:
            if not self._items and self._thread is None:
                return True
        done = threading.Event()
        with self._ready:
            self._items.append((None, None, done))
            self._ready.notify()
        return done.wait(timeout)

    def _take(self) -> list[tuple[Any, Any, Any]]:
        with self._ready:
            while not self._items:
                self._ready.wait()
            items = list(self._items)
            self._items.clear()
        newest = {}
        for i, (event, _, _) in enumerate(items):
            if event is not None and event.kind == "batch":
                newest[event.run.id] = i
        return [
            item
            for i, item in enumerate(items)
            if item[0] is None or item[0].kind != "batch" or newest[item[0].run.id] == i
        ]

    def _loop(self) -> None:
        while True:
            for event, context, done in self._take():
                try:
                    if event is not None:
                        context.run(self._publish, event)
                finally:
                    if done is not None:
                        done.set()
