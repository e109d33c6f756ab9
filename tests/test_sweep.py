"""``%%sweep`` in real kernels (docs/reference.md#sweeps): real Optuna studies, real Keras training
on sklearn:digits with tiny models, the real run store.

- A 12-trial sweep completes with pruned trials, every trial is a run in ``%runs``, NAME holds
  the best trial's stored weights, and the same seed gives the same trial parameters again.
- A NaN trial is a failed trial and the sweep goes on; a bad search space is one UsageError
  naming the fix; an interrupt ends the sweep with its finished trials kept.
- Two kernels on one study: tests/test_sweep_storages.py (PostgreSQL, SQLite, a journal file).
"""

from __future__ import annotations

import pytest
from kernel import Kernel

from nbml.views.comm import InvalidMessage
from nbml.views.widgets.sweep import sweep_request

BODY = """keras.Sequential([
    keras.Input((8, 8, 1)),
    keras.layers.Flatten(),
    keras.layers.Dense(hp.choice("units", [8, 16, 32]), activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])"""

LINE = "--data sklearn:digits --epochs 2 --lr 1e-4:1e-1:log --batch-size 32,64 --no-widget"


def usage_error(k: Kernel, code: str) -> str:
    """The one-line UsageError ``code`` gives (no traceback, no error message on iopub)."""
    res = k.execute(code, timeout=300)
    assert res.error is None, f"{res.error['ename']}: {res.error['evalue']}"
    assert "Traceback" not in res.text, res.text
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("UsageError: ")]
    assert len(lines) == 1, res.text
    return lines[0][len("UsageError: ") :]


def sweep_cell(name: str, study: str, trials: int, extra: str = "", body: str = BODY) -> str:
    return f"%%sweep {name} --trials {trials} --study {study} {LINE} {extra}\n{body}"


@pytest.fixture(scope="module", autouse=True)
def _nbml_imported(kernel):
    kernel.ok("import os, nbml")


@pytest.fixture(scope="module")
def twelve(kernel):
    """A 12-trial sweep of ``mlp`` with seed 0, and its result bound to ``s12``."""
    kernel.twelve = kernel.ok(sweep_cell("mlp", "twelve", 12, "--seed 0"), timeout=600)
    kernel.ok("s12 = _")
    return kernel


def test_twelve_trials_complete_with_pruning(twelve):
    k = twelve
    assert k.value("s12.status") == "finished"
    states = k.value("[t.state for t in s12.rows]")
    assert len(states) == 12 and set(states) <= {"complete", "pruned", "failed"}
    assert states.count("pruned") >= 1, states
    assert k.value("sorted(t.number for t in s12.study.trials)") == list(range(12))
    # the sampled values are the study's, and each trial's run holds them (the rate as the
    # optimizer's float32 variable holds it)
    assert k.value(
        "all(abs(t.run.params['lr'] - t.params['lr']) <= 1e-6 * t.params['lr'] "
        "and t.run.params['units'] == t.params['units'] "
        "and t.run.params['batch_size'] == t.params['batch_size'] for t in s12.rows)"
    )
    assert k.value("s12.trials.shape[0]") == 12
    assert k.value("list(s12.trials.columns[:3])") == ["number", "state", "val_loss"]
    # no --storage: SQLite in the run store's folder (docs/reference.md#sweeps)
    assert k.value("s12.storage").startswith("sqlite:///")
    assert k.value("os.path.isfile(os.path.join(nbml.store.current().path, 'sweeps.db'))")


def test_the_sweep_shows_as_static_html_and_returns_one_line(twelve):
    res = twelve.twelve
    # --no-widget: the table, re-rendered after each trial (what a saved notebook keeps)
    final = res.updates[-1]["data"]
    html = final["text/html"]
    assert final["text/plain"].startswith("mlp: sweep twelve: 12/12 trials")
    assert html.count("<tr>") == 13 and html.count("<svg") == 4  # objective by trial, lr, ...
    assert "by trial (line: best so far)" in html and "val_loss vs lr" in html
    assert len(res.updates) >= 12  # one re-rendering per finished trial at least
    # the cell's result is one line (the table is already shown above it)
    assert set(res.result) == {"text/plain"} and res.result["text/plain"].count("\n") == 0


def test_every_trial_is_a_run_in_runs(twelve):
    k = twelve
    stored = k.value(
        "sorted(r.params['trial'] for r in nbml.runs('mlp') if r.params.get('sweep') == 'twelve')"
    )
    assert stored == list(range(12))
    table = k.ok("%runs mlp").text
    for run_id in k.value("[t.run_id for t in s12.rows]"):
        assert run_id in table
    assert "sweep" in table and "trial" in table and "units" in table
    # the runs are in the store itself (a new process would list them)
    k.ok("import nbml.store as _st")
    assert (
        k.value("sum(r.params.get('sweep') == 'twelve' for r in _st.current().runs('mlp'))") == 12
    )


