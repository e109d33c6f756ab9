"""The model inspector's widget (docs/inspector.md): what it holds of a trained model, its live
ticks while a model trains (only new records, throttled, bounded, NaN as null), its validated
messages; ``%inspect`` in a real kernel (the widget with its static HTML; live, with the final
table once the run ends); and an nbconvert export of an executed notebook, which shows the
static table with SVG sparklines without any JavaScript."""

from __future__ import annotations

import json
import math
import queue
import re
import time

import keras
import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from sklearn.datasets import load_digits

import nbml
from nbml.core.registry import REGISTRY, Event, ModelRecord, Run
from nbml.ml import flags as _flags
from nbml.training.inspector import Log
from nbml.views.widgets import inspector
from nbml.views.widgets.inspector import InspectorWidget

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(autouse=True)
def fresh_registry():
    for name in REGISTRY.names():
        REGISTRY.remove(name)
    yield


def capture(widget):
    """Every comm message the widget sends (trait syncs and custom messages), checked to be
    strict JSON as jupyter_client sends it."""
    sent = []
    original = widget.comm.send

    def send(data=None, metadata=None, buffers=None):
        json.dumps(data, allow_nan=False)
        sent.append(data)
        return original(data=data, metadata=metadata, buffers=buffers)

    widget.comm.send = send
    return sent


def customs(sent, kind=None):
    out = [m["content"] for m in sent if m.get("method") == "custom"]
    return [m for m in out if kind is None or m.get("type") == kind]


def dead_mlp():
    return keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(32, activation="relu", name="hidden",
                           bias_initializer=keras.initializers.Constant(-100.0)),
        keras.layers.Dense(10, activation="softmax", name="out"),
    ])  # fmt: skip


def digits():
    d = load_digits()
    return d.data.astype("float32") / 16.0, d.target


def test_the_widget_shows_a_trained_models_table_records_and_flags():
    nbml.train("dead", dead_mlp(), digits(), epochs=3, display="none", namespace={})
    ins = nbml.inspect("dead")
    widget = InspectorWidget(ins)
    state = widget.state
    assert [r["layer"] for r in state["layers"]] == ["hidden", "out"]
    assert [r[0] for r in state["records"]] == [1, 2, 3] and state["status"] == "finished"
    columns = widget.columns
    dead = state["records"][-1][1][0][columns.index("dead_fraction")]
    assert dead == 1.0
    (flag,) = [f for f in state["flags"] if f["kind"] == "dead_units"]
    assert flag["layer"] == "hidden" and flag["epoch"] == 2
    assert "100% of its units output <= 0" in flag["reason"]
    assert widget.run is None  # nothing trains: nothing to follow
    text, html = widget.static()
    assert html.count("<svg class='nbml-spark'") == 6  # 2 layers x 3 sparklines
    assert "dead_units at epoch 2" in html and "dead_units" in text


def _layers(*names):
    return [{"layer": n, "class": "Dense", "output_shape": "(None, 4)", "trainable": 20,
             "non_trainable": 0, "activation": "relu"} for n in names]  # fmt: skip


def _live(name="m", epochs=40):
    """A model of this kernel with a running run whose inspector logs as training would."""
    run = Run("r1", name, {}, "spec", epochs)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="a"),
                              keras.layers.Flatten(name="flat")])  # fmt: skip
    REGISTRY.put(ModelRecord(name, model=model, runs=[run], status="training"))
    run.inspection = Log(_layers("a", "flat"), [0, 1], 1)
    return run


def _record(run, epoch, weight=1.0, dead=0.0):
    """One record in the run's log, and its event, as the Inspector callback posts them."""
    rows = [
        {"layer": "a", "weight_norm": weight, "update_ratio": 0.1, "grad_norm": 1e-3 * epoch,
         "act_mean": 0.5, "act_std": 0.1, "dead_fraction": dead},
        {"layer": "flat", "weight_norm": None, "update_ratio": None, "grad_norm": None,
         "act_mean": 0.2, "act_std": 0.1, "dead_fraction": 0.0},
    ]  # fmt: skip
    log = run.inspection
    log.records.append((epoch, rows))
    log.flags = _flags.find(log.records, log.layers)
    REGISTRY.publish(Event("inspect", run, {"epoch": epoch, "rows": rows}))


def _end(run, status="finished"):
    run.status = status
    REGISTRY.publish(Event("end", run))


