"""Widget traits and messages in plain Python (docs/reference.md#widgets): bounded, deltas only,
throttled, strict JSON (a NaN or an infinity travels as null), and the view's messages validated."""

from __future__ import annotations

import json
import math
import time

import keras
import numpy as np
import pytest

import nbml
from nbml.core.registry import REGISTRY, Event, Run
from nbml.views.widgets import confusion, images, monitor
from nbml.views.widgets.monitor import TrainingMonitor


@pytest.fixture(autouse=True)
def fresh_registry():
    for name in REGISTRY.names():
        REGISTRY.remove(name)


def capture(widget):
    """Record every comm message the widget sends (trait syncs and custom messages)."""
    sent = []
    original = widget.comm.send

    def send(data=None, metadata=None, buffers=None):
        json.dumps(data, allow_nan=False)  # what jupyter_client accepts without a warning
        sent.append(data)
        return original(data=data, metadata=metadata, buffers=buffers)

    widget.comm.send = send
    return sent


def customs(sent, kind=None):
    out = [m["content"] for m in sent if m.get("method") == "custom"]
    return [m for m in out if kind is None or m.get("type") == kind]


def synthetic(mon, epochs=30, steps=2000, clock=None):
    run = Run("r1", "m", {"lr": 0.001, "batch_size": 32}, "spec", epochs)
    mon.track(run, foreground=False)
    REGISTRY.publish(Event("begin", run))
    for epoch in range(epochs):
        for batch in range(0, steps, 7):
            if clock is not None:
                clock[0] += 0.004
            logs = {"loss": 1.0 / (1 + epoch + batch / steps), "accuracy": 0.5}
            REGISTRY.publish(
                Event("batch", run, {"epoch": epoch, "batch": batch, "steps": steps, "logs": logs})
            )
        run.epoch += 1
        REGISTRY.publish(
            Event("epoch", run, {"epoch": epoch, "logs": {"loss": 0.5, "val_loss": 0.6}})
        )
    run.status = "finished"
    REGISTRY.publish(Event("end", run))
    return run


def test_curves_are_bounded_and_batch_points_thinned_per_epoch():
    mon = TrainingMonitor("m", update_interval=0.0, max_points=1000, points_per_epoch=50)
    synthetic(mon, epochs=60, steps=2000)
    curves = mon.runs[0]["curves"]
    assert 500 <= len(curves["loss"]["batch"]) <= 1000
    assert len(curves["loss"]["epoch"]) == 60 and len(curves["val_loss"]["epoch"]) == 60
    xs = [p[0] for p in curves["loss"]["batch"]]
    assert xs == sorted(xs) and xs[-1] <= 60