def test_name_holds_the_best_trials_stored_weights(twelve):
    k = twelve
    k.ok(
        "import numpy as np\n"
        "best = s12.best_trial\n"
        "done = [t for t in s12.rows if t.state == 'complete']\n"
        "stored = nbml.store.current().run(best.user_attrs['nbml']['run_id'])\n"
        "loaded = keras.saving.load_model(stored.model_file())"
    )
    assert k.value("best.value == min(t.value for t in done)")
    assert k.value("s12.best_run.id == best.user_attrs['nbml']['run_id']")
    assert k.value("len(loaded.get_weights()) == len(mlp.get_weights()) > 0")
    assert k.value(
        "all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), mlp.get_weights()))"
    )
    assert k.value("[m.status for m in nbml.models() if m.name == 'mlp']") == ["idle"]
    # %evaluate works on the bound model (its data split is the trial's)
    assert k.value("round(nbml.evaluate('mlp').accuracy, 6) >= 0")
    # hp now gives the best trial's values
    assert k.value("hp.choice('units', [8, 16, 32]) == s12.best_params['units']")


def test_same_seed_same_trial_params(twelve):
    k = twelve
    k.ok(sweep_cell("again", "twelve_again", 12, "--seed 0"), timeout=600)
    first = k.value("[t.params for t in s12.rows]")
    second = k.value("[t.params for t in _.rows]")
    assert first == second


def test_nan_trial_fails_and_the_sweep_goes_on(kernel):
    # the body's second trial outputs inf (so its loss is NaN): nbml fails that run (the body's
    # first run is the sweep's check before its first trial, so the second trial is its third)
    body = (
        "_n = globals().get('_n', 0) + 1\n"
        "keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),\n"
        "    keras.layers.Dense(hp.int('units', 8, 16), activation='relu',\n"
        "        kernel_initializer=keras.initializers.Constant(1e38 if _n == 3 else 0.01)),\n"
        "    keras.layers.Dense(10, activation='softmax')])"
    )
    kernel.ok(sweep_cell("nanny", "nan", 4, "--pruner none", body=body), timeout=600)
    states = kernel.value("[t.state for t in _.rows]")
    assert states[1] == "failed" and states.count("complete") == 3, states
    assert kernel.value("_.status") == "finished"
    assert kernel.value("[r.status for r in nbml.runs('nanny')][1]") == "failed"
    assert kernel.value("_.best_trial.number") != 1


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("--lr 1e-4:", ["--lr", "LOW:HIGH"]),
        ("--lr 1e-1:1e-4", ["--lr", "low end must be below"]),
        ("--lr 0:1:log", ["--lr", "positive"]),
        ("--epochs 2.5:4", ["--epochs", "whole numbers"]),
        ("--batch-size 32,,64", ["--batch-size", "empty value"]),
        ("--lr 1e-4:1e-1:lin", ["--lr", "LOW:HIGH:log"]),
        ("--task classification,regression", ["--task", "must be one of"]),
        ("--pruner medium", ["--pruner", "median"]),
        ("--storage sweeps.txt", ["--storage", ".log"]),
        ("--validation-split 0", ["--objective val_loss", "--validation-split"]),
    ],
)
def test_bad_space_is_a_usage_error_naming_the_fix(kernel, line, words):
    message = usage_error(kernel, f"%%sweep bad --trials 2 --data sklearn:digits {line}\n{BODY}")
    for w in words:
        assert w in message, message
    assert kernel.value("'bad' in globals()") is False


def test_bad_hp_and_objective_are_usage_errors(kernel):
    message = usage_error(kernel, sweep_cell("hpbad", "hpbad", 2, body="hp.int('units', 10, 1)"))
    assert "hp.int('units', 10, 1): low must be below high" in message
    message = usage_error(kernel, sweep_cell("objbad", "objbad", 2, "--objective val_acc"))
    assert "--objective val_acc " in message and "--objective val_accuracy" in message
    message = usage_error(kernel, f"%%sweep nobody --data sklearn:digits {LINE}\n{BODY}")
    assert "--trials 12" in message
    message = usage_error(kernel, f"%sweep nobody --trials 3 {LINE}")
    assert "cell body" in message
    assert kernel.value("1 + 1") == 2


def _study_trials(kernel, study: str) -> list[str]:
    """The states of ``study``'s trials in the kernel's default storage (none: no study)."""
    kernel.ok(f"_db = os.path.join(nbml.store.current().path, 'sweeps.db'); _study = {study!r}")
    return kernel.value(
        "(lambda o, url: [t.state.name for t in o.load_study(study_name=_study, storage=url)"
        ".trials] if os.path.isfile(_db) and _study in o.get_all_study_names(url) else [])"
        "(__import__('optuna'), 'sqlite:///' + _db)"
    )


