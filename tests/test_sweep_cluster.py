"""``%%sweep --workers N`` / ``--cluster ADDRESS`` in real kernels (docs/sweeps-at-scale.md): a
real ``distributed.LocalCluster`` of two worker processes (or a ``dask scheduler`` and ``dask
worker`` processes started here), real Optuna studies in the default SQLite file, real Keras
training of tiny models on sklearn:digits, the real run store.

- 16 trials on two workers: both ran trials, the pruner pruned some judging them against the
  other worker's trials, every trial is a run of the store with its history, its inspector's
  records and model file, and NAME holds the best trial's stored weights (``%inspect NAME``
  its run).
- A worker killed (SIGKILL) mid-trial fails that trial ("worker lost"); the sweep completes.
- An interrupt with 2 trials running and 10 pending: the 2 finish, the 10 never start.
- Mistakes are one UsageError before any trial: an unpicklable notebook name, --cluster
  without a storage every worker reaches, a bad --workers.

The local cluster itself, without a kernel: tests/test_cluster_local.py.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from kernel import Kernel
from test_sweep import BODY, usage_error

LINE = "--data sklearn:digits --lr 1e-3:1e-1:log --batch-size 32,64 --no-widget"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = Kernel(str(tmp_path_factory.mktemp("cluster")))
    k.ok("%load_ext nbml\nimport keras, nbml, numpy as np, os")
    k.cwd = k.value("os.getcwd()")
    yield k
    k.shutdown()


def study_of(k: Kernel, name: str) -> optuna.Study:
    """The study ``name`` in the kernel's default storage, read from this process."""
    url = "sqlite:///" + os.path.join(k.cwd, ".nbml", "sweeps.db")
    return optuna.load_study(study_name=name, storage=url)


def states(study: optuna.Study) -> list[str]:
    return [t.state.name for t in study.get_trials(deepcopy=False)]


def on_workers_only(line: str) -> str:
    """Body code that runs ``line`` on a Dask worker only (the notebook runs the body too, to
    plan the first trial)."""
    return ("from distributed import get_worker\ntry:\n    get_worker()\n"
            "except ValueError:  # the notebook plans the first trial: no worker here\n"
            f"    pass\nelse:\n    {line}\n")  # fmt: skip


def in_thread(k: Kernel, code: str) -> tuple[threading.Thread, dict]:
    out: dict = {}
    thread = threading.Thread(target=lambda: out.update(res=k.execute(code, timeout=600)))
    thread.start()
    return thread, out


