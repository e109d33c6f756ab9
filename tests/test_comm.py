"""The sidebar protocol's kernel handler, in-process: validation, a 10,000-message fuzz, strict
JSON (a NaN or an infinity travels as null) and one comm per sidebar client."""

from __future__ import annotations

import copy
import json
import math

import keras
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nbml
from nbml.core.jsonsafe import finite_or_none, json_safe
from nbml.core.registry import REGISTRY, Event, ModelRecord, Run
from nbml.views import comm


class FakeComm:
    """A comm that checks every message is strict JSON, as jupyter_client packs it."""

    def __init__(self, comm_id="fake"):
        self.comm_id = comm_id
        self.sent = []
        self.closed = None

    def send(self, data):
        json.dumps(data, allow_nan=False)  # no NaN, no Infinity: strict JSON
        self.sent.append(data)

    def on_msg(self, callback):
        self.msg_callback = callback

    def on_close(self, callback):
        self.close_callback = callback

    def close(self, data=None):
        json.dumps(data, allow_nan=False)
        self.closed = data


@pytest.fixture(scope="module")
def trained():
    for name in REGISTRY.names():
        REGISTRY.remove(name)
    model = keras.Sequential([keras.layers.Dense(3, activation="softmax")])
    nbml.train("m", model, "sklearn:iris", epochs=1, namespace={}, display="none")
    yield
    REGISTRY.remove("m")


def state():
    rec = REGISTRY.get("m")
    return (
        REGISTRY.names(),
        rec.status,
        len(rec.runs),
        [r.stop_requested for r in rec.runs],
        copy.deepcopy(rec.history),
        [w.tolist() for w in rec.model.get_weights()],
    )


@pytest.mark.parametrize(
    ("msg", "words"),
    [
        ([], "JSON object"),
        ({"type": "snapshot"}, "version"),
        ({"type": "snapshot", "version": 2}, "version"),
        ({"type": "snapshot", "version": True}, "version"),
        ({"type": "exec", "version": 1}, "unknown message type"),
        ({"type": "stop", "version": 1}, "needs ['model']"),
        ({"type": "stop", "version": 1, "model": 3}, "'model' must be"),
        ({"type": "stop", "version": 1, "model": ""}, "'model' must be"),
        ({"type": "stop", "version": 1, "model": "m", "code": "x"}, "unexpected fields"),
        ({"type": "summary", "version": 1, "model": "m" * 5000}, "at most 4096 bytes"),
    ],
)
def test_invalid_messages_get_an_error_and_change_nothing(trained, msg, words):
    before = state()
    fake = FakeComm()
    comm.SidebarChannel().receive(fake, msg)
    assert fake.sent[0]["type"] == "error" and words in fake.sent[0]["error"]
    assert state() == before


def test_valid_requests(trained):
    channel, fake = comm.SidebarChannel(), FakeComm()
    channel.receive(fake, {"type": "snapshot", "version": 1})
    hello = fake.sent[-1]
    assert hello["type"] == "hello" and [m["name"] for m in hello["models"]] == ["m"]
    assert hello["models"][0]["status"] == "idle" and hello["host"]["cpus"] >= 1
    channel.receive(fake, {"type": "summary", "version": 1, "model": "m"})
    assert fake.sent[-1]["type"] == "summary" and fake.sent[-1]["layers"][0]["type"] == "Dense"
    channel.receive(fake, {"type": "stop", "version": 1, "model": "m"})
    assert fake.sent[-1]["type"] == "ack" and "not training" in fake.sent[-1]["message"]
    channel.receive(fake, {"type": "stop", "version": 1, "model": "zz"})
    assert fake.sent[-1]["type"] == "error"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
near_valid = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["snapshot", "stop", "summary", "hello", "run", ""])
        | st.text(max_size=10)
    },
    optional={
        "version": st.sampled_from([1, 2, 0, "1", None, True, 1.0]) | json_values,
        "model": st.sampled_from(["m", "", "zz", "x" * 300]) | json_values,
        "code": json_values,
        "extra": json_values,
    },
)


@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(msg=near_valid | json_values)
def test_fuzz_no_exception_no_state_change_error_for_invalid(trained, msg):
    before = state()
    fake = FakeComm()
    comm.SidebarChannel().receive(fake, msg)  # must not raise
    assert len(fake.sent) == 1
    try:
        comm.validate(msg)
        valid = True
    except comm.InvalidMessage:
        valid = False
    if not valid:
        assert fake.sent[0]["type"] == "error"
    assert state() == before


# ---------------------------------------------------------------- non-finite values


BAD = [math.nan, math.inf, -math.inf]