def test_a_mistake_found_before_the_first_trial_leaves_no_failed_trial(kernel):
    """Data whose samples do not fit the body's model (iris's 4 features into an 8x8 input), or
    a bad ``hp`` call, is found before the study is asked for a trial: one UsageError naming
    the fix, and no FAIL trial in the study (Optuna cannot delete one)."""
    cell = sweep_cell("shapebad", "shapebad", 3).replace("sklearn:digits", "sklearn:iris")
    message = usage_error(kernel, cell)
    assert "samples have shape (4,)" in message and "keras.Input" in message, message
    assert _study_trials(kernel, "shapebad") == []
    usage_error(kernel, sweep_cell("hpbad2", "hpbad2", 2, body="hp.int('units', 10, 1)"))
    assert _study_trials(kernel, "hpbad2") == []
    assert kernel.value("'shapebad' in globals() or 'hpbad2' in globals()") is False
    # the same study then runs as usual: its trials are numbered from 0
    kernel.ok(sweep_cell("shapebad", "shapebad", 2, "--pruner none"), timeout=600)
    assert _study_trials(kernel, "shapebad") == ["COMPLETE", "COMPLETE"]


def test_interrupt_keeps_finished_trials(kernel):
    def two_done(msg):
        text = msg["content"].get("data", {}).get("text/plain", "")
        return msg["msg_type"] == "update_display_data" and "2/8 trials" in text

    res = kernel.execute(
        sweep_cell("irq", "irq", 8, "--pruner none --epochs 3"),
        until=two_done,
        then=kernel.interrupt,
    )
    assert res.error is None, res.text
    assert kernel.value("_.status") == "stopped"
    states = kernel.value("[t.state for t in _.rows]")
    assert 2 <= len(states) < 8, states
    assert states == ["complete"] * len(states), states  # the running trial finished too
    assert kernel.value("len(_.study.trials)") == len(states)
    finished = kernel.value("sorted(r.params['trial'] for r in nbml.runs('irq'))")
    assert finished == list(range(len(states)))
    assert kernel.value("isinstance(irq, keras.Model)")
    assert kernel.value("1 + 1") == 2


def test_stop_ends_a_background_sweep_after_the_running_trial(kernel):
    kernel.ok(sweep_cell("bg", "bg", 6, "--pruner none --background"))
    kernel.ok(
        "bg_sweep = _\n"
        "import time\n"
        "while not any(t.state == 'complete' for t in bg_sweep.rows): time.sleep(0.1)\n"
        "print(bg_sweep.stop('a Stop click'))\n"
        "bg_sweep.wait(120)"
    )
    assert kernel.value("bg_sweep.status") == "stopped"
    n = kernel.value("len(bg_sweep.rows)")
    assert 1 <= n < 6
    assert kernel.value("all(t.state == 'complete' for t in bg_sweep.rows)")


def test_widget_messages_are_validated():
    assert sweep_request({"type": "stop"}) == {"type": "stop"}
    assert sweep_request({"type": "select", "trial": 3}) == {"type": "select", "trial": 3}
    for bad in (
        {"type": "select"},
        {"type": "select", "trial": -1},
        {"type": "select", "trial": "3"},
        {"type": "select", "trial": 1.5},
        {"type": "stop", "now": True},
        {"type": "run", "code": "import os"},
        ["stop"],
    ):
        with pytest.raises(InvalidMessage):
            sweep_request(bad)


def test_another_kernels_trials_count_at_the_next_ask(tmp_path):
    """Two kernels on one SQLite study (the second: a storage of its own on the same file, as
    another kernel opens it): its running and ended trials are in the study as this kernel asks
    next, and count toward the study's total."""
    import optuna

    from nbml.training import search

    ours, lock_path, url = search.storage(None, str(tmp_path))
    study = search.open_study("s", ours, lock_path, "minimize", "val_loss")
    theirs = optuna.load_study(study_name="s", storage=url)
    theirs.tell(theirs.ask(), 1.0)
    trial, seen = search.ask(study, 4, lock_path)
    assert [t.number for t in seen] == [0] and trial.number == 1
    running = theirs.ask()  # trial 2 runs in the other kernel
    study.tell(trial, 3.0)
    trial, seen = search.ask(study, 4, lock_path)
    assert [(t.number, t.state.name) for t in seen] == [
        (0, "COMPLETE"), (1, "COMPLETE"), (2, "RUNNING")
    ]  # fmt: skip
    theirs.tell(running, 2.0)
    study.tell(trial, 4.0)
    trial, seen = search.ask(study, 4, lock_path)  # the total: 4 trials, 2 of them theirs
    assert trial is None and [(t.number, t.value) for t in seen] == [
        (0, 1.0), (1, 3.0), (2, 2.0), (3, 4.0)
    ]  # fmt: skip


