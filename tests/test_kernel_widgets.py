"""The live widgets end to end in a real kernel (docs/reference.md#training, --background;
docs/reference.md#widgets)."""

from __future__ import annotations

import json
import queue
import re
import time

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

WIDGET = "application/vnd.jupyter.widget-view+json"
MLP = (
    "keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(64, activation='relu'),"
    " keras.layers.Dense(10, activation='softmax')])"
)


def comm_msgs(res):
    return [m for m in res.messages if m["msg_type"] == "comm_msg"]


def custom(kernel, comm_id, content):
    msg = kernel.kc.session.msg(
        "comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": content}}
    )
    kernel.kc.shell_channel.send(msg)


def test_monitor_is_the_default_display_with_throttled_deltas_and_static_fallback(kernel):
    res = kernel.ok(f"%%train mlp --data sklearn:digits --epochs 8\n{MLP}")
    assert len(res.displays) == 1
    data = res.displays[0]["data"]
    assert WIDGET in data and "text/html" in data and "text/plain" in data
    ticks = [m for m in comm_msgs(res) if m["content"]["data"].get("method") == "custom"]
    assert ticks, "no live updates reached the frontend"
    # the monitor's own messages (the Models panel's comm has its own throttle, docs/protocol.md)
    monitor = data[WIDGET]["model_id"]
    stamps = sorted(
        m["header"]["date"].timestamp()
        for m in comm_msgs(res)
        if m["content"]["comm_id"] == monitor
    )
    per_second = max(sum(1 for s in stamps if t <= s < t + 1) for t in stamps)
    assert per_second <= 10 + 3  # update_interval 0.1 s, plus begin/end state changes
    final = res.updates[-1]["data"]
    assert final["text/plain"].startswith("mlp · finished · 8/8 epochs")
    assert "<polyline" in final["text/html"] and ">loss<" in final["text/html"]


def test_evaluate_shows_the_confusion_widget_and_a_click_lists_the_cell(kernel):
    res = kernel.ok("%evaluate mlp")
    data = res.result
    assert WIDGET in data and "confusion matrix" in data["text/html"]
    comm_id = data[WIDGET]["model_id"]
    cm = kernel.value("__import__('nbml').evaluate('mlp').confusion_matrix.tolist()")
    custom(kernel, comm_id, {"type": "cell", "true": 3, "pred": 3, "page": 0})
    deadline = time.monotonic() + 30
    reply = None
    while time.monotonic() < deadline and reply is None:
        msg = kernel.kc.get_iopub_msg(timeout=10)
        if msg["msg_type"] == "comm_msg" and msg["content"]["comm_id"] == comm_id:
            reply = msg["content"]["data"]["content"]
    assert reply["type"] == "samples" and reply["total"] == cm[3][3]
    assert len(reply["items"]) == min(cm[3][3], 24)
    assert reply["items"][0]["image"].startswith("data:image/png")


def test_background_training_returns_at_once_and_stops_keeping_its_work(kernel):
    kernel.ok(
        "import numpy as np\nbig = (np.random.default_rng(0).random((20000, 64), dtype='float32'),"
        " np.random.default_rng(1).integers(0, 10, 20000))"
    )
    t0 = time.monotonic()
    res = kernel.ok(f"%%train bg --data big --epochs 300 --batch-size 8 --background\n{MLP}")
    assert time.monotonic() - t0 < 15
    assert kernel.value("__import__('nbml').models()[-1].status") == "training"
    assert WIDGET in res.displays[0]["data"]
    comm_id = res.displays[0]["data"][WIDGET]["model_id"]
    while kernel.value("__import__('nbml').models()[-1].epoch") < 1:
        time.sleep(0.2)
    res = kernel.execute("%%train bg --data big --epochs 1\n" + MLP.replace("64", "8"))
    assert re.match(r"UsageError: bg is (already|busy) training", res.stderr)  # refused
    custom(kernel, comm_id, {"type": "stop"})  # what the Stop button sends
    for _ in range(100):
        if kernel.value("__import__('nbml').models()[-1].status") != "training":
            break
        time.sleep(0.2)
    status, epoch, hist = kernel.value(
        "(lambda r: (r.status, r.epoch, len(r.history['loss'])))(__import__('nbml').models()[-1])"
    )
    assert status == "stopped" and 1 <= epoch < 300 and hist == epoch
    res = kernel.ok("%train bg --epochs 200 --background")
    time.sleep(1.5)
    assert "Stopping bg" in kernel.ok("%stop bg").stdout
    for _ in range(100):
        if kernel.value("__import__('nbml').models()[-1].status") != "training":
            break
        time.sleep(0.2)
    assert kernel.value("__import__('nbml').models()[-1].status") == "stopped"
    assert kernel.value("len(__import__('nbml').runs('bg'))") == 2