def test_live_ticks_carry_only_new_records_at_most_one_per_interval(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(inspector.time, "monotonic", lambda: clock[0])
    run = _live()
    widget = InspectorWidget(nbml.inspect("m"), update_interval=0.1)
    assert widget.run is run and REGISTRY.subscribed(widget._on_event)
    sent = capture(widget)
    for epoch in range(1, 41):
        clock[0] += 0.03  # epochs faster than the update interval
        _record(run, epoch, dead=0.9 if epoch > 30 else 0.0)
    ticks = customs(sent, "tick")
    assert 9 <= len(ticks) <= 1.2 / 0.1 + 1  # 1.2 s of epochs: about one tick per 0.1 s
    epochs = [r[0] for tk in ticks for r in tk["records"]]
    assert epochs == sorted(set(epochs))  # none sent twice, in order
    _end(run)  # (a trailing tick still pending is cancelled: the end sends the final state)
    final = widget.state
    assert [r[0] for r in final["records"]] == list(range(1, 41)) and final["status"] == "finished"
    assert [(f["layer"], f["kind"], f["epoch"]) for f in final["flags"]] == [
        ("a", "dead_units", 32)
    ]
    assert not REGISTRY.subscribed(widget._on_event)  # the run ended: a finished widget costs 0


def test_a_trailing_tick_follows_a_burst():
    run = _live()
    widget = InspectorWidget(nbml.inspect("m"), update_interval=0.2)
    sent = capture(widget)
    _record(run, 1)
    _record(run, 2)  # within the interval: held back...
    assert [r[0] for tk in customs(sent, "tick") for r in tk["records"]] == [1]
    time.sleep(0.5)  # ...and sent by the trailing timer
    assert [r[0] for tk in customs(sent, "tick") for r in tk["records"]] == [1, 2]
    _end(run)


def test_nan_travels_as_null_and_a_statistic_that_does_not_apply_as_na():
    run = _live()
    widget = InspectorWidget(nbml.inspect("m"), update_interval=0.0)
    sent = capture(widget)  # fails on a NaN that would not be strict JSON
    _record(run, 1, weight=math.nan)
    _record(run, 2, weight=math.inf)
    col = widget.columns.index("weight_norm")
    records = [r for tk in customs(sent, "tick") for r in tk["records"]]
    assert [r[1][0][col] for r in records] == [None, None]
    assert records[0][1][1][col] == inspector.NOT_AVAILABLE  # "flat" has no weights
    flags = customs(sent, "tick")[-1]["flags"]
    assert [(f["layer"], f["kind"], f["epoch"]) for f in flags] == [("a", "non_finite", 1)]
    _end(run, "failed")
    html = widget.static()[1]
    assert "nan" in html and "fill='#d62728'" in html  # the static sparkline marks it too


def test_what_the_widget_holds_is_bounded_and_keeps_the_latest_record():
    run = _live(epochs=300)
    widget = InspectorWidget(nbml.inspect("m"), update_interval=0.0, max_records=16)
    sent = capture(widget)
    for epoch in range(1, 301):
        _record(run, epoch)
    _end(run)
    kept = [r[0] for r in widget.state["records"]]
    assert 8 <= len(kept) <= 16 and kept[-1] == 300 and kept == sorted(kept)
    # each tick held one new record: the bytes grow with records, not records squared
    sizes = [len(json.dumps(tk)) for tk in customs(sent, "tick")]
    assert max(sizes) < 2 * min(sizes)


def test_a_widget_shown_before_the_runs_first_record_follows_that_run():
    run = _live()
    run.inspection = None  # the background run has not begun recording yet
    ins = nbml.inspect("m")
    assert ins.run_id is None  # the API had no inspected run to give
    widget = InspectorWidget(ins, update_interval=0.0)
    assert widget.run is run and widget.state["run"] == ""
    assert widget.state["status"] == "running"
    assert widget.state["notes"]["stats"].startswith("run r1 trains")
    run.inspection = Log(_layers("a", "flat"), [0, 1], 1)
    _record(run, 1)
    assert widget.state["run"] == "r1" and [r[0] for r in widget.state["records"]] == [1]
    assert [r["layer"] for r in widget.state["layers"]] == ["a", "flat"]
    assert widget.state["notes"] == {} and widget.state["status"] == "running"
    _end(run)


def test_an_earlier_run_asked_for_by_id_is_not_swapped_for_the_one_training_now():
    run = _live()
    _record(run, 1)
    _end(run)
    later = Run("r2", "m", {}, "spec", 5)
    REGISTRY.get("m").runs.append(later)  # trains now, not recorded yet
    older = Run("r0", "m", {}, "spec", 5, status="finished")
    older.inspection = Log(_layers("a", "flat"), [0, 1], 1)
    REGISTRY.get("m").runs.insert(0, older)
    assert InspectorWidget(nbml.inspect("r0")).run is None  # an earlier run, by its id
    by_name = nbml.inspect("m")  # the latest inspected run, r1: the widget goes live
    assert by_name.run_id == "r1" and InspectorWidget(by_name).run is later
    _end(later)


@pytest.mark.parametrize(
    "msg, words",
    [
        ({"type": "sync", "extra": 1}, "unexpected fields"),
        ({"type": "stop"}, "unknown message type"),
        ([1, 2], "JSON object"),
        ({"type": "sync", "x": float("nan")}, "finite numbers"),
    ],
)
def test_a_bad_message_changes_nothing_and_says_why(msg, words):
    nbml.train("dead", dead_mlp(), digits(), epochs=1, display="none", namespace={})
    widget = InspectorWidget(nbml.inspect("dead"))
    sent = capture(widget)
    widget._on_msg(widget, msg, [])
    assert customs(sent) == [] and widget.notice.startswith("Refused: ") and words in widget.notice
    widget._on_msg(widget, {"type": "sync"}, [])
    (snap,) = customs(sent, "snapshot")
    assert snap["records"] == widget.state["records"] and widget.notice == ""


# ---------------------------------------------------------------- a real kernel


def _train_dead(kernel, name="dead", epochs=3):
    kernel.ok(
        # --normalize none: the model as written, its top-level layers' activations recorded
        f"%%train {name} --data sklearn:digits --epochs {epochs} --normalize none\n"
        "keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), "
        "keras.layers.Dense(32, activation='relu', "
        "name='hidden', bias_initializer=keras.initializers.Constant(-100.0)), "
        "keras.layers.Dense(10, activation='softmax')])"
    )


def test_inspect_shows_the_widget_with_the_static_table_inside(kernel):
    _train_dead(kernel)
    res = kernel.ok("%inspect dead")
    data = res.result
    assert data is not None and WIDGET_MIME in data, res.messages
    # flatten: its dead fraction only (no weights); hidden and the output: all three
    assert data["text/html"].count("<svg class='nbml-spark'") == 1 + 2 * 3
    assert "dead_units at epoch 2" in data["text/html"]
    assert "! hidden: dead_units at epoch 2" in data["text/plain"]


def _follow(kernel, comm_id, display_id, timeout=120):
    """The widget's ticks and the update of its output, read from iopub until that update
    comes (the views thread sends both in the background cell's context, so they are read
    whatever their parent)."""
    ticks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kernel.kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "comm_msg" and content.get("comm_id") == comm_id:
            data = content["data"]
            if data.get("method") == "custom" and data["content"].get("type") == "tick":
                ticks.append(data["content"])
        if kind == "update_display_data" and content["transient"]["display_id"] == display_id:
            return ticks, content["data"]
    raise AssertionError(f"the output was not updated at the run's end; ticks: {len(ticks)}")


def test_inspect_of_a_background_run_follows_it_and_leaves_the_final_table(kernel):
    kernel.ok(
        "%%train slow --data sklearn:digits --epochs 30 --background --no-widget "
        "--normalize none\n"
        "keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()] + "
        "[keras.layers.Dense(256, activation='relu') "
        "for _ in range(4)] + [keras.layers.Dense(10, activation='softmax')])"
    )
    res = kernel.ok("%inspect slow")
    (shown,) = [d for d in res.displays if WIDGET_MIME in d["data"]]
    comm_id = shown["data"][WIDGET_MIME]["model_id"]
    # the cell's result is one line: the widget's own output carries the table
    assert res.result is not None and set(res.result) == {"text/plain"}, res.result
    assert res.result["text/plain"].startswith("<Inspection slow")
    ticks, final = _follow(kernel, comm_id, shown["transient"]["display_id"])
    epochs = [r[0] for tick in ticks for r in tick["records"]]
    # (records still waiting for a tick when the run ends travel in the final state instead)
    assert epochs and epochs == sorted(set(epochs)) and epochs[-1] <= 30, epochs
    assert ticks[-1]["status"] in ("running", "finished")
    assert WIDGET_MIME in final and "records at epochs 1-30" in final["text/html"]
    assert final["text/html"].count("<svg class='nbml-spark'") == 1 + 5 * 3


def test_an_executed_notebook_exports_the_static_table_with_svg_sparklines(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    nb.cells = [nbformat.v4.new_code_cell(src) for src in [
        "%load_ext nbml\nimport keras",
        "%%train dead --data sklearn:digits --epochs 3 --normalize none\n"
        "keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), "
        "keras.layers.Dense(32, activation='relu', "
        "name='hidden', bias_initializer=keras.initializers.Constant(-100.0)), "
        "keras.layers.Dense(10, activation='softmax')])",
        "%inspect dead",
    ]]  # fmt: skip
    # JupyterLab saves notebooks without widget state unless asked: export what it saves
    NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=False,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    (result,) = [o for o in nb.cells[2].outputs if o["output_type"] == "execute_result"]
    assert WIDGET_MIME in result["data"]  # the widget, with the static table beside it
    body, _ = HTMLExporter().from_notebook_node(nb)
    table = body[body.index("nbml-inspection") :]
    # (the exporter writes the HTML again: attributes sorted, double quotes)
    assert len(re.findall(r"<svg[^>]*class=.nbml-spark", table)) == 1 + 2 * 3
    assert "<polyline" in table and "dead_units at epoch 2" in table
    assert "hidden" in table and "Dense" in table
    assert 'type="application/vnd.jupyter.widget-view+json"' not in body  # no JavaScript needed
