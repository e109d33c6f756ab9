"""The sidebar protocol through a real kernel, no browser (docs/reference.md#the-models-panel,
docs/protocol.md)."""

from __future__ import annotations

import contextlib
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
                    and m["content"]["data"]["type"]
                    in ("hello", "ack", "summary", "inspection", "error")
                    for m in ms
                ),
            )
        )
        answer = [r for r in got if r["type"] != "models"][-1]
        assert answer["type"] == expected, (msg, answer)
    documented = re.findall(r"```json kernel\n(.*?)```", text, re.S)
    kinds = {json.loads(b)["type"] for b in documented}
    assert kinds == {"hello", "models", "summary", "inspection", "inspect", "ack", "error"}
    for b in documented:
        assert json.loads(b)["version"] == 1


# ---------------------------------------------------------------- one comm per sidebar client


def comm_ids(kernel):
    return kernel.value("sorted(__import__('nbml.views.comm').views.comm.CHANNEL.comms)")


def test_a_reloaded_page_replaces_its_comm_and_pushes_go_out_once(tmp_path):
    k = Kernel(str(tmp_path))
    try:
        res = k.ok("%load_ext nbml")
        (announce,) = [
            m["content"]["comm_id"] for m in res.messages if m["msg_type"] == "comm_open"
        ]
        assert comm_ids(k) == [announce]
        snap = {"type": "snapshot", "version": 1, "client": "tab-1/notebook:a.ipynb#0"}
        first = open_comm(k, snap)
        collect(k, first, lambda ms: len(ms) >= 1)
        # the announcement (shared by every frontend) is closed once a sidebar has its own comm
        assert comm_ids(k) == [first]
        # five page reloads: each new page opens a comm with the same client key
        reloads = []
        for _ in range(5):
            reloads.append(open_comm(k, snap))
            collect(k, reloads[-1], lambda ms: len(ms) >= 1)
        other = open_comm(k, {**snap, "client": "tab-2/notebook:a.ipynb#0"})
        collect(k, other, lambda ms: len(ms) >= 1)
        assert comm_ids(k) == sorted([reloads[-1], other])
        # a push goes out once per live sidebar: not to the replaced comms
        k.ok("import keras")
        res = k.execute(f"%%train once --data sklearn:iris --epochs 2 --no-widget\n{MLP}")
        time.sleep(1)  # pushes after the cell's idle
        pushes: dict[str, int] = {}
        for m in res.messages + drain(k):
            if m["msg_type"] == "comm_msg" and m["content"]["data"].get("type") == "models":
                pushes[m["content"]["comm_id"]] = pushes.get(m["content"]["comm_id"], 0) + 1
        assert set(pushes) == {reloads[-1], other}, pushes
        assert pushes[reloads[-1]] == pushes[other]
        # the frontend closes its comm (pagehide): the kernel forgets it
        k.kc.shell_channel.send(k.kc.session.msg("comm_close", {"comm_id": other, "data": {}}))
        assert comm_ids(k) == [reloads[-1]]
    finally:
        k.shutdown()


def drain(kernel, seconds=0.5):
    out, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            out.append(kernel.kc.get_iopub_msg(timeout=0.1))
    return out


def test_the_replaced_comm_is_closed_with_the_reason(tmp_path):
    k = Kernel(str(tmp_path))
    try:
        k.ok("%load_ext nbml")
        snap = {"type": "snapshot", "version": 1, "client": "tab-1/x#0"}
        old = open_comm(k, snap)
        collect(k, old, lambda ms: len(ms) >= 1)
        open_comm(k, snap)
        closed = collect(k, old, lambda ms: any(m["msg_type"] == "comm_close" for m in ms))
        data = [m for m in closed if m["msg_type"] == "comm_close"][0]["content"]["data"]
        assert data["type"] == "closed" and data["reason"] == "replaced"
    finally:
        k.shutdown()


# ---------------------------------------------------------------- NaN and inf as null


REGRESSION = (
    "import numpy as np\nrng = np.random.default_rng(0)\n"
    "xr = rng.random((400, 4), dtype='float32') * 100\n"
    "reg = (xr, (xr @ np.arange(1, 5, dtype='float32')).astype('float32'))"
)


def test_inf_and_nan_runs_reach_the_sidebar_as_null_without_a_warning(bare):
    bare.ok(REGRESSION)
    comm_id = open_comm(bare, {"type": "snapshot", "version": 1, "client": "nan-test"})
    collect(bare, comm_id, lambda ms: len(ms) >= 1)
    boom = bare.execute(
        "%%train boom --data reg --epochs 5 --optimizer sgd --lr 10 --no-widget\n"
        "keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])"
    )
    nan = bare.execute(
        "%%train nanrun --data reg --epochs 2 --no-widget\n"
        "keras.Sequential([keras.Input((4,)), keras.layers.Dense(1,"
        " kernel_initializer=keras.initializers.Constant(float('nan')))])"
    )
    for res in (boom, nan):
        assert "serialization failed" not in res.text and "UserWarning" not in res.text, res.text
    statuses = bare.value("{m.name: m.run.status for m in __import__('nbml').models()}")
    assert statuses["boom"] == "failed" and statuses["nanrun"] == "failed", statuses
    # whatever the runs published, a NaN and an infinity pushed now travel as null
    res = bare.ok(
        "from nbml.views import comm\nfrom nbml.core.registry import REGISTRY\n"
        "REGISTRY.get('nanrun').run.metrics = {'loss': float('nan'), 'mae': float('inf')}\n"
        "comm.CHANNEL._changed.add('nanrun')\ncomm.CHANNEL.push()"
    )
    assert "serialization failed" not in res.text and "UserWarning" not in res.text, res.text
    pushed = [
        m["content"]["data"]
        for m in res.messages
        if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id
    ]
    (model,) = pushed[-1]["models"]
    assert model["name"] == "nanrun" and model["metrics"] == {"loss": None, "mae": None}
    send(bare, comm_id, {"type": "snapshot", "version": 1})
    (hello,) = [r for r in answered(bare, comm_id, "hello") if r["type"] == "hello"]
    names = {m["name"]: m for m in hello["models"]}
    assert {"boom", "nanrun"} <= set(names) and names["nanrun"]["metrics"]["loss"] is None