def wait_for(study_name: str, k: Kernel, test, timeout: float = 300) -> optuna.Study:
    """Poll the study (once it exists) until ``test(study)`` holds. One storage for all the
    reads: opening one per read (an engine, Optuna's table checks) slowed the workers'
    writes enough that trials crawled."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    deadline = time.monotonic() + timeout
    db = os.path.join(k.cwd, ".nbml", "sweeps.db")
    storage = None
    while time.monotonic() < deadline:
        if storage is None and os.path.isfile(db):
            storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
        if storage is not None:
            try:
                study = optuna.load_study(study_name=study_name, storage=storage)
                if test(study):
                    return study
            except KeyError:  # not created yet
                pass
        time.sleep(0.1)
    raise AssertionError(f"the study {study_name} never reached the state waited for")


def test_sixteen_trials_on_two_workers(kernel):
    k = kernel
    res = k.ok(f"%%sweep mlp --trials 16 --workers 2 --epochs 3 --seed 0 {LINE}\n{BODY}", 900)
    assert "mlp: sweep mlp: 16/16 trials" in res.text
    html = res.updates[-1]["data"]["text/html"]  # the static table a saved notebook keeps
    assert ">worker</th>" in html and html.count(">tcp://127.0.0.1:") == 16
    k.ok("s = _\nimport nbml.store as st")
    assert k.value("s.status") == "finished"
    study = study_of(k, "mlp")
    trials = study.get_trials(deepcopy=False)
    assert sorted(t.number for t in trials) == list(range(16))
    assert set(states(study)) <= {"COMPLETE", "PRUNED"}, states(study)
    where = {t.number: t.user_attrs["nbml"] for t in trials}
    workers = {w["worker"] for w in where.values()}
    assert len(workers) == 2 and all(w.startswith("tcp://") for w in workers), workers
    assert len({w["pid"] for w in where.values()}) == 2
    assert k.value("os.getpid()") not in {w["pid"] for w in where.values()}
    # the pruner judged a trial against the other worker's trials: one was pruned at a step
    # that trials of the other worker had reported before
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned, states(study)

    def others_seen(p):
        step = max(p.intermediate_values)
        return any(
            o.datetime_start < p.datetime_complete and step in o.intermediate_values
            and where[o.number]["worker"] != where[p.number]["worker"]
            for o in trials if o.number != p.number
        )  # fmt: skip

    assert any(others_seen(p) for p in pruned)
    # every trial is a run of the store, with its history and model file
    runs = k.value(
        "sorted((r.params['trial'], r.id, r.epoch, len(r.history['loss']), "
        "os.path.isfile(r.model_file())) for r in st.current().runs('mlp'))"
    )
    assert [r[0] for r in runs] == list(range(16))
    assert all(r[2] == r[3] >= 1 and r[4] for r in runs), runs
    assert {r[0]: r[1] for r in runs} == {n: w["run_id"] for n, w in where.items()}
    # with the inspector's records of every epoch it trained, as a trial in the kernel
    inspected = k.value(
        "{r.params['trial']: sorted({int(e) for e in nbml.inspect(r.id).stats.epoch}) "
        "for r in st.current().runs('mlp')}"
    )
    assert inspected == {r[0]: list(range(1, r[2] + 1)) for r in runs}, inspected
    # the rows: each trial's worker and run
    assert k.value("sorted({t.worker for t in s.rows})") == sorted(workers)
    assert k.value("[t.run_id for t in s.rows]") == [where[n]["run_id"] for n in range(16)]
    # NAME holds the best trial's stored weights
    k.ok(
        "best = s.best_trial\n"
        "loaded = keras.saving.load_model(st.current().run(best.user_attrs['nbml']['run_id'])"
        ".model_file())"
    )
    best_number = k.value("best.number")
    assert best_number == study.best_trial.number
    assert k.value(
        "all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), mlp.get_weights()))"
    )
    assert k.value("nbml.evaluate('mlp').accuracy > 0.3")
    # %inspect NAME: the best trial's run, with its records
    assert k.value("nbml.inspect('mlp').run_id") == where[best_number]["run_id"]
    assert k.value("len(nbml.inspect('mlp').records)") == 3


def test_a_killed_worker_fails_its_trial_and_the_sweep_completes(kernel):
    k = kernel
    cell = f"%%sweep killed --trials 6 --workers 2 --epochs 30 --pruner none {LINE}\n{BODY}"
    thread, out = in_thread(k, cell)
    running = wait_for(
        "killed", k, lambda s: any(t.state.name == "RUNNING" and t.intermediate_values
                                   for t in s.get_trials(deepcopy=False))
    )  # fmt: skip
    victim = next(t for t in running.trials if t.state.name == "RUNNING" and t.intermediate_values)
    os.kill(victim.user_attrs["nbml"]["pid"], signal.SIGKILL)
    thread.join(600)
    assert out["res"].error is None, out["res"].text
    study = study_of(k, "killed")
    by_number = {t.number: t for t in study.trials}
    assert len(by_number) == 6 and "RUNNING" not in states(study)
    lost = by_number[victim.number]
    assert lost.state.name == "FAIL" and lost.user_attrs["nbml"]["failed"] == "worker lost"
    assert states(study).count("COMPLETE") == 5
    assert k.value("_.status") == "finished"
    assert k.value(f"_.row({victim.number}).reason") == "worker lost"
    assert k.value(f"_.row({victim.number}).state") == "failed"
    assert "failed (worker lost)" in out["res"].updates[-1]["data"]["text/html"]


def test_an_interrupt_lets_two_running_trials_finish_and_starts_no_other(kernel):
    k = kernel
    cell = f"%%sweep irq --trials 12 --workers 2 --epochs 12 --pruner none {LINE}\n{BODY}"
    thread, out = in_thread(k, cell)
    wait_for("irq", k, lambda s: states(s).count("RUNNING") == 2)
    k.interrupt()
    thread.join(600)
    assert out["res"].error is None, out["res"].text
    study = study_of(k, "irq")
    assert states(study) == ["COMPLETE", "COMPLETE"]  # the 10 others never started
    assert k.value("_.status") == "stopped"
    assert k.value("sorted(r.params['trial'] for r in nbml.runs('irq'))") == [0, 1]
    assert k.value("isinstance(irq, keras.Model)")


def test_a_second_interrupt_stops_the_running_trials_at_an_epoch_end(kernel):
    """A first interrupt starts no new trial; a second one stops the two running trials at
    their next epoch's end (their epochs so far kept: runs ``stopped``, trials failed), and
    the sweep ends with nothing RUNNING and its cluster closed."""
    k = kernel
    cell = f"%%sweep twice --trials 12 --workers 2 --epochs 400 --pruner none {LINE}\n{BODY}"
    thread, out = in_thread(k, cell)
    wait_for("twice", k, lambda s: [len(t.intermediate_values) >= 3 for t in s.trials
                                    if t.state.name == "RUNNING"] == [True, True])  # fmt: skip
    k.interrupt()
    time.sleep(0.5)
    k.interrupt()
    thread.join(600)
    assert out["res"].error is None, out["res"].text
    study = study_of(k, "twice")
    assert states(study) == ["FAIL", "FAIL"], states(study)  # the 10 others never started
    assert all(0 < len(t.intermediate_values) < 400 for t in study.trials)
    assert k.value("_.status") == "stopped"
    runs = k.value("sorted((r.params['trial'], r.status, len(r.history['loss'])) "
                   "for r in nbml.runs('twice'))")  # fmt: skip
    assert [(n, status) for n, status, _ in runs] == [(0, "stopped"), (1, "stopped")], runs
    assert all(0 < epochs < 400 for _, _, epochs in runs), runs
    assert k.value(WORKER_PIDS) == []


POLICY_ON_WORKER = on_workers_only(
    'if keras.config.dtype_policy().name != "mixed_bfloat16": raise RuntimeError('
    'f"the worker builds in {keras.config.dtype_policy().name}")'
)


def test_the_workers_take_the_notebooks_dtype_policy(kernel):
    """The body runs on the workers under the notebook's Keras dtype policy (it raises on a
    worker that has another)."""
    k = kernel
    k.ok('keras.config.set_dtype_policy("mixed_bfloat16")')
    try:
        k.ok(f"%%sweep mixed --trials 2 --workers 2 --epochs 1 --pruner none {LINE}\n"
             f"{POLICY_ON_WORKER}{BODY}")  # fmt: skip
        assert k.value("[t.state for t in _.rows]") == ["complete"] * 2, k.value("_.message")
    finally:
        k.ok('keras.config.set_dtype_policy("float32")')


API = """
from sklearn.datasets import load_digits
digits = load_digits()
xy = (digits.images[:600].astype("float32") / 16, digits.target[:600])
def dense(units):  # a notebook function the body calls: it travels by value
    return keras.layers.Dense(units, activation="relu")
