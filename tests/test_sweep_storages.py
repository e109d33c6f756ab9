"""Sweep storages past one kernel (docs/sweeps-at-scale.md#storages): a real PostgreSQL 16 server
started by the suite from the pgserver package (the ``postgres_url`` fixture: a fresh database
each test), the default SQLite file and a journal file.

- Two real kernels run one study on each storage: every trial number once, both kernels
  contributed, both report the study's best trial.
- On PostgreSQL, processes that open a fresh database at once create Optuna's tables once, and
  asking for a trial waits for the database's lock while another kernel holds it.
- A server that refuses the connection, or never answers (a full listen backlog: its SYNs are
  dropped), is one UsageError naming host and port within the connect timeout, its password
  hidden; a missing driver names the pip command of nbml's extra.
- The docs' PostgreSQL example runs as it is written.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
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

from nbml.core.errors import NbmlError
from nbml.training import search, storages

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "sweeps-at-scale.md"
LINE = "--data sklearn:digits --epochs 1 --lr 1e-4:1e-1:log --batch-size 32,64 --no-widget"

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module", autouse=True)
def _nbml_imported(kernel):
    kernel.ok("import os, nbml")


def _storage(kind: str, request: pytest.FixtureRequest, folder: Path) -> tuple[str, object]:
    """The ``--storage`` words of ``kind`` and the Optuna storage the test reads the study from
    (Optuna's own, not nbml's; None: the default, in the kernels' run store)."""
    if kind == "postgresql":
        url = request.getfixturevalue("postgres_url")
        return f"--storage {url}", url
    if kind == "journal":
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        path = folder / "shared.log"
        return f"--storage {path}", JournalStorage(JournalFileBackend(str(path)))
    return "", None


@pytest.mark.parametrize("kind", ["postgresql", "sqlite-default", "journal"])
def test_two_kernels_share_one_study(kind, request, tmp_path):
    """Two kernels, one of them sweeping on a local Dask cluster of two workers
    (docs/sweeps-at-scale.md#a-cluster), join one study: the workers first hold a trial each,
    then the plain kernel joins; every trial number once, the plain kernel and both workers
    contributed, every kernel reports the study's best trial."""
    words, storage = _storage(kind, request, tmp_path)
    cell = f"%%sweep duo --trials 10 --study duo {LINE} {words} --pruner none\n{BODY}"
    cells = [cell, cell.replace(" --pruner none", " --pruner none --workers 2")]
    kernels = [Kernel(str(tmp_path)) for _ in range(2)]
    try:
        for k in kernels:  # the backend started in both before they race for trials
            k.ok("%load_ext nbml\nimport keras, nbml\nkeras.ops.zeros((1,))")
        results = [None, None]

        def run(i):
            results[i] = kernels[i].execute(cells[i], timeout=600)

        threads = [threading.Thread(target=run, args=(i,)) for i in (1, 0)]
        threads[0].start()  # the Dask sweep first: its workers start (and import Keras) slowly
        url = storage or f"sqlite:///{tmp_path / '.nbml' / search.DEFAULT_FILE}"
        _wait_for_workers(url, threads[0])
        threads[1].start()
        for t in threads:
            t.join()
        for r in results:
            assert r.error is None, r.text
            assert "UsageError" not in r.stderr, r.text
        if storage is None:  # both kernels' run store is .nbml in their folder: one sweeps.db
            assert kernels[0].value("_.storage") == kernels[1].value("_.storage")
            storage = kernels[0].value("_.storage")
            assert storage == f"sqlite:///{tmp_path / '.nbml' / search.DEFAULT_FILE}"
        study = optuna.load_study(study_name="duo", storage=storage)
        assert sorted(t.number for t in study.trials) == list(range(10))
        where = [t.user_attrs["nbml"] for t in study.trials]
        mine = [k.value("__import__('os').getpid()") for k in kernels]
        workers = {w["pid"] for w in where if w.get("worker")}
        assert len(workers) == 2 and not workers & set(mine), (workers, mine)
        assert {w["pid"] for w in where} == {mine[0]} | workers  # all three contributed
        bests = [k.value("_.best_trial.number") for k in kernels]
        assert bests[0] == bests[1] == study.best_trial.number
        for k in kernels:
            assert k.value("_.status") == "finished"
            assert k.value("len(_.rows)") == 10
    finally:
        for k in kernels:
            k.shutdown()


def _wait_for_workers(storage: object, running: threading.Thread, timeout: float = 300) -> None:
    """Until both Dask workers hold a running trial of the study ``duo``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running.is_alive():
        try:
            trials = optuna.load_study(study_name="duo", storage=storage).trials
        except Exception:  # the study (or the SQLite file) is not made yet
            trials = []
        held = {t.user_attrs.get("nbml", {}).get("worker") for t in trials}
        if len(held - {None}) == 2:
            return
        time.sleep(0.2)
    raise AssertionError("the Dask workers never held a trial each")


OPENER = """
import os, sys, time
import optuna
from nbml.training import search
optuna.logging.set_verbosity(optuna.logging.WARNING)
url, folder = sys.argv[1], sys.argv[2]
open(os.path.join(folder, f"ready-{os.getpid()}"), "w").close()
while sum(n.startswith("ready-") for n in os.listdir(folder)) < 3:
    time.sleep(0.01)  # all three open the fresh database at once
store, held, _ = search.storage(url, None)
study = search.open_study("shared", store, held, "minimize", "val_loss")
done = 0
while True:
    trial, _ = search.ask(study, 12, held)
    if trial is None:
        break
    study.tell(trial, trial.suggest_float("x", -1, 1) ** 2)
    done += 1
print(done)
"""


def test_processes_opening_a_fresh_database_at_once_make_each_trial_once(postgres_url, tmp_path):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, postgres_url, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    assert sum(int(out.split()[-1]) for out, _ in outs) == 12
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    assert sorted(t.number for t in study.trials) == list(range(12))


def test_asking_waits_for_the_databases_lock(postgres_url):
    store, held, where = search.storage(postgres_url, None)
    assert where == postgres_url and isinstance(held, storages.AskLock)
    study = search.open_study("locked", store, held, "minimize", "val_loss")
    asked = []
    with search.lock(held):  # another kernel counting and asking
        thread = threading.Thread(target=lambda: asked.append(search.ask(study, 3, held)))
        thread.start()
        thread.join(1.0)
        assert thread.is_alive() and asked == []
    thread.join(30)
    trial, seen = asked[0]
    assert seen == [] and trial.number == 0


def test_a_bare_postgresql_url_finds_the_installed_driver(postgres_url):
    bare = postgres_url.replace("postgresql+psycopg2://", "postgresql://", 1)
    store, _, where = search.storage(bare, None)
    assert where == bare
    search.open_study("bare", store, None, "minimize", "val_loss").ask()
    assert optuna.get_all_study_names(postgres_url) == ["bare"]


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("scheme", ["postgresql", "mysql+pymysql"])
def test_a_server_that_refuses_is_one_usage_error_naming_host_and_port(kernel, scheme):
    port = _closed_port()
    url = f"{scheme}://nbml:s3cret@127.0.0.1:{port}/sweeps"
    started = time.monotonic()
    message = usage_error(kernel, f"%%sweep refused --trials 2 --storage {url} {LINE}\n{BODY}")
    assert time.monotonic() - started < 60
    assert f"database server at 127.0.0.1:{port}" in message, message
    assert "refused" in message and "s3cret" not in message and "nbml:***@" in message
    assert kernel.value("'refused' in globals()") is False


@pytest.fixture
def silent_port():
    """A local port whose listen backlog is full: the kernel drops further SYNs, as a host
    behind a firewall does, so a connection attempt waits until its timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))
    yield port
    filler.close()
    listener.close()