def test_exported_html_shows_curves_and_matrix_without_javascript(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext nbml\nimport keras"),
        nbformat.v4.new_code_cell(f"%%train mlp --data sklearn:digits --epochs 3\n{MLP}"),
        nbformat.v4.new_code_cell("%evaluate mlp"),
    ]
    # JupyterLab saves notebooks without widget state unless asked: export what it saves.
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        store_widget_state=False,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    body, _ = HTMLExporter().from_notebook_node(nb)
    outputs = re.findall(
        r'<div class="jp-OutputArea-output[^"]*"[^>]*>(.*?)</div>\s*</div>', body, re.S
    )
    text = "\n".join(outputs) or body
    assert "<polyline" in body and "epoch 3" in body  # the curves, as inline SVG
    assert "confusion matrix: rows = true" in body and "rgba(31,119,180" in body
    assert 'type="application/vnd.jupyter.widget-view+json"' not in body
    assert text


def widget_updates(kernel, comm_id, key, timeout=30):
    """The first state update of ``key`` the widget ``comm_id`` sends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kernel.kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        data = msg["content"].get("data", {}) if msg["msg_type"] == "comm_msg" else {}
        if msg["content"].get("comm_id") == comm_id and key in data.get("state", {}):
            return data["state"][key]
    raise AssertionError(f"no update of {key!r} from widget {comm_id}")


def test_exploding_runs_show_null_not_a_serialization_warning(kernel):
    kernel.ok(
        "rng = np.random.default_rng(0)\nxr = rng.random((400, 4), dtype='float32') * 100\n"
        "reg = (xr, (xr @ np.arange(1, 5, dtype='float32')).astype('float32'))"
    )
    boom = kernel.execute(
        "%%train boom --data reg --epochs 5 --optimizer sgd --lr 10\n"
        "keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])"
    )
    nan = kernel.execute(
        "%%train nanrun --data reg --epochs 2\n"
        "keras.Sequential([keras.Input((4,)), keras.layers.Dense(1,"
        " kernel_initializer=keras.initializers.Constant(float('nan')))])"
    )
    for res in (boom, nan):
        assert WIDGET in res.displays[0]["data"]
        assert "serialization failed" not in res.text and "UserWarning" not in res.text, res.text
        assert "failed" in res.updates[-1]["data"]["text/plain"]
        # every number the monitor sent is a number or null, never the string "nan"
        for m in comm_msgs(res):
            text = json.dumps(m["content"]["data"])
            assert '"nan"' not in text.lower() and '"inf' not in text.lower(), text[:300]


def test_a_bad_retrain_message_is_refused_with_a_notice(kernel):
    res = kernel.ok(f"%%train small --data sklearn:digits --epochs 1\n{MLP}")
    comm_id = res.displays[0]["data"][WIDGET]["model_id"]
    runs = kernel.value("len(__import__('nbml').runs('small'))")
    good = {"type": "retrain", "epochs": 1, "lr": 0.001, "batch_size": 32, "optimizer": "adam"}
    for bad, words in (
        ({**good, "epochs": 2.5}, "epochs must be a whole number"),
        ({**good, "batch_size": 2**21}, "batch_size must be"),
        ({**good, "lr": -1}, "learning rate must be a positive number"),
        ({**good, "optimizer": "sgdd"}, "unknown optimizer"),
        ({**good, "code": "import os"}, "unexpected fields"),
    ):
        custom(kernel, comm_id, bad)
        notice = widget_updates(kernel, comm_id, "notice")
        if not notice:  # cleared first when the same refusal comes twice
            notice = widget_updates(kernel, comm_id, "notice")
        assert notice.startswith("Refused: ") and words in notice, (bad, notice)
    assert kernel.value("len(__import__('nbml').runs('small'))") == runs
    assert kernel.value("__import__('nbml').models()[-1].status") == "idle"


def test_an_old_monitors_stop_does_not_stop_a_run_started_elsewhere(kernel):
    res = kernel.ok(f"%%train other --data sklearn:digits --epochs 1\n{MLP}")
    old = res.displays[0]["data"][WIDGET]["model_id"]
    kernel.ok("%train other --epochs 3000 --background --no-widget")
    custom(kernel, old, {"type": "stop"})  # a stale view's Stop
    notice = widget_updates(kernel, old, "notice")
    assert notice == "Refused: no run of this monitor is training", notice
    assert kernel.value("__import__('nbml').models()[-1].status") == "training"
    assert "Stopping other" in kernel.ok("%stop other").stdout
