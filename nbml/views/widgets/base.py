"""What nbml's widgets share: hearing events only while there is something to follow (a finished
widget costs a training nothing), the static text and HTML in each widget's mime bundle, and
refusing a message from the view by saying why."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ...core.registry import REGISTRY
from ..comm import InvalidMessage
from .messages import say

_lock = threading.Lock()  # guards each listener's subscription (held only to swap it)


class Listener:
    """``_listen()`` subscribes (once) what :meth:`_subscribe` subscribes, by default
    ``self._on_event`` to the registry; ``_release()`` unsubscribes it. Both are idempotent."""

    _unsubscribe: Callable[[], None] | None = None

    def _subscribe(self) -> Callable[[], None]:
        return REGISTRY.subscribe(self._on_event)  # type: ignore[attr-defined]

    def _listen(self) -> None:
        with _lock:
            if self._unsubscribe is None:
                self._unsubscribe = self._subscribe()

    def _release(self) -> None:
        with _lock:
            stop, self._unsubscribe = self._unsubscribe, None
        if stop is not None:
            stop()


class WithStatic:
    """A widget whose mime bundle also holds its static text and HTML (:meth:`static`): what a
    front end without widgets, or a notebook saved without the widget state, shows."""

    def static(self) -> tuple[str, str]:
        """The text and the HTML that stand for the widget."""
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict, dict] | None:
        bundle = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        if bundle is None:
            return None
        data, metadata = bundle
        data["text/plain"], data["text/html"] = self.static()
        return data, metadata


def widget_bundle(shown: Any, make: Callable[[Any], Any]) -> dict | None:
    """The mime bundle of the widget that shows ``shown`` (made once, ``make(shown)``, and kept
    as ``shown._widget``), or None where it has none."""
    widget = getattr(shown, "_widget", None)
    if widget is None:
        widget = shown._widget = make(shown)
    data = widget._repr_mimebundle_()
    return data[0] if data else None


def accepted(widget: Any, check: Callable[..., dict[str, Any]], *args: Any) -> dict | None:
    """``check(*args)``, the valid message; or None, once ``widget.notice`` says why it was
    refused."""
    try:
        return check(*args)
    except InvalidMessage as e:
        say(widget, f"Refused: {e}")
        return None