def build(hp):
    return keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(),
                             dense(hp.int("units", 8, 32)), keras.layers.Dense(10)])
api = nbml.sweep("fn", build, xy, trials=4, workers=2, epochs=2, pruner="none",
                 space={"lr": (1e-3, 1e-1, "log")}, display="none")
"""


def test_the_api_ships_a_function_and_data_in_memory(kernel):
    """``nbml.sweep(..., workers=2)`` with a notebook function that calls another, and arrays
    in memory (scattered to the workers); then ``%%sweep --data NAME`` of a notebook
    variable."""
    k = kernel
    k.ok(API, 600)
    assert k.value("api.status") == "finished"
    assert k.value("[t.state for t in api.rows]") == ["complete"] * 4
    assert len(k.value("{t.worker for t in api.rows}")) == 2
    assert k.value("sorted(r.params['trial'] for r in nbml.runs('fn'))") == [0, 1, 2, 3]
    assert k.value("isinstance(fn, keras.Model)")
    k.ok(f"%%sweep named --trials 2 --workers 2 --epochs 1 --pruner none --data xy {LINE[22:]}\n"
         "build(hp)")  # fmt: skip
    assert k.value("[t.state for t in _.rows]") == ["complete"] * 2
    assert k.value("{r.data for r in nbml.runs('named')}") == {"xy"}


#: The kernel's Dask worker processes (a local cluster's, started by multiprocessing's spawn).
WORKER_PIDS = """[p.pid for p in __import__("psutil").Process().children(recursive=True)
 if p.is_running() and p.status() != "zombie" and "spawn_main" in " ".join(p.cmdline())]"""

ON_WORKER_ONLY = on_workers_only('raise RuntimeError("a mistake only the workers make")')


def test_the_local_cluster_is_closed_when_the_sweep_ends_also_after_an_error(kernel):
    k = kernel
    k.ok(f"%%sweep ends --trials 2 --workers 2 --epochs 1 --pruner none {LINE}\n{BODY}")
    assert k.value("_.status") == "finished"
    assert k.value(WORKER_PIDS) == []
    msg = usage_error(k, f"%%sweep broken --trials 8 --workers 2 --epochs 1 {LINE}\n"
                         f"{ON_WORKER_ONLY}{BODY}")  # fmt: skip
    assert "a mistake only the workers make" in msg and "failed on tcp://" in msg, msg
    assert k.value(WORKER_PIDS) == []
    # no new trial once the notebook heard of the failure: those running, or started by a
    # worker as it ended its first (at most one a worker), fail too; none is left RUNNING
    ran = states(study_of(k, "broken"))
    assert 1 <= len(ran) <= 4 and set(ran) == {"FAIL"}, ran


def test_mistakes_are_usage_errors_before_any_trial(kernel):
    k = kernel
    k.ok("import threading\nlock = threading.Lock()")
    body = BODY.replace('hp.choice("units", [8, 16, 32])', "16 if lock else 8")
    msg = usage_error(k, f"%%sweep locked --trials 2 --workers 2 --epochs 1 {LINE}\n{body}")
    assert "`lock` (a lock)" in msg and "cannot travel to the Dask workers" in msg, msg
    assert "Make it inside the body" in msg
    db = os.path.join(k.cwd, ".nbml", "sweeps.db")  # found before the study is made:
    assert not os.path.isfile(db) or "locked" not in optuna.get_all_study_names(f"sqlite:///{db}")
    msg = usage_error(k, f"%%sweep far --trials 2 --cluster tcp://127.0.0.1:1 {LINE}\n{BODY}")
    assert "--storage postgresql://" in msg and "tcp://127.0.0.1:1" in msg, msg
    msg = usage_error(k, f"%%sweep zero --trials 2 --workers 0 {LINE}\n{BODY}")
    assert "--workers takes a number" in msg and "auto" in msg
    msg = usage_error(k, f"%%sweep both --trials 2 --workers 2 --cluster x {LINE}\n{BODY}")
    assert "not both" in msg
    log = os.path.join(k.cwd, "nowhere.log")
    msg = usage_error(
        k, f"%%sweep far --trials 2 --cluster tcp://127.0.0.1:1 --storage {log} {LINE}\n{BODY}"
    )
    assert "Cannot reach the Dask scheduler at tcp://127.0.0.1:1" in msg, msg
    assert k.value("any(n in globals() for n in ('locked', 'far', 'zero', 'both'))") is False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _doc_commands() -> list[list[str]]:
    """The ``dask`` commands of docs/sweeps-at-scale.md#a-cluster, as written there."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "sweeps-at-scale.md").read_text()
    section = text[text.index("## A cluster") :]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [shlex.split(line) for b in blocks for line in b.strip().splitlines()]


