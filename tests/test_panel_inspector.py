"""The Models panel's inspector and the devices' memory through a real kernel's comm, no browser
(docs/protocol.md, docs/reference.md#the-models-panel): an ``inspect`` request is answered with
the model's layers, records, flags and notes, a new record is pushed on every comm within 1 s of
its epoch's end (also while a foreground training keeps the kernel busy), an unknown name gets an
error and changes nothing, a dead layer's flag reaches the panel's model entry and the monitor's
"N layers flagged", NaN travels as null, and hello says the kernel's resident memory. The run
store's records, as the server extension reads them (without nbml.store), are those
``nbml.inspect(run_id)`` reads."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from kernel import Kernel
from test_generated_ts import conforms
from test_kernel_comm import collect, open_comm, replies, send

from nbml.core import protocol
from nbml.core.inspect_wire import STATS

CNN = (
    "keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(8, 3, activation='relu'),"
    " keras.layers.MaxPooling2D(), keras.layers.Flatten(),"
    " keras.layers.Dense(10, activation='softmax')])"
)
# nbml puts its min-max scaling in front; the model's own layers are named by path
SHAPES = {
    "nbml_minmax": ("Normalization", "(None, 8, 8, 1)", 0),
    "conv2d": ("Conv2D", "(None, 6, 6, 8)", 80),
    "max_pooling2d": ("MaxPooling2D", "(None, 3, 3, 8)", 0),
    "flatten": ("Flatten", "(None, 72)", 0),
    "dense": ("Dense", "(None, 10)", 730),
}
BROKEN = (
    "keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),"
    " keras.layers.Dense(16, activation='relu', name='dead',"
    " bias_initializer=keras.initializers.Constant(-100.0)),"
    " keras.layers.Dense(10, activation='softmax', name='out')])"
)
# digits scaled to [0, 1] by hand: nbml adds no scaling layer of its own in front (with one, the
# model's layers are nested in nbml's and get no activation statistics: no dead_units flag)
DIGITS01 = (
    "from sklearn.datasets import load_digits\n_d = load_digits()\n"
    "digits01 = (_d.images[..., None].astype('float32') / 16.0, _d.target)"
)
WIDGET = "application/vnd.jupyter.widget-view+json"
LAG_BUDGET = 1.0  # s from a record's event in the kernel to its push reaching the client


@pytest.fixture(scope="module")
def k(tmp_path_factory):
    kernel = Kernel(str(tmp_path_factory.mktemp("panel_inspector")))
    kernel.ok("%load_ext nbml\nimport keras\nkeras.utils.set_random_seed(0)")
    yield kernel
    kernel.shutdown()


def short(path):
    """A layer's name without the path of the models around it."""
    return path.rsplit("/", 1)[-1]


def comm_for(k, client):
    comm_id = open_comm(k, {"type": "snapshot", "version": 1, "client": client})
    (hello,) = replies(collect(k, comm_id, lambda ms: len(ms) >= 1))
    return comm_id, hello


def pushes_of(msgs, kind="inspect"):
    return [
        (m["content"]["data"], m["_received"])
        for m in msgs
        if m["msg_type"] == "comm_msg" and m["content"]["data"].get("type") == kind
    ]


def stamp(until):
    """``until`` for :func:`collect` that also notes when each message was received."""

    def check(ms):
        for m in ms:
            m.setdefault("_received", time.time())
        return until(ms)

    return check


def test_hello_says_the_kernels_memory_and_the_store(k):
    _, hello = comm_for(k, "mem")
    conforms(hello, protocol.KernelMsg)
    process = hello["process"]
    assert process["pid"] == hello["pid"]
    assert process["rss"] > 10 * 2**20 and process["rss_peak"] >= process["rss"]
    assert hello["store"].endswith(".nbml")
    # a CPU device has no memory stats: nothing in use or peak is said for it
    for d in hello["devices"]:
        assert d["kind"] != "cpu" or (d["memory_used"] is None and d["memory_peak"] is None)


def test_an_unknown_model_gets_an_error_and_changes_nothing(k):
    comm_id, _ = comm_for(k, "unknown")
    before = k.value("sorted(__import__('nbml').core.registry.REGISTRY.names())")
    words = {
        "nope": "no model named 'nope' in this kernel",
        None: "a 'inspect' message needs ['model']",
        "x": "unexpected fields ['run']",
        "": "'model' must be a model name",
    }
    for model, said in words.items():
        bad = {"type": "inspect", "version": 1}
        if model is not None:
            bad["model"] = model
        if model == "x":
            bad["run"] = "y"
        send(k, comm_id, bad)
        (reply,) = replies(collect(k, comm_id, lambda ms: len(ms) >= 1))
        assert reply["type"] == "error" and said in reply["error"], (bad, reply)
        # the panel marks its open inspector with an error about an inspect request
        assert reply.get("request") == ("inspect" if model == "nope" else None), reply
    assert k.value("sorted(__import__('nbml').core.registry.REGISTRY.names())") == before