def test_the_live_summary_reads_no_storage(tmp_path):
    """The sweep widget and the sidebar redraw the summary at each update (143 times in the
    sweep benchmark): it names the best trial from the sweep's rows, without a storage read
    (Optuna's ``best_trial`` reads the study each time: 1.5 s of the views thread, measured)."""
    import sqlalchemy

    from nbml.training import search
    from nbml.training.sweeps import Sweep

    store, lock_path, _ = search.storage(None, str(tmp_path))
    study = search.open_study("s", store, lock_path, "minimize", "val_loss")
    for value in [0.5, 0.25, 0.75]:
        t = study.ask()
        t.suggest_float("lr", 1e-4, 1e-1, log=True)
        study.tell(t, value)
    sw = Sweep("m", study, "val_loss", "minimize", 5, "none")
    sw.refresh()
    selects = [0]

    def seen(conn, cursor, statement, *_):
        selects[0] += statement.lstrip().upper().startswith("SELECT")

    sqlalchemy.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        text = sw.summary()
    finally:
        sqlalchemy.event.remove(store.engine, "before_cursor_execute", seen)
    assert selects[0] == 0
    assert "3/5 trials (3 complete); best #1 val_loss 0.25 (lr " in text, text
    assert sw.best_trial.number == 1  # the study's own answer agrees


def _comm_reply(kernel, comm_id, kind, timeout=60):
    """The next custom message of type ``kind`` the widget ``comm_id`` sends."""
    import queue
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kernel.kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        data = msg["content"].get("data", {}) if msg["msg_type"] == "comm_msg" else {}
        content = data.get("content") if data.get("method") == "custom" else None
        if msg["content"].get("comm_id") == comm_id and (content or {}).get("type") == kind:
            return content
    raise AssertionError(f"no {kind!r} message from widget {comm_id}")


def test_the_monitors_sweep_choice_sweeps_around_its_settings(kernel):
    from test_kernel_widgets import WIDGET, custom, widget_updates

    mlp = BODY.replace('hp.choice("units", [8, 16, 32])', "16")
    res = kernel.ok(f"%%train around --data sklearn:digits --epochs 2 --lr 0.01\n{mlp}")
    comm_id = res.displays[0]["data"][WIDGET]["model_id"]
    panel = {"type": "sweep", "epochs": 2, "lr": 0.01, "batch_size": 32, "optimizer": "adam"}
    custom(kernel, comm_id, {**panel, "lr": -1})
    assert "learning rate must be a positive number" in widget_updates(kernel, comm_id, "notice")
    custom(kernel, comm_id, panel)
    assert widget_updates(kernel, comm_id, "sweeping") is True  # the view disables its buttons
    notice = widget_updates(kernel, comm_id, "notice")
    assert notice.startswith("Sweep around-") and "8 trials around these settings" in notice
    # while it runs, Retrain and a second Sweep are refused, saying why (no second training)
    for kind in ("retrain", "sweep"):
        custom(kernel, comm_id, {**panel, "type": kind})
        refused = widget_updates(kernel, comm_id, "notice")
        refused = refused or widget_updates(kernel, comm_id, "notice")  # the same text again
        assert refused.startswith("Refused: the sweep around-") and "is running" in refused
    kernel.ok(
        "import time\nfrom nbml.training.sweeps import SWEEPS\nsa = SWEEPS[-1]\n"
        "assert sa.name == 'around' and sa.wait(300)"
    )
    assert kernel.value("sa.status") == "finished"
    kernel.ok(
        "from ipywidgets.widgets.widget import _instances\n"
        f"mon = _instances[{comm_id!r}]\nfor _ in range(100):\n"
        "    if not mon.sweeping: break\n    time.sleep(0.05)"
    )
    assert kernel.value("(mon.sweeping, mon._sweep)") == (False, None)
    params = kernel.value("[t.params for t in sa.rows]")
    assert len(params) == 8
    assert all(0.001 <= p["lr"] <= 0.1 and p["batch_size"] in (16, 32, 64) for p in params)
    runs = kernel.value("[(r.params.get('sweep'), r.epochs) for r in nbml.runs('around')]")
    assert runs[0] == (None, 2) and runs[1:] == [(kernel.value("sa.study_name"), 2)] * 8
    # the monitor drew every trial over the first run
    custom(kernel, comm_id, {"type": "sync"})
    assert len(_comm_reply(kernel, comm_id, "snapshot")["runs"]) == 9
    # the model is the best trial's (its preprocessing included, so it predicts raw digits)
    kernel.ok(
        "stored = nbml.store.current().run(sa.best_run.id)\n"
        "loaded = keras.saving.load_model(stored.model_file())"
    )
    assert kernel.value(
        "all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), around.get_weights()))"
    )
    assert kernel.value("nbml.evaluate('around').accuracy > 0.5")
