"""A sweep's trials on a Dask cluster, the notebook's side (docs/sweeps-at-scale.md#a-cluster).

``--workers N`` / ``--cluster ADDRESS`` are checked before the study is touched
(:func:`plan`); the body, its notebook names and the data travel once per sweep
(:meth:`Remote.ship`). While the sweep runs (:meth:`Remote.run`), the notebook keeps one task
per worker thread submitted and one more waiting, each asking the study for a trial when it
starts (:mod:`nbml.api.workers`); it reads the study every ``POLL_S`` and as a task ends, so
its views show every worker's trials and their epochs live, fails a trial whose worker died
(``worker lost``), and records each returned trial as a run of its store with the trial's
model file.

A stop (Stop, ``sweep.stop()``, a first interrupt) submits nothing more and tells the workers
to start no new trial; the running ones finish. A second interrupt asks them to stop at their
next epoch's end; any still running after ``CANCEL_WAIT_S`` is failed. The local cluster is
closed when the sweep ends, however it ends.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import store as _store
from ..core.errors import NbmlError
from ..core.files import first_line
from ..core.registry import Run
from ..store import liveness
from ..training import cluster, search, shipping
from . import workers as _workers

#: Seconds between two reads of the study while trials run on the workers (sooner when a
#: task ends). Each read loads the running trials with every epoch they reported: a read every
#: 0.25 s was the notebook's largest use of the CPU its workers share on one machine.
POLL_S = 0.5
#: Seconds a second interrupt waits for the running trials to stop.
CANCEL_WAIT_S = 60.0
#: Tasks kept waiting behind each worker thread's running one, so that a worker starts its
#: next trial as soon as one ends, not at the notebook's next read of the study (a waiting
#: task asks the study for its trial only when it starts: one that never starts is no trial).
QUEUED_PER_SLOT = 1
#: Seconds the sweep waits for a worker when the cluster has none, before it ends.
NO_WORKERS_S = 60.0
_WHERE = (
    "a storage every worker reaches: --storage postgresql://user@host/db (pip install "
    "'nbml[postgres]'), mysql+pymysql://..., or a .log file on a disk they all share"
)


def plan(workers: Any, address: Any, storage: str | None, job: Any, build: Any) -> Any:
    """The sweep's cluster (checked, not started; the body pickled), or None without
    ``workers``/``address``."""
    if workers is None and address is None:
        return None
    if workers is not None and address is not None:
        raise NbmlError(
            "Give --workers N (a local Dask cluster) or --cluster ADDRESS (a running Dask "
            "scheduler), not both."
        )
    n = cluster.workers_count(workers) if workers is not None else None
    cluster._distributed()  # installed, or the error says what to install
    if address is not None and storage is None:
        raise NbmlError(
            f"A sweep on the Dask scheduler {address} needs {_WHERE}; the default SQLite file "
            "is on this machine only."
        )
    if storage is None and job.store_path is None:
        raise NbmlError(
            "--workers needs a storage its workers share: a run store (%load_ext nbml attaches "
            "one; nbml.store.open(PATH)) for the default SQLite file, or --storage URL."
        )
    remote = Remote(n, address)
    remote.check(build, job.ns)  # an unpicklable name: an error before anything starts
    return remote


@contextlib.contextmanager
def starting(remote: Remote | None) -> Iterator[None]:
    """Start ``remote``'s cluster (in a thread) while the block prepares the sweep; let it go
    if the block fails."""
    if remote is None:
        yield
        return
    remote.start_early()
    try:
        yield
    except BaseException:
        remote.discard()
        raise


@dataclass
class Remote:
    """Where a sweep's trials run, and what travels there."""

    workers: int | None
    address: str | None
    job: Any = None
    blob: bytes = b""
    value: Any = None
    setup: dict[str, str] = field(default_factory=dict)
    pool: Any = None
    body: Any = None
    _starting: threading.Thread | None = None
    _closing: threading.Thread | None = None
    _failed: BaseException | None = None

    def start_early(self) -> None:
        """Start the cluster and have its workers import Keras, in a thread: the notebook
        meanwhile checks the body and opens the study."""
        self.setup = cluster.settings()
        self._starting = threading.Thread(target=self._start, name="nbml-dask", daemon=True)
        self._starting.start()

    def _start(self) -> None:
        env = {"KERAS_BACKEND": self.setup["backend"], "NBML_STORE_PATH": ""}
        try:
            self.pool = cluster.start(self.workers, self.address, env)
            warm = shipping.pickled(_workers.warm)
            self.pool.client.run(cluster.on_worker, self.setup, warm)
        except BaseException as exc:  # raised where the sweep runs
            self._failed = exc

    def _started(self) -> Any:
        if self._starting is None:
            self.start_early()
        self._starting.join()  # type: ignore[union-attr]
        if self._failed is not None:
            raise self._failed
        return self.pool

    def discard(self) -> None:
        """Let go of the cluster (once started; a local one is closed), once."""
        if self._starting is not None:
            self._starting.join()
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.close()

    def check(self, build: Any, ns: dict[str, Any]) -> None:
        """Pickle the body, before anything starts: an unpicklable name is an error naming it."""
        code = getattr(build, "nbml_code", None)
        self.body = shipping.cell_body(code, ns) if isinstance(code, str) else build
        shipping.pickled(self.body)

    def ship(self, job: Any, sw: Any, storage: str | None) -> Remote:
        """Pickle the trials' job (the body, the data spec, the search space, the study)."""
        body = self.body
        spec, self.value = shipping.data_for_workers(job.data, job.ns)
        token = uuid.uuid4().hex[:12]
        self.job = _workers.TrialJob(
            sw.name, sw.study_name, _for_workers(storage, sw.storage), job.store_path, sw.total,
            sw.objective, sw.study.pruner, job.seed, job.space, job.fixed, spec, body,
            f"nbml-no-new-{token}", f"nbml-stop-{token}",
        )  # fmt: skip
        self.blob = shipping.pickled(functools.partial(_workers.run_trial, self.job))
        return self

    def run(self, sw: Any, job: Any) -> None:
        """Run the sweep's trials on the cluster. A local one is closed at the end: after an
        error at once; else in a thread while the notebook binds the best model
        (:meth:`closed` waits for it)."""
        try:
            _Loop(self, sw, job, self._started()).run()
        except BaseException:
            self.discard()
            raise
        self._closing = threading.Thread(target=self.discard, name="nbml-dask-close", daemon=True)
        self._closing.start()

    def closed(self) -> None:
        """Wait until the cluster is let go (the sweep ends only then); let it go now where
        the sweep failed before its trials ran on it."""
        if self._closing is not None:
            self._closing.join()
        else:
            self.discard()