def test_a_background_cnn_answers_with_every_layer_and_pushes_each_record(k):
    comm_id, _ = comm_for(k, "cnn")
    k.ok(f"%%train cnn --data sklearn:digits --epochs 6 --background --no-widget\n{CNN}")
    pushed = collect(
        k, comm_id, stamp(lambda ms: len(pushes_of(ms)) >= 6), timeout=120
    )  # one push per epoch's record
    records = pushes_of(pushed)
    assert [p["record"]["epoch"] for p, _ in records] == [1, 2, 3, 4, 5, 6]
    lags = [received - p["time"] for p, received in records]
    print(f"record push lags (s): {[round(x, 3) for x in lags]}")
    assert max(lags) < LAG_BUDGET, lags
    for p, _ in records:
        conforms(p, protocol.KernelMsg)
        assert [short(layer["name"]) for layer in p["layers"]] == list(SHAPES)
        assert [short(r["layer"]) for r in p["record"]["rows"]] == list(SHAPES)
    # the whole inspection, asked once the run is over
    k.ok("__import__('nbml').core.registry.REGISTRY.get('cnn').run.done.wait(60)")
    send(k, comm_id, {"type": "inspect", "version": 1, "model": "cnn"})
    got = replies(
        collect(k, comm_id, lambda ms: any(r["type"] == "inspection" for r in replies(ms)))
    )
    (ins,) = [r for r in got if r["type"] == "inspection"]
    conforms(ins, protocol.KernelMsg)
    assert ins["run"] == records[-1][0]["run"] and ins["status"] == "finished"
    table = {short(la["name"]): (la["type"], la["shape"], la["trainable"]) for la in ins["layers"]}
    assert table == SHAPES
    assert ins["total"] == 810 == sum(t for _, _, t in SHAPES.values())
    assert [r["epoch"] for r in ins["records"]] == [1, 2, 3, 4, 5, 6]
    assert ins["records"] == [p["record"] for p, _ in records]
    conv = [next(r for r in rec["rows"] if short(r["layer"]) == "conv2d") for rec in ins["records"]]
    assert all(r["weight_norm"] > 0 and r["grad_norm"] > 0 for r in conv)
    assert ins["flags"] == [] and ins["notes"] == {}
    # the same numbers nbml.inspect gives in the kernel
    stats = k.value(
        "[[e, [[r['layer'], r['weight_norm']] for r in rows]] "
        "for e, rows in __import__('nbml').inspect('cnn').records]"
    )
    assert [[e, [[r["layer"], r["weight_norm"]] for r in rec["rows"]]] for e, rec in
            ((r["epoch"], r) for r in ins["records"])] == stats  # fmt: skip


def test_records_reach_the_panel_while_a_foreground_training_keeps_the_kernel_busy(k):
    comm_id, _ = comm_for(k, "fg")
    t0 = time.time()
    res = k.execute(f"%%train fgcnn --data sklearn:digits --epochs 3 --no-widget\n{CNN}")
    ended = time.time()
    msgs = [m for m in res.messages if m["content"].get("comm_id") == comm_id]
    records = [m for m in msgs if m["content"]["data"].get("type") == "inspect"]
    assert [m["content"]["data"]["record"]["epoch"] for m in records] == [1, 2, 3]
    sent = [m["header"]["date"].timestamp() for m in records]
    assert all(t0 < s < ended for s in sent)  # pushed during the busy cell, not after it
    assert all(
        s - m["content"]["data"]["time"] < LAG_BUDGET for s, m in zip(sent, records, strict=True)
    )


def test_a_dead_layer_is_flagged_in_the_panel_and_the_monitor(k):
    comm_id, _ = comm_for(k, "broken")
    k.ok(DIGITS01)
    res = k.ok("%%train broken --data digits01 --epochs 3\n" + BROKEN)
    # the monitor's "flagged" trait, as its view hears it: 1 layer
    monitor = res.displays[0]["data"][WIDGET]["model_id"]
    flagged = [
        m["content"]["data"]["state"]["flagged"]
        for m in res.messages
        if m["msg_type"] == "comm_msg"
        and m["content"]["comm_id"] == monitor
        and "flagged" in m["content"]["data"].get("state", {})
    ]
    assert flagged == [1], flagged
    k.ok("__import__('nbml').core.registry.REGISTRY.get('broken').run.done.wait(60)")
    time.sleep(0.5)  # the last pushes
    send(k, comm_id, {"type": "inspect", "version": 1, "model": "broken"})
    got = replies(
        collect(k, comm_id, lambda ms: any(r["type"] == "inspection" for r in replies(ms)))
    )
    (ins,) = [r for r in got if r["type"] == "inspection"]
    # the dead layer (also its gradient vanishes: zero through dead units), and no other
    assert {f["layer"] for f in ins["flags"]} == {"dead"}, ins["flags"]
    (flag,) = [f for f in ins["flags"] if f["kind"] == "dead_units"]
    assert flag["epoch"] == 2
    assert flag["reason"].startswith("100% of its units output <= 0"), flag
    # the panel's model entry carries the flags (the row's "1 layer flagged")
    send(k, comm_id, {"type": "snapshot", "version": 1})
    hello = [r for r in replies(collect(k, comm_id, lambda ms: len(ms) >= 1))][-1]
    entry = next(m for m in hello["models"] if m["name"] == "broken")
    assert entry["inspected"] == ins["run"] and flag in entry["flags"]