@pytest.fixture()
def diverged():
    """A model whose last run's metrics and latest batch logs are NaN and infinite."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    run = Run("nanrun", "diverged", {"lr": 10.0}, "spec", 5, epoch=2, steps=4)
    run.metrics = {"loss": math.nan, "mae": math.inf, "val_loss": -math.inf, "acc": 0.5}
    run.last_batch = (2, 1, {"loss": math.inf, "mae": math.nan})
    run.started = math.nan  # even the elapsed time
    REGISTRY.put(ModelRecord("diverged", model, runs=[run], status="training"))
    yield run
    REGISTRY.remove("diverged")


def test_json_safe_turns_every_non_finite_float_into_null():
    import numpy as np

    value = {
        "a": [1.0, math.nan, (math.inf, -math.inf)],
        "b": {"c": np.float32("nan"), "d": np.array([1.5, np.inf]), 3: np.int64(7)},
        "e": "nan",
        "f": True,
    }
    safe = json_safe(value)
    assert safe == {
        "a": [1.0, None, [None, None]],
        "b": {"c": None, "d": [1.5, None], "3": 7},
        "e": "nan",
        "f": True,
    }
    json.dumps(safe, allow_nan=False)
    assert [finite_or_none(v) for v in [*BAD, "x", None, 2, 2.5, np.float32(1.5)]] == [
        None, None, None, None, None, 2, 2.5, 1.5
    ]  # fmt: skip


def test_nan_and_inf_metrics_travel_as_null_on_hello_models_and_summary(diverged):
    channel, fake = comm.SidebarChannel(), FakeComm()
    info = comm.model_info(REGISTRY.get("diverged"))
    assert info["metrics"] == {"loss": None, "mae": None, "val_loss": None, "acc": 0.5}
    assert info["elapsed"] is None
    channel.receive(fake, {"type": "snapshot", "version": 1})  # FakeComm: strict JSON
    (model,) = [m for m in fake.sent[-1]["models"] if m["name"] == "diverged"]
    assert model["metrics"]["loss"] is None and model["metrics"]["acc"] == 0.5
    channel.receive(fake, {"type": "summary", "version": 1, "model": "diverged"})
    assert fake.sent[-1]["type"] == "summary"
    channel.comms = {"fake": fake}
    channel._unsubscribe = REGISTRY.subscribe(channel._on_event)
    try:  # the push of a batch whose logs are not finite
        REGISTRY.publish(Event("begin", diverged))
        diverged.last_batch = (2, 3, {"loss": math.nan})
        REGISTRY.publish(Event("batch", diverged, {"epoch": 2, "batch": 3, "logs": {}}))
        channel.push()
    finally:
        channel._unsubscribe()
    pushes = [m for m in fake.sent if m["type"] == "models"]
    assert pushes and all(m["metrics"]["loss"] is None for p in pushes for m in p["models"])


def test_a_nan_in_a_request_is_refused_not_echoed():
    fake = FakeComm()
    comm.SidebarChannel().receive(fake, {"type": "snapshot", "version": math.nan})
    assert fake.sent[-1]["type"] == "error" and "plain JSON" in fake.sent[-1]["error"]


# ---------------------------------------------------------------- one comm per client


def opened(channel, comm_id, data):
    c = FakeComm(comm_id)
    channel._on_open(c, {"content": {"data": data}})
    return c


def test_a_newer_comm_of_the_same_client_replaces_the_older():
    channel = comm.SidebarChannel()
    announce = FakeComm("announce")
    channel._announce = "announce"
    channel._adopt(announce)
    snap = {"type": "snapshot", "version": 1, "client": "tab1/a.ipynb#0"}
    first = opened(channel, "c1", snap)
    assert announce.closed["type"] == "closed"  # a sidebar has its own comm now
    other = opened(channel, "c2", {**snap, "client": "tab2/a.ipynb#0"})
    plain = opened(channel, "c3", {"type": "snapshot", "version": 1})  # no client: kept
    reloads = [opened(channel, f"r{i}", snap) for i in range(5)]  # five page reloads
    assert first.closed["type"] == "closed" and first.closed["reason"] == "replaced"
    assert all(r.closed for r in reloads[:-1]) and reloads[-1].closed is None
    assert sorted(channel.comms) == ["c2", "c3", "r4"] and other.closed is None
    for c in [first, other, plain, *reloads]:
        c.sent.clear()
    channel._changed.add("m")
    channel.push()
    assert [len(c.sent) for c in (first, other, plain, *reloads)] == [0, 1, 1, 0, 0, 0, 0, 1]
    reloads[-1].close_callback({})  # the frontend closes its comm (pagehide)
    assert sorted(channel.comms) == ["c2", "c3"] and channel.clients == {"tab2/a.ipynb#0": "c2"}


@pytest.mark.parametrize("client", ["", 3, "x" * 201, None])
def test_a_bad_client_key_is_refused(client):
    fake = FakeComm()
    comm.SidebarChannel().receive(fake, {"type": "snapshot", "version": 1, "client": client})
    assert fake.sent[-1]["type"] == "error" and "'client'" in fake.sent[-1]["error"]