def test_ticks_carry_only_new_points_and_are_throttled(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(monitor.time, "monotonic", lambda: clock[0])
    mon = TrainingMonitor("m", update_interval=0.1, points_per_epoch=50)
    sent = capture(mon)
    times = []
    send = mon.comm.send
    mon.comm.send = lambda *a, **k: (times.append(clock[0]), send(*a, **k))[1]
    synthetic(mon, epochs=4, steps=2000, clock=clock)
    ticks = customs(sent, "tick")
    duration = clock[0] - 1000.0
    assert len(ticks) <= duration / 0.1 + 3  # at most one per update_interval (+ begin/end)
    # no second holds more than 1 / update_interval messages, the end's included
    assert max(sum(t <= u < t + 1 for u in times) for t in times) <= 10
    assert len(ticks) >= duration * 7  # and the live updates still come about 8 times a second
    xs = [p[0] for tk in ticks for p in tk.get("batch", {}).get("loss", [])]
    assert len(xs) == len(set(xs))  # no point sent twice
    assert len(xs) == len(mon.runs[0]["curves"]["loss"]["batch"])
    assert ticks[-1]["header"]["status"] == "finished"


def test_bytes_grow_with_epochs_not_batches():
    def total(steps):
        mon = TrainingMonitor("m", update_interval=0.0)
        sent = capture(mon)
        synthetic(mon, epochs=5, steps=steps)
        return sum(len(str(m)) for m in sent)

    assert total(20_000) < 1.5 * total(2_000)


def test_snapshot_answers_a_new_view():
    mon = TrainingMonitor("m", update_interval=0.0)
    synthetic(mon, epochs=3, steps=100)
    sent = capture(mon)
    mon._on_msg(mon, {"type": "sync"}, [])
    snap = customs(sent, "snapshot")[0]
    assert snap["runs"][0]["curves"]["loss"]["epoch"] == mon.runs[0]["curves"]["loss"]["epoch"]
    assert "<svg" in mon.static_html() or mon.static_html()  # static fallback renders


def mlp():
    return keras.Sequential(
        [
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def wait(run, seconds=120):
    run.thread.join(seconds)
    assert not run.thread.is_alive()


def test_background_run_stop_keeps_weights_and_history_and_refuses_a_second_run():
    x = np.random.default_rng(0).random((20000, 64), dtype="float32")
    y = np.random.default_rng(1).integers(0, 10, 20000)
    ns = {}
    t0 = time.perf_counter()
    run = nbml.train(
        "bg", mlp(), (x, y), epochs=500, batch_size=8, background=True, namespace=ns, display="none"
    )
    assert time.perf_counter() - t0 < 10 and run.status == "running"
    with pytest.raises(nbml.NbmlError, match="already training|busy training"):
        nbml.train("bg", epochs=1, namespace=ns, display="none")
    while run.epoch < 1:
        time.sleep(0.05)
    assert "Stopping bg" in nbml.stop("bg")
    wait(run)
    assert run.status == "stopped" and nbml.models()[0].status == "stopped"
    assert 1 <= run.epoch < 500 and len(run.history["loss"]) == run.epoch
    assert ns["bg"] is nbml.models()[0].model
    assert "not training" in nbml.stop("bg")


def test_retrain_from_the_monitor_starts_a_second_background_run():
    ns = {}
    mon = TrainingMonitor("r", update_interval=0.0)
    mon._adopt = True
    nbml.train("r", mlp(), "sklearn:digits", epochs=2, namespace=ns, display="none")
    sent = capture(mon)
    second = mon.retrain({"epochs": 2, "lr": 0.0005, "batch_size": 64, "optimizer": "adam"})
    wait(second)
    assert second.params["lr"] == pytest.approx(0.0005) and second.params["batch_size"] == 64
    assert [r["id"] for r in mon.runs] == [nbml.runs("r")[0].id, second.id]
    assert len(mon.runs[1]["curves"]["loss"]["epoch"]) == 2
    assert any(t.get("run") == second.id for t in customs(sent, "tick"))
    bad = mon.retrain({"epochs": 0, "lr": 0.001, "batch_size": 32, "optimizer": "adam"})
    assert bad is None and "epochs must be a whole number from 1" in mon.notice
    # a monitor whose runs have ended no longer hears events (old monitors cost nothing)
    assert not listening(mon)


def listening(mon):
    return REGISTRY.subscribed(mon._on_event)


def test_a_monitor_stops_listening_when_its_run_ends_and_listens_again_to_retrain():
    mon = TrainingMonitor("m", update_interval=0.0)
    assert listening(mon)
    synthetic(mon, epochs=1, steps=14)
    assert not listening(mon)
    mon._listen()  # what retrain does before it starts the new run
    assert listening(mon)
    mon.close()
    assert not listening(mon)


def test_confusion_cell_lists_its_samples_with_thumbnails():
    ns = {}
    nbml.train("c", mlp(), "sklearn:digits", epochs=2, namespace=ns, display="none")
    ev = nbml.evaluate("c")
    w = confusion.ConfusionMatrix(ev)
    cm = ev.confusion_matrix
    i, j = np.unravel_index(np.argmax(cm - np.diag(np.diag(cm))), cm.shape)
    reply = w.samples(i, j)
    assert reply["total"] == cm[i, j] and len(reply["items"]) == min(cm[i, j], w.page_size)
    assert reply["items"][0]["image"].startswith("data:image/png;base64,")
    d = int(np.argmax(np.diag(cm)))
    w.page_size = 5  # the best class has far more than 5 right: several pages
    second = w.samples(d, d, page=1)
    assert second["page"] == 1 and second["total"] == cm[d, d] and len(second["items"]) == 5
    assert second["pages"] == -(-cm[d, d] // 5)
    assert w.samples(d, d, page=99)["page"] == second["pages"] - 1  # clamped to the last page
    assert w.matrix == cm.tolist() and w.labels == [str(k) for k in range(10)]


def test_png_thumbnail_is_a_valid_png():
    data = images.png_bytes(np.arange(64).reshape(8, 8))
    assert data.startswith(b"\x89PNG") and b"IEND" in data
    assert images.png_bytes(np.zeros((4, 4, 3))).startswith(b"\x89PNG")


def test_live_monitor_on_a_plain_fit_registers_the_run():
    x = np.random.default_rng(0).random((256, 4), dtype="float32")
    y = (x[:, 0] > 0.5).astype("int64")
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(2, activation="softmax")], name="plain"
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=3, verbose=0, callbacks=[nbml.LiveMonitor(display="none")])
    rec = nbml.models()[0]
    assert rec.name == "plain" and rec.status == "idle" and rec.epoch == 3
    assert len(rec.history["loss"]) == 3 and rec.run.status == "finished"


def test_runs_widget_sends_only_the_ticked_runs_curves():
    from nbml.views.comparison import RunTable
    from nbml.views.widgets.runs import RunsWidget

    ns = {}
    nbml.train("w", mlp(), "sklearn:digits", epochs=2, namespace=ns, display="none")
    nbml.train("w", epochs=3, lr=0.0005, namespace=ns, display="none")
    runs = nbml.runs("w")[-2:]
    widget = RunsWidget(RunTable(runs))
    assert widget.headers[0] == "run" and len(widget.rows) == 2 and widget.curves == {}
    widget.selected = [runs[1].id]
    assert list(widget.curves) == [runs[1].id]
    assert len(widget.curves[runs[1].id]["history"]["loss"]) == 3
    bundle = widget._repr_mimebundle_()[0]
    assert "<table" in bundle["text/html"] and "application/vnd.jupyter.widget-view+json" in bundle


def test_text_progress_line_redraws_at_most_four_times_a_second_between_epochs(capsys):
    from nbml.views.progress import ProgressView

    run = Run("t1", "m", {}, "spec", 2)
    view = ProgressView(run)  # outside a kernel: one carriage-return line on stdout
    capsys.readouterr()
    for i in range(20):  # 2 s of batch events 0.1 s apart
        data = {"epoch": 0, "batch": i, "steps": 20, "logs": {"loss": 1.0}}
        view(Event("batch", run, data, time=1000.0 + i * 0.1))
    drawn = capsys.readouterr().out.count("\r")
    assert 7 <= drawn <= 8  # every 0.25 s, not every event
    run.epoch, run.status = 1, "finished"
    view(Event("epoch", run, {"epoch": 0, "logs": {"loss": 0.5}}, time=1002.01))
    view(Event("end", run, {}, time=1002.02))  # epochs and the end always redraw
    assert capsys.readouterr().out.count("\r") == 2


# ---------------------------------------------------------------- NaN and inf reach no channel


def exploding(mon):
    """A run whose loss explodes to inf and NaN: batch and epoch logs, header and end."""
    run = Run("boom", "m", {"lr": math.inf, "batch_size": 32}, "spec", 3)
    mon.track(run, foreground=False)
    REGISTRY.publish(Event("begin", run))
    for batch, loss in enumerate([1.0, 1e30, math.inf, math.nan]):
        data = {"epoch": 0, "batch": batch, "steps": 4, "logs": {"loss": loss, "mae": -math.inf}}
        REGISTRY.publish(Event("batch", run, {**data, "samples_per_s": math.inf, "eta": math.nan}))
    run.epoch = 1
    REGISTRY.publish(Event("epoch", run, {"epoch": 0, "logs": {"loss": math.nan, "val_loss": 2.0}}))
    run.status, run.message = "failed", "Loss became nan at epoch 1, batch 4"
    REGISTRY.publish(Event("end", run))
    return run


def test_nan_and_inf_travel_as_null_in_ticks_snapshot_and_traits():
    mon = TrainingMonitor("m", update_interval=0.0)
    sent = capture(mon)  # fails on any NaN/inf: strict JSON
    exploding(mon)
    ys = [p[1] for t in customs(sent, "tick") for p in t.get("batch", {}).get("loss", [])]
    assert ys == [1.0, 1e30, None, None]
    assert all(
        p[1] is None for t in customs(sent, "tick") for p in t.get("batch", {}).get("mae", [])
    )
    headers = [t["header"] for t in customs(sent, "tick") if "header" in t]
    assert any(h.get("samples_per_s", 0) is None for h in headers)
    mon._on_msg(mon, {"type": "sync"}, [])
    snap = customs(sent, "snapshot")[-1]
    assert snap["runs"][0]["curves"]["loss"]["epoch"] == [[1, None]]
    json.dumps(mon.history, allow_nan=False)
    assert mon.history["runs"][0]["curves"]["loss"]["batch"][2] == [0.75, None]
    assert mon.defaults["lr"] is None  # a trait too
    # the curves kept in the kernel are untouched, and the static HTML skips what is not finite
    assert math.isnan(mon.runs[0]["curves"]["loss"]["epoch"][0][1])
    assert "<svg" in mon.static_html() and "nan" not in mon.static_html().lower().split("loss")[0]


def test_confusion_and_runs_widgets_send_null_for_nan():
    from nbml.views.comparison import RunTable
    from nbml.views.widgets.runs import RunsWidget, _cell

    run = Run("r9", "w", {"lr": 0.1}, "spec", 2, status="failed", epoch=2)
    run.history = {"loss": [1.0, math.nan], "val_loss": [math.inf, 2.0]}
    run.metrics = {"loss": math.nan}
    widget = RunsWidget(RunTable([run]))
    sent = capture(widget)
    widget.selected = ["r9"]  # the trait update goes through the strict capture
    assert widget.curves["r9"]["history"]["loss"] == [[1, 1.0], [2, None]]
    assert [_cell(v) for v in (math.nan, math.inf, None, 2, "x")] == [None, None, "", 2, "x"]
    json.dumps(widget.rows, allow_nan=False)
    assert sent


class FakeEvaluation:
    labels = ["a", "b"]
    report = {
        "a": {"precision": math.nan, "recall": 1.0, "f1-score": math.nan, "support": 1},
        "b": {"precision": 0.5, "recall": math.inf, "f1-score": 0.5, "support": 1},
    }
    confusion_matrix = np.array([[1, 0], [1, 0]])
    accuracy = math.nan
    x = np.array([[math.nan, 1.0], [math.inf, 2.0]])

    def cell(self, true, pred, label=None):
        return np.array([1]) if (true, pred) == (1, 0) else np.array([], dtype=int)


def test_confusion_widget_nulls_and_validated_clicks():
    w = confusion.ConfusionMatrix(FakeEvaluation())
    sent = capture(w)
    assert w.accuracy is None and w.per_class[0]["precision"] is None
    w._on_msg(w, {"type": "cell", "true": 1, "pred": 0, "page": 0}, [])
    assert customs(sent, "samples")[-1]["items"][0]["values"] == [None, 2.0]
    for bad in (
        {"type": "cell", "true": math.inf, "pred": 0, "page": 0},  # int(inf): OverflowError
        {"type": "cell", "true": 2, "pred": 0},
        {"type": "cell", "true": 0.5, "pred": 0},
        {"type": "cell", "true": 0, "pred": 0, "code": "x"},
        {"type": "eval"},
        "cell",
    ):
        before = len(sent)
        w._on_msg(w, bad, [])
        assert w.notice.startswith("Refused: "), bad
        assert not customs(sent[before:], "samples")
    w._on_msg(w, {"type": "cell", "true": 0, "pred": 0}, [])
    assert w.notice == ""


RETRAIN = {"type": "retrain", "epochs": 2, "lr": 0.001, "batch_size": 32, "optimizer": "adam"}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"epochs": 0}, "epochs must be a whole number from 1 to 100,000"),
        ({"epochs": 100_001}, "epochs must be"),
        ({"epochs": 2.5}, "epochs must be"),
        ({"epochs": math.inf}, "plain JSON"),  # int(inf) raised OverflowError before
        ({"epochs": True}, "epochs must be"),
        ({"epochs": "5"}, "epochs must be"),
        ({"batch_size": 2**20 + 1}, "batch_size must be a whole number from 1 to 1,048,576"),
        ({"batch_size": 0}, "batch_size must be"),
        ({"batch_size": 1e9}, "batch_size must be"),
        ({"lr": -1}, "learning rate must be a positive number"),
        ({"lr": 0}, "learning rate"),
        ({"lr": math.nan}, "plain JSON"),
        ({"lr": "abc"}, "learning rate"),
        ({"lr": True}, "learning rate"),
        ({"optimizer": "sgdd"}, "unknown optimizer 'sgdd'"),
        ({"optimizer": 3}, "unknown optimizer"),
        ({"code": "import os"}, "unexpected fields ['code']"),
        ({"type": "exec"}, "unknown message type 'exec'"),
        ({"epochs": None}, "epochs must be"),
    ],
)
def test_a_bad_retrain_message_changes_nothing_and_says_why(change, words):
    mon = TrainingMonitor("m", update_interval=0.0)
    synthetic(mon, epochs=1, steps=14)
    sent = capture(mon)
    runs_before = [r["id"] for r in mon.runs]
    mon._on_msg(mon, {**RETRAIN, **change}, [])  # must not raise
    assert mon.notice.startswith("Refused: ") and words in mon.notice, mon.notice
    assert [r["id"] for r in mon.runs] == runs_before and not mon._adopt
    assert not listening(mon) and REGISTRY.get("m") is None  # no training was started
    assert any(m.get("method") == "update" and "notice" in m["state"] for m in sent)


def test_other_bad_messages_are_refused_too():
    mon = TrainingMonitor("m", update_interval=0.0)
    for bad in ([], "stop", {"type": "stop", "model": "x"}, {"type": "sync", "x": 1}, {"a": 1}):
        mon.notice = ""
        mon._on_msg(mon, bad, [])
        assert mon.notice.startswith("Refused: "), bad
    from nbml.views.widgets.messages import monitor_request

    ok = monitor_request({**RETRAIN, "optimizer": "SGD", "lr": 10})
    assert ok == {**RETRAIN, "optimizer": "sgd", "lr": 10.0}
    assert monitor_request({"type": "retrain", "epochs": 1, "batch_size": 1})["lr"] is None