def _for_workers(storage: str | None, where: str) -> str | None:
    """``--storage`` as the workers open it: a URL as given, a journal file's absolute path."""
    if storage is None or "://" in storage:
        return storage
    return where


class _Loop:
    """One sweep's submitted tasks, read and settled every ``POLL_S``."""

    def __init__(self, remote: Remote, sw: Any, job: Any, pool: Any) -> None:
        self.remote, self.sw, self.job, self.pool = remote, sw, job, pool
        self.running: dict[str, Any] = {}  # task key -> future
        self.keys: set[str] = set()  # every task key submitted
        self.full = False
        self.error: BaseException | None = None
        self.told_no_new = False
        self.alone_since: float | None = None  # since when the cluster has had no worker
        self.alive: dict[str, int] = {}  # the workers at the last read: address -> threads
        # set by Dask when a submitted task ends, and by a stop: the loop acts on either at
        # once (a stop tells the workers before a waiting task starts a trial)
        self.ended = threading.Event()
        value = remote.value
        self.data = pool.client.scatter([value], hash=False)[0] if value is not None else None

    def run(self) -> None:
        unsubscribe = self.sw.subscribe(lambda kind, _: kind == "status" and self.ended.set())
        try:
            self._run()
        finally:
            unsubscribe()

    def _run(self) -> None:
        try:
            while True:
                trials = self.sw.study.get_trials(deepcopy=False)
                self.alive = self.pool.workers()  # once a read: a round trip to the scheduler
                self.sw.refresh(trials)
                self._lost(trials, "worker lost")
                self._collect()
                ending = bool(self.sw.stop_reason) or self.error is not None
                if ending:
                    self._no_new()
                elif not self.full and len(trials) < self.sw.total:
                    self._fill(trials)
                done = self.full or len(trials) >= self.sw.total or ending
                if not self.running and done:
                    break
                self._alone()
                self.ended.wait(POLL_S)  # a task's end, or the next read
                self.ended.clear()
        except KeyboardInterrupt:  # a second interrupt: the running trials stop too
            self._stop_running()
            raise
        if self.error is not None:
            raise self.error

    def _fill(self, trials: list[Any]) -> None:
        """Submit tasks while a worker thread is free and the study has room."""
        started = {search.place(t).get("task") for t in trials}
        unstarted = [k for k in self.running if k not in started]
        room = self.sw.total - len(trials) - len(unstarted)
        free = (1 + QUEUED_PER_SLOT) * sum(self.alive.values()) - len(self.running)
        for _ in range(max(min(room, free), 0)):
            key = f"nbml-trial-{uuid.uuid4().hex[:12]}"
            r = self.remote
            fut = self.pool.client.submit(
                cluster.on_worker, r.setup, r.blob, self.data, key, key=key
            )
            fut.add_done_callback(lambda _: self.ended.set())
            self.running[key] = fut
            self.keys.add(key)

    def _collect(self) -> None:
        """Take the tasks that ended: record their trials."""
        for key, fut in list(self.running.items()):
            if not fut.done():
                continue
            del self.running[key]
            if fut.status == "cancelled":
                continue
            if fut.status == "error":
                exc = fut.exception()
                if type(exc).__name__ != "KilledWorker":  # a lost worker's trial is failed
                    self.error = exc if isinstance(exc, NbmlError) else NbmlError(
                        f"A trial's task failed on its Dask worker: {first_line(exc)}"
                    )  # fmt: skip
                continue
            res = fut.result()
            if res is None:
                self.full = True
            else:
                self._record(res)

    def _record(self, res: dict[str, Any]) -> None:
        """A trial's result: its run in the notebook's store, its row this sweep's."""
        n, run = res["number"], None
        if res.get("run"):
            run = Run(**res["run"])
            run.inspection = res.get("inspection")  # the inspector's records, as in a kernel
            run.done.set()
            st = _store.current()
            if st is not None:
                st.add_run(run, res.get("model"), res.get("why", ""), res.get("times"))
        if res.get("error") and self.error is None:
            self.error = NbmlError(f"Trial #{n} failed on {res.get('worker')}: {res['error']}")
        if res.get("stop") and not self.sw.stop_reason:
            self.sw.stop(res["stop"])
        self.sw.refresh()  # the trial's end, as the worker told the study
        row = self.sw.row(n)
        if row is not None and run is not None:
            row.run, row.run_id, row.fit_seconds = run, run.id, res.get("fit_seconds")
            row.mine = True  # the storage has its end: the row is kept as it is now
            self.sw.notify("trial", row)

    def _lost(self, trials: list[Any], reason: str, every: bool = False) -> None:
        """Fail this sweep's running trials whose worker is gone (or all with ``every``)."""
        import optuna

        mine = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING
                and search.place(t).get("task") in self.keys]  # fmt: skip
        if not mine:
            return
        alive = set(self.alive) if not every else set()
        for t in mine:
            p = search.place(t)
            here = p.get("host") == liveness.HOST
            gone = here and not liveness.alive(p.get("pid"), p.get("pid_start"))
            if every or gone or p.get("worker") not in alive:
                self._fail(t, p, reason)

    def _fail(self, t: Any, where: dict[str, Any], reason: str) -> None:
        store = self.job.store
        with contextlib.suppress(Exception):  # its worker may end it at the same moment
            sid = store.get_study_id_from_name(self.sw.study_name)
            tid = store.get_trial_id_from_study_id_trial_number(sid, t.number)
            store.set_trial_user_attr(tid, "nbml", {**where, "failed": reason})
            self.sw.study.tell(t.number, state=search.state("FAIL"))

    def _alone(self) -> None:
        """End the sweep when its cluster has had no worker for ``NO_WORKERS_S``."""
        if self.alive:
            self.alone_since = None
            return
        now = time.monotonic()
        self.alone_since = self.alone_since or now
        if now - self.alone_since >= NO_WORKERS_S and self.error is None:
            self.error = NbmlError(
                f"{self.pool.where} has had no worker for {NO_WORKERS_S:.0f} s; the sweep ends "
                "(its finished trials are kept). Start workers (dask worker ADDRESS), or use "
                "--workers N."
            )
            for fut in self.running.values():
                fut.cancel()
            self.running.clear()

    def _no_new(self) -> None:
        if not self.told_no_new:
            self.told_no_new = True
            with contextlib.suppress(Exception):
                self.pool.set_event(self.remote.job.no_new)

    def _stop_running(self) -> None:
        """Ask the running trials to stop; fail those still running after the wait."""
        self._no_new()
        with contextlib.suppress(Exception):
            self.pool.set_event(self.remote.job.stop_now)
        deadline = time.monotonic() + CANCEL_WAIT_S
        while self.running and time.monotonic() < deadline:
            self._collect()
            self.ended.wait(POLL_S)
            self.ended.clear()
        for fut in self.running.values():
            fut.cancel()
        self._lost(self.sw.study.get_trials(deepcopy=False), "cancelled", every=True)