@pytest.mark.parametrize("scheme", ["postgresql", "mysql+pymysql"])
def test_a_server_that_never_answers_gives_up_at_the_connect_timeout(
    scheme, silent_port, monkeypatch
):
    monkeypatch.setattr(storages, "CONNECT_TIMEOUT", 2)
    started = time.monotonic()
    with pytest.raises(NbmlError) as err:
        search.storage(f"{scheme}://nbml:s3cret@127.0.0.1:{silent_port}/sweeps", None)
    took = time.monotonic() - started
    assert 1.5 < took < 10, took
    message = str(err.value)
    assert f"database server at 127.0.0.1:{silent_port}" in message, message
    assert "timed out" in message or "timeout expired" in message, message
    assert "s3cret" not in message and "\n" not in message


@pytest.mark.parametrize(
    ("url", "module", "command"),
    [
        ("postgresql://nbml:s3cret@db.example.org/sweeps", "psycopg2", "'nbml[postgres]'"),
        ("postgresql+psycopg2://nbml@db.example.org/sweeps", "psycopg2", "'nbml[postgres]'"),
        ("mysql+pymysql://nbml:s3cret@db.example.org/sweeps", "pymysql", "'nbml[mysql]'"),
    ],
)
def test_a_missing_driver_names_the_pip_command_of_the_extra(url, module, command, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, "psycopg", None)  # nor SQLAlchemy's default driver
    with pytest.raises(NbmlError) as err:
        search.storage(url, None)
    message = str(err.value)
    assert f"pip install {command}" in message and "s3cret" not in message, message
    assert "\n" not in message
    extra = command.strip("'")[len("nbml[") : -1]  # the extra installs the driver
    driver = {"psycopg2": "psycopg2-binary", "pymysql": "pymysql"}[module]
    assert any(
        r.startswith(driver) and f"extra == '{extra}'" in r.replace('"', "'")
        for r in importlib.metadata.requires("nbml")
    )


def _doc_blocks() -> tuple[str, str]:
    """The docs' PostgreSQL example: its Python block and its ``%%sweep`` cell."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Storages", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    start = next(b for b in blocks if "pgserver.get_server" in b)
    cell = next(b for b in blocks if b.startswith("%%sweep"))
    return start, cell


def test_the_docs_postgresql_example_runs(kernel, tmp_path):
    start, cell = _doc_blocks()
    kernel.ok(f"os.chdir({str(tmp_path)!r})")
    kernel.ok(start, timeout=120)
    try:
        kernel.ok(cell, timeout=600)
        assert kernel.value("_.status") == "finished"
        url = kernel.value("url")
        name = cell.split("--study ", 1)[1].split()[0]
        study = optuna.load_study(study_name=name, storage=url)
        total = int(cell.split("--trials ", 1)[1].split()[0])
        assert sorted(t.number for t in study.trials) == list(range(total))
        assert os.path.isdir(tmp_path / "pgdata")
    finally:
        kernel.ok("server.cleanup()")
