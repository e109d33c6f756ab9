"""What the frontend knows of the kernel comes from Python: the sidebar protocol's TypeScript
types are generated from ``nbml/core/protocol.py`` (and the committed file is current), the
kernel's messages have the declared shapes, and the Retrain panel's optimizer list is the
kernel's (``labextension/widgets/monitor.ts`` holds none of its own)."""

from __future__ import annotations

import importlib.util
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import keras
import pytest

import nbml
from nbml.core import protocol
from nbml.core.registry import REGISTRY
from nbml.views import comm
from nbml.views.presence import PresenceReporter

ROOT = Path(__file__).resolve().parent.parent


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_ts", ROOT / "scripts" / "gen_ts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_protocol_ts_is_the_python_declaration_and_is_current():
    gen = _generator()
    committed = (ROOT / "labextension" / "src" / "protocol.ts").read_text()
    assert committed == gen.render(), "labextension/src/protocol.ts is stale: run scripts/gen_ts.py"
    # a field added in Python appears in TypeScript, optional where it is NotRequired
    source = gen.SOURCE.read_text().replace(
        "    best_trial: Num\n", "    best_trial: Num\n    seen: NotRequired[list[str]]\n"
    )
    assert "  seen?: string[];\n}" in gen.render(source)
    with pytest.raises(ValueError, match="Trial is not declared"):
        gen.render(source.replace("    best_trial: Num\n", "    best_trial: Trial\n"))


def conforms(value: Any, tp: Any, where: str = "message") -> None:
    """Fail unless ``value`` (a decoded JSON value) is a ``tp`` of :mod:`nbml.core.protocol`."""
    if typing.is_typeddict(tp):
        assert isinstance(value, dict), (where, value)
        hints = typing.get_type_hints(tp)
        assert tp.__required_keys__ <= set(value) <= set(hints), (where, tp.__name__, set(value))
        for key, item in value.items():
            conforms(item, hints[key], f"{where}.{key}")
        return
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        failures = []
        for arg in args:
            try:
                return conforms(value, arg, where)
            except AssertionError as e:
                failures.append(e)
        raise AssertionError(where, value, failures)
    if origin is typing.Literal:
        assert value in args, (where, value)
    elif origin is list:
        assert isinstance(value, list), (where, value)
        for i, item in enumerate(value):
            conforms(item, args[0], f"{where}[{i}]")
    elif origin is dict:
        assert isinstance(value, dict), (where, value)
        for key, item in value.items():
            conforms(item, args[1], f"{where}.{key}")
    elif tp is type(None):
        assert value is None, (where, value)
    elif tp in (int, float):
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (where, value)
    else:
        assert isinstance(value, tp), (where, value)


class Sent:
    comm_id = "c"

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.closed: Any = None

    def send(self, data: Any) -> None:
        self.sent.append(json.loads(json.dumps(data, allow_nan=False)))

    def close(self, data: Any = None) -> None:
        self.closed = data


def test_the_kernels_messages_have_the_declared_shapes(tmp_path):
    for name in REGISTRY.names():
        REGISTRY.remove(name)
    model = keras.Sequential([keras.layers.Dense(3, activation="softmax")])
    nbml.train("m", model, "sklearn:iris", epochs=1, namespace={}, display="none")
    try:
        channel, c = comm.SidebarChannel(), Sent()
        requests = [
            {"type": "snapshot", "version": 1, "client": "tab/1"},
            {"type": "summary", "version": 1, "model": "m"},
            {"type": "stop", "version": 1, "model": "m"},
            {"type": "stop", "version": 1, "model": "nope"},
        ]
        for request in requests:
            conforms(request, protocol.Request)
        for request in [*requests, {"type": "run", "version": 1}]:
            channel.receive(c, request)
        channel.comms = {"c": c}
        channel._changed = {"m"}
        channel.push(with_devices=True)
        assert [m["type"] for m in c.sent] == [
            "hello",
            "summary",
            "ack",
            "error",
            "error",
            "models",
        ]
        for msg in c.sent:
            conforms(msg, protocol.KernelMsg)
        channel._close(c, "replaced", "a newer comm of the same client replaced this one")
        conforms(c.closed, protocol.ClosedMsg)
        reporter = PresenceReporter(str(tmp_path / "kernel-abc.json"))
        conforms(json.loads(json.dumps(reporter.snapshot())), protocol.Snapshot)
    finally:
        REGISTRY.remove("m")


def test_the_retrain_panel_offers_the_kernels_optimizer_list():
    from nbml.core.registry import Run
    from nbml.ml.compiling import optimizer_names
    from nbml.views.widgets.messages import PANEL_OPTIMIZERS, retrain_panel

    fields, values = retrain_panel(Run("r", "m", {"batch_size": 32}, "", 2))
    choices = {f["name"]: f.get("choices") for f in fields}
    assert choices["optimizer"] == list(PANEL_OPTIMIZERS) and values["optimizer"] == "adam"
    assert set(PANEL_OPTIMIZERS) <= set(optimizer_names())
    assert [n for n, c in choices.items() if c is not None] == ["optimizer"]
    widgets = "\n".join(p.read_text() for p in (ROOT / "labextension" / "widgets").glob("*.ts"))
    named = [n for n in PANEL_OPTIMIZERS if re.search(rf"[\"']{n}[\"']", widgets)]
    assert named == [], f"a second list of optimizers in labextension/widgets: {named}"