def test_nan_statistics_travel_as_null_and_are_named(k):
    comm_id, _ = comm_for(k, "nan")
    k.ok(
        "import numpy as np\nnp_rng = np.random.default_rng(0)\n"
        "xs = np_rng.random((200, 4), dtype='float32')\nys = (xs.sum(1) > 2).astype('int64')\n"
        "tiny_data = (xs, ys)"
    )
    k.ok(
        "%%train tiny --data tiny_data --epochs 1 --no-widget\n"
        "keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation='softmax')])"
    )
    # a record whose weight norm overflowed and whose gradient is NaN, posted as training does
    res = k.ok(
        "from nbml.core.registry import REGISTRY, Event\n"
        "run = REGISTRY.get('tiny').run\n"
        "rows = [dict(r, weight_norm=float('inf'), grad_norm=float('nan')) "
        "for r in run.inspection.records[-1][1]]\n"
        "run.inspection.records.append((2, rows))\n"
        "REGISTRY.post(Event('inspect', run, {'epoch': 2, 'rows': rows}), wait=True)"
    )
    assert "serialization failed" not in res.text and "Warning" not in res.text, res.text
    pushed = [
        m["content"]["data"]
        for m in res.messages
        if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id
    ]
    (push,) = [p for p in pushed if p["type"] == "inspect"]
    (row,) = push["record"]["rows"]
    assert row["weight_norm"] is None and row["grad_norm"] is None
    assert row["nonfinite"] == ["weight_norm", "grad_norm"]
    send(k, comm_id, {"type": "inspect", "version": 1, "model": "tiny"})
    got = replies(
        collect(k, comm_id, lambda ms: any(r["type"] == "inspection" for r in replies(ms)))
    )
    (ins,) = [r for r in got if r["type"] == "inspection"]
    assert ins["records"][-1] == push["record"]


def test_the_server_reads_the_stored_records_that_nbml_inspect_reads(k):
    from nbml.server.stored import NotStored, read_inspection

    k.ok("__import__('nbml').core.registry.REGISTRY.get('broken').run.done.wait(60)")
    store = k.value("__import__('nbml').store.current().path")
    run_id = k.value("__import__('nbml').core.registry.REGISTRY.get('broken').run.id")
    k.ok("__import__('nbml').store.current().flush(30)")
    stored = read_inspection(store, run_id)
    conforms({"version": 1, "kernel": "k", **stored}, protocol.StoredInspection)
    expected = k.value(
        "(lambda i: [i.name, i.status, [[e, rows] for e, rows in i.records]])"
        f"(__import__('nbml').api.inspect._stored({run_id!r}))"
    )
    assert [stored["model"], stored["status"]] == expected[:2] == ["broken", "finished"]
    assert [r["epoch"] for r in stored["records"]] == [e for e, _ in expected[2]] == [1, 2, 3]
    for mine, (_, rows) in zip(stored["records"], expected[2], strict=True):
        for a, b in zip(mine["rows"], rows, strict=True):
            assert a["layer"] == b["layer"]
            assert [a[k] for k in STATS] == pytest.approx([b[k] for k in STATS]), (a, b)
    assert [(la["type"], la["name"]) for la in stored["layers"]][1:] == [
        ("Dense", "dead"),
        ("Dense", "out"),
    ]
    later = read_inspection(store, run_id, since=2)  # the panel's next read: what is new
    assert later["records"] == stored["records"][2:] and later["layers"] == stored["layers"]
    with pytest.raises(NotStored):
        read_inspection(store, "no-such-run")
    with pytest.raises(NotStored):
        read_inspection(str(Path(store).parent / "elsewhere"), run_id)


def test_a_store_older_than_the_inspector_has_no_records(tmp_path):
    from nbml.server.stored import NotStored, read_inspection

    db = sqlite3.connect(tmp_path / "runs.sqlite")
    db.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT, status TEXT)")
    db.execute("INSERT INTO runs VALUES ('r1', 'm', 'finished')")
    db.commit()
    db.close()
    with pytest.raises(NotStored, match="older than the inspector"):
        read_inspection(str(tmp_path), "r1")


def test_the_wire_names_the_inspectors_statistics():
    from nbml.ml.inspection import STAT_COLUMNS

    assert STATS == STAT_COLUMNS
