"""The sidebar protocol's kernel handler, in-process: validation and a 10,000-message fuzz."""

from __future__ import annotations

import copy
import json

import keras
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nbml
from nbml import comm
from nbml.registry import REGISTRY


class FakeComm:
    comm_id = "fake"

    def __init__(self):
        self.sent = []

    def send(self, data):
        json.dumps(data)  # every reply is plain JSON
        self.sent.append(data)


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
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
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
