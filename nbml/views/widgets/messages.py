"""Validation of the messages a widget's view sends to the kernel (Retrain, Stop, a cell click).

The sidebar protocol's shape check (:func:`nbml.views.comm.check_shape`: a JSON object of
bounded size, a known ``type``, exactly the fields that type takes), then each field of the right
kind and range. Anything else raises :class:`~nbml.views.comm.InvalidMessage` (with a message the
widget shows) and changes nothing.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

from ..comm import InvalidMessage, check_shape

MAX_EPOCHS = 100_000
MAX_BATCH = 2**20
MAX_PAGE = 10**6

#: Monitor messages: type -> (required fields, optional fields); Retrain's optional fields are
#: the other Retrain options of ``nbml.core.options.TrainOptions`` (see :func:`_monitor_kinds`).
MONITOR: dict[str, tuple[set[str], set[str]]] = {
    "sync": (set(), set()),
    "stop": (set(), set()),
    "retrain": ({"epochs", "batch_size"}, {"lr", "optimizer"}),
}


def _monitor_kinds() -> dict[str, tuple[set[str], set[str]]]:
    from ...core.options import retrain_fields

    names = {f["name"] for f in retrain_fields()}
    required = MONITOR["retrain"][0]
    fields = (required, names - required)
    return {**MONITOR, "retrain": fields, "sweep": fields}  # Sweep: around the same settings


#: The optimizers the Retrain panel's list offers (a message may name any of Keras's).
PANEL_OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "nadam", "adagrad", "adamax", "lion")


def retrain_panel(run: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The Retrain panel of ``run``'s monitor: its fields (a field with ``choices`` is a list to
    pick from) and their starting values (the run's)."""
    from ...core.options import retrain_fields

    fields = [
        {**f, "choices": list(PANEL_OPTIMIZERS)} if f["name"] == "optimizer" else f
        for f in retrain_fields()
    ]
    values = {f["name"]: run.params.get(f["name"], f["default"]) for f in fields}
    values.update(epochs=run.epochs, optimizer=run.params.get("optimizer") or "adam")
    if "steps_per_execution" in values:  # the N auto chose is not a setting: empty is auto
        values["steps_per_execution"] = None
    return fields, values


CONFUSION: dict[str, tuple[set[str], set[str]]] = {"cell": ({"true", "pred"}, {"page"})}


#: The inspector widget's messages: a new view asks for the bounded history (``sync``).
INSPECTOR: dict[str, tuple[set[str], set[str]]] = {"sync": (set(), set())}


def inspector_request(msg: Any) -> dict[str, Any]:
    """A valid inspector-widget message: ``sync``, with no other field."""
    return check_shape(msg, INSPECTOR)


def whole(msg: dict[str, Any], key: str, low: int, high: int) -> int:
    """``msg[key]`` as an int in ``low..high``; a float, a bool or a string is refused."""
    value = msg.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidMessage(f"{key} must be a whole number from {low} to {high:,}, not {value!r}")
    return value


def monitor_request(msg: Any, optimizers: Any = None) -> dict[str, Any]:
    """A valid monitor message, with Retrain's options checked and normalised.

    ``optimizers`` is the collection of known optimizer names (Keras's, by default).
    """
    msg = check_shape(msg, _monitor_kinds())
    if msg["type"] not in ("retrain", "sweep"):
        return msg
    out: dict[str, Any] = {
        **{k: v for k, v in msg.items() if v is not None},
        "type": msg["type"],
        "epochs": whole(msg, "epochs", 1, MAX_EPOCHS),
        "batch_size": whole(msg, "batch_size", 1, MAX_BATCH),
        "lr": None,
        "optimizer": None,
    }
    lr = msg.get("lr")
    if lr is not None:
        if isinstance(lr, bool) or not isinstance(lr, Real) or not math.isfinite(lr) or lr <= 0:
            raise InvalidMessage(f"the learning rate must be a positive number, not {lr!r}")
        out["lr"] = float(lr)
    name = msg.get("optimizer")
    if name is not None:
        if optimizers is None:
            from ...ml.compiling import optimizer_names

            optimizers = optimizer_names()
        if not isinstance(name, str) or name.lower() not in optimizers:
            raise InvalidMessage(
                f"unknown optimizer {str(name)[:40]!r}; known: {', '.join(sorted(optimizers))}"
            )
        out["optimizer"] = name.lower()
    return _checked(out)


def _checked(out: dict[str, Any]) -> dict[str, Any]:
    """Every option also passes TrainOptions' own check (the one ``nbml.train`` runs)."""
    from ...core.errors import NbmlError
    from ...core.options import from_kwargs

    given = {k: v for k, v in out.items() if k != "type" and v is not None}
    try:
        checked = vars(from_kwargs(**given).checked())
    except NbmlError as e:
        raise InvalidMessage(str(e)) from None
    return {**out, **{k: checked[k] for k in given}}


def confusion_request(msg: Any, classes: int) -> dict[str, Any]:
    """A valid cell click: ``true`` and ``pred`` class indices, a ``page`` number."""
    msg = check_shape(msg, CONFUSION)
    return {
        "type": "cell",
        "true": whole(msg, "true", 0, classes - 1),
        "pred": whole(msg, "pred", 0, classes - 1),
        "page": whole(msg, "page", 0, MAX_PAGE) if "page" in msg else 0,
    }


def say(widget: Any, text: str) -> None:
    """Set ``widget.notice`` to ``text``, syncing it even when it says the same again (the view
    re-enables its button on every change)."""
    if widget.notice == text:
        widget.notice = ""
    widget.notice = text