def test_a_sweep_on_a_running_scheduler_and_workers(kernel, tmp_path):
    """The commands of docs/sweeps-at-scale.md#a-cluster, run as written on one machine (the
    hosts are 127.0.0.1, the port a free one): ``dask scheduler``, two ``dask worker``
    processes, and a sweep with ``--cluster`` on a journal file."""
    k = kernel
    scheduler, worker = _doc_commands()
    port = str(_free_port())
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = os.path.dirname(sys.executable)

    def command(words: list[str]) -> tuple[list[str], dict[str, str]]:
        env = {**os.environ}
        while "=" in words[0]:  # VAR=value before the command
            key, value = words[0].split("=", 1)
            env[key], words = value, words[1:]
        words = [shutil.which(words[0], path=bin_dir)] + [
            w.replace("0.0.0.0", "127.0.0.1").replace("SCHEDULER_HOST", "127.0.0.1")
            .replace("8786", port)
            for w in words[1:]
        ]  # fmt: skip
        return words, env

    assert scheduler[:2] == ["dask", "scheduler"] and worker[1:3] == ["dask", "worker"]
    words, env = command(scheduler)
    procs = [subprocess.Popen(words, env=env, cwd=tmp_path)]
    try:
        for _ in range(2):
            words, env = command(worker)
            procs.append(subprocess.Popen(words, env=env, cwd=tmp_path))
        log = tmp_path / "shared" / "sweeps.log"
        cell = (
            f"%%sweep remote --trials 4 --cluster {address} --storage {log} --epochs 2 "
            f"--pruner none {LINE}\n{BODY}"
        )
        k.ok(cell, 600)
        assert k.value("_.status") == "finished"
        workers = k.value("sorted({t.worker for t in _.rows})")
        assert len(workers) == 2 and all(w.startswith("tcp://127.0.0.1:") for w in workers)
        assert k.value("[t.state for t in _.rows]") == ["complete"] * 4
        assert k.value("len(nbml.runs('remote'))") == 4
        assert k.value("isinstance(remote, keras.Model)")
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(30)
