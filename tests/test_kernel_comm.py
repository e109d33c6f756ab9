"""The sidebar protocol through a real kernel, no browser (SPEC §7, docs/protocol.md)."""

from __future__ import annotations

import json
import queue
import re
import time
import uuid
from pathlib import Path

import pytest
from kernel import Kernel

DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
MLP = (
    "keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(32, activation='relu'),"
    " keras.layers.Dense(10, activation='softmax')])"
)


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    k = Kernel(str(tmp_path_factory.mktemp("comm")))
    yield k
    k.shutdown()


def open_comm(kernel, data):
    comm_id = uuid.uuid4().hex
    msg = kernel.kc.session.msg(
        "comm_open", {"comm_id": comm_id, "target_name": "nbml", "data": data}
    )
    kernel.kc.shell_channel.send(msg)
    return comm_id


def send(kernel, comm_id, data):
    kernel.kc.shell_channel.send(
        kernel.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
    )


def collect(kernel, comm_id, until, timeout=30):
    """iopub messages of ``comm_id`` until ``until(msgs)`` holds."""
    got, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kernel.kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if (
            msg["msg_type"] in ("comm_msg", "comm_close")
            and msg["content"].get("comm_id") == comm_id
        ):
            got.append(msg)
            if until(got):
                return got
    raise AssertionError(f"no answer on comm {comm_id}: {got}")


def answered(kernel, comm_id, kind):
    """The comm's messages up to and including the first reply of type ``kind``."""

    def has(ms):
        return any(
            m["msg_type"] == "comm_msg" and m["content"]["data"].get("type") == kind for m in ms
        )

    return replies(collect(kernel, comm_id, has))


def replies(msgs):
    return [m["content"]["data"] for m in msgs if m["msg_type"] == "comm_msg"]


def test_without_nbml_the_kernel_closes_the_comm(bare):
    comm_id = open_comm(bare, {"type": "snapshot", "version": 1})
    msgs = collect(bare, comm_id, lambda ms: any(m["msg_type"] == "comm_close" for m in ms))
    assert not replies(msgs)


def test_load_announces_and_a_snapshot_request_gets_hello(bare):
    res = bare.execute("%load_ext nbml")
    opens = [m for m in res.messages if m["msg_type"] == "comm_open"]
    assert opens and opens[0]["content"]["target_name"] == "nbml"
    hello = opens[0]["content"]["data"]
    assert hello["type"] == "hello" and hello["version"] == 1 and hello["keras"] is None
    comm_id = open_comm(bare, {"type": "snapshot", "version": 1})
    (reply,) = replies(collect(bare, comm_id, lambda ms: len(ms) >= 1))
    assert reply["type"] == "hello" and reply["models"] == []


def test_pushes_arrive_during_a_foreground_training(bare):
    bare.ok("import keras")
    comm_id = open_comm(bare, {"type": "snapshot", "version": 1})
    collect(bare, comm_id, lambda ms: len(ms) >= 1)
    t0 = time.time()
    res = bare.execute(f"%%train fg --data sklearn:digits --epochs 6 --no-widget\n{MLP}")
    pushes = [
        (m["header"]["date"].timestamp(), m["content"]["data"])
        for m in res.messages
        if m["msg_type"] == "comm_msg" and m["content"]["data"].get("type") == "models"
    ]
    # the pushes are part of the busy cell's iopub stream (parent = the execute request)
    if not pushes:  # some pushes may carry no parent; read them off the channel
        pushes = [
            (m["header"]["date"].timestamp(), m["content"]["data"])
            for m in collect(bare, comm_id, lambda ms: len(ms) >= 3, timeout=5)
        ]
    statuses = [p["models"][0]["status"] for _, p in pushes if p["models"]]
    assert statuses[0] == "training" and statuses[-1] == "idle"
    epochs = [p["models"][0]["epoch"] for _, p in pushes if p["models"]]
    assert epochs == sorted(epochs) and epochs[-1] == 6
    assert any(p.get("devices") for _, p in pushes)  # begin/end pushes carry the devices
    assert all(abs(p["time"] - stamp) < 1.0 for stamp, p in pushes)  # kernel-side lag
    assert pushes[0][0] - t0 < 5


def test_stop_summary_and_malformed_messages(bare):
    bare.ok(
        "import numpy as np\nbig = (np.random.default_rng(0).random((20000, 64), dtype='float32'),"
        " np.random.default_rng(1).integers(0, 10, 20000))"
    )
    bare.ok(f"%%train bg --data big --epochs 300 --batch-size 8 --background --no-widget\n{MLP}")
    comm_id = open_comm(bare, {"type": "snapshot", "version": 1})
    collect(bare, comm_id, lambda ms: len(ms) >= 1)
    for bad in ({"type": "stop", "version": 1}, {"type": "eval", "version": 1, "code": "1"}, "x"):
        send(bare, comm_id, bad)
        got = answered(bare, comm_id, "error")
        assert [r for r in got if r["type"] == "error"]
    assert bare.value("__import__('nbml').models()[-1].status") == "training"
    send(bare, comm_id, {"type": "stop", "version": 1, "model": "bg"})
    got = answered(bare, comm_id, "ack")
    assert [r for r in got if r["type"] == "ack"][0]["model"] == "bg"
    for _ in range(100):
        if bare.value("__import__('nbml').models()[-1].status") != "training":
            break
        time.sleep(0.2)
    assert bare.value("__import__('nbml').models()[-1].status") == "stopped"
    send(bare, comm_id, {"type": "summary", "version": 1, "model": "bg"})
    got = answered(bare, comm_id, "summary")
    summary = [r for r in got if r["type"] == "summary"][0]
    assert [layer["type"] for layer in summary["layers"]] == ["Flatten", "Dense", "Dense"]


def test_documented_examples_are_what_the_kernel_does(bare):
    text = DOC.read_text()
    requests = re.findall(r"```json request (\w+)->(\w+)\n(.*?)```", text, re.S)
    assert len(requests) >= 5
    bare.ok(f"%%train mlp --data sklearn:iris --epochs 1 --no-widget\n{MLP.replace('10,', '3,')}")
    comm_id = open_comm(bare, {"type": "snapshot", "version": 1})
    collect(bare, comm_id, lambda ms: len(ms) >= 1)
    for kind, expected, body in requests:
        msg = json.loads(body)
        assert msg["type"] == kind
        send(bare, comm_id, msg)
        got = replies(
            collect(
                bare,
                comm_id,
                lambda ms: any(
                    m["msg_type"] == "comm_msg"
                    and m["content"]["data"]["type"] in ("hello", "ack", "summary", "error")
                    for m in ms
                ),
            )
        )
        answer = [r for r in got if r["type"] != "models"][-1]
        assert answer["type"] == expected, (msg, answer)
    documented = re.findall(r"```json kernel\n(.*?)```", text, re.S)
    kinds = {json.loads(b)["type"] for b in documented}
    assert kinds == {"hello", "models", "summary", "ack", "error"}
    for b in documented:
        assert json.loads(b)["version"] == 1
