"""Sweeps on Optuna: the study's storage, trials asked within the study's total, and the Keras
callback that reports each epoch's objective to the trial and prunes it.

- Storage: an Optuna RDB URL, a ``.log`` path (Optuna's journal file, for a shared disk), or by
  default SQLite at ``<store_path>/sweeps.db`` (docs/reference.md#sweeps), created under a lock (two
  processes creating one SQLite file at once otherwise die in Optuna's schema set-up) and opened
  with a 60 s busy timeout, in WAL mode with ``synchronous=NORMAL`` like the run store (a commit
  survives a killed kernel; it halves the CPU of each reported value: 1.5 -> 0.7 ms). One storage
  per URL serves every sweep of the kernel: Optuna's own storages as they ship (its ``RDBStorage``,
  which each study wraps in Optuna's own cache, or its ``JournalStorage``). Measured here (3
  processes, 60 trials of 5 reports each): SQLite took 10-40 ms per storage operation against the
  journal file's 1 ms, so many kernels on one study are better served by a ``.log`` file or a
  database server.
- ``--trials N`` is the study's total: a new trial is asked for under a lock beside a file
  storage only while the study holds fewer than N trials (running ones included), so several
  kernels never make trial N. On PostgreSQL a database lock takes the file's part; other server
  URLs (``nbml.training.storages``: drivers, connect timeout) have none, and each kernel checks
  the count just before asking (two kernels asking at the same instant may then add one more).
- Each trial samples with a TPE sampler seeded by ``(seed, trial number)``: the same seed gives
  the same trials again, and two kernels running one study never draw the same random trials.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import warnings
from collections.abc import Iterator
from typing import Any

import keras

from ..core.errors import NbmlError, did_you_mean
from ..core.files import first_line
from ..core.options import MAX_SEED
from ..core.registry import REGISTRY
from ..ml import seeding
from ..store import liveness
from . import storages

#: The default storage (docs/reference.md#sweeps): SQLite in the run store's folder. Several kernels
#: share it (created under a lock, a 60 s busy timeout); for many at once, a .log journal file or a
#: database server is faster (measured: README, Sweeps).
DEFAULT_FILE = "sweeps.db"
#: States of a trial that has ended.
PRUNERS = ("median", "hyperband", "none")
_URL_FORMS = (
    "an Optuna RDB URL (sqlite:///sweeps.db, postgresql://user@host/db, mysql+pymysql://...) "
    "or a path ending in .log (Optuna's journal file, for a shared disk)"
)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Optuna's INFO lines and experimental warnings off while a sweep talks to it."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


def storage(spec: str | None, store_path: str | None) -> tuple[Any, Any, str]:
    """The Optuna storage of ``--storage`` (default: SQLite in the run store's folder, else in
    memory), the file to lock beside while asking for trials (a database server's lock, or
    none), and a description."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if spec is None:
        if not store_path:
            return optuna.storages.InMemoryStorage(), None, "memory (no run store)"
        url = "sqlite:///" + os.path.join(store_path, DEFAULT_FILE)
        path = _file_of(url)
        return _rdb(url, path, own=True), path, url
    if not isinstance(spec, str) or not spec.strip():
        raise NbmlError(f"--storage takes {_URL_FORMS}, not {spec!r}.")
    if "://" not in spec:
        if not spec.endswith(".log"):
            raise NbmlError(f"--storage takes {_URL_FORMS}; '{spec}' is neither.")
        path = os.path.abspath(os.path.expanduser(spec))
        _folder(path)
        return optuna.storages.JournalStorage(JournalFileBackend(path)), path, path
    path = _file_of(spec)
    store = _rdb(spec, path)
    return store, path if path is not None else storages.ask_lock(store), spec


def _folder(path: str) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError as exc:
        raise NbmlError(f"Cannot make the folder of the sweep storage {path}: {exc}") from None


def _file_of(url: str) -> str | None:
    """The SQLite file of ``url`` (its folder made), or None for a database server."""
    if not url.startswith("sqlite:///"):
        return None
    path = os.path.abspath(url[len("sqlite:///") :])
    _folder(path)
    return path


def _inode(path: str | None) -> int | None:
    try:
        return os.stat(path).st_ino if path is not None else None
    except OSError:
        return -1


#: The RDB storages this kernel opened, by URL (one engine and connection pool each), with the
#: SQLite file's inode then (a file removed or replaced since is opened afresh).
_OPEN: dict[str, tuple[Any, int | None]] = {}


def _rdb(url: str, path: str | None, own: bool = False) -> Any:
    """Optuna's RDB storage at ``url`` (its SQLite file ``path``, if any), opened once per
    kernel (again if the file is gone). ``own``: nbml's default file, opened in WAL mode with
    ``synchronous=NORMAL``."""
    import optuna

    held = _OPEN.get(url)
    if held is not None and held[1] == _inode(path) != -1:
        return held[0]
    kwargs: dict[str, Any] = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    if own and path is not None:
        kwargs = {"creator": functools.partial(_connect, path)}
    try:
        if path is None:  # a database server (its driver, a connect timeout)
            opened = storages.open_server(url)
        else:
            with lock(path):  # several kernels creating one SQLite file at once break its schema
                opened = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except NbmlError:
        raise
    except Exception as exc:
        raise NbmlError(f"Cannot open the sweep storage {url}: {first_line(exc)}") from None
    _OPEN[url] = (opened, _inode(path))
    return opened


def _connect(path: str) -> sqlite3.Connection:
    """A connection to nbml's own sweep file ``path``: a 60 s busy timeout, WAL mode with
    ``synchronous=NORMAL`` (as the run store)."""
    db = sqlite3.connect(path, timeout=60, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    return db


@contextlib.contextmanager
def lock(path: Any) -> Iterator[None]:
    """A lock shared by every process that sees the file ``path`` (none without a path), or a
    database server's (``nbml.training.storages.AskLock``)."""
    if path is None:
        yield
        return
    if not isinstance(path, str):
        with path.held():
            yield
        return
    from optuna.storages.journal import JournalFileOpenLock

    held = JournalFileOpenLock(path + ".ask", grace_period=30)
    held.acquire()
    try:
        yield
    finally:
        held.release()


def pruner(name: str, epochs: Any) -> Any:
    """Optuna's pruner for ``--pruner``."""
    import optuna

    if name not in PRUNERS:
        raise NbmlError(
            f"--pruner must be one of {', '.join(PRUNERS)}, not '{name}'.{did_you_mean(name, PRUNERS)}"
        )
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if name == "hyperband":
        top = epochs if isinstance(epochs, int) else "auto"
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=top)
    return optuna.pruners.NopPruner()


def mixed_seed(seed: int | None, number: int) -> int | None:
    """The seed of trial ``number`` of a sweep seeded ``seed`` (its sampler's and its model's);
    None for a sweep seeded ``none``."""
    if seed is None:
        return None
    return (seed * 1_000_003 + number * 7_919 + 1) % (MAX_SEED + 1)


def probe(seed: int | None) -> Any:
    """A trial of a throwaway in-memory study, sampled at random (seeded as trial 0): values to
    check a sweep's first trial with before its study is asked for one."""
    import optuna

    sampler = optuna.samplers.RandomSampler(seed=mixed_seed(seed, 0))
    return optuna.create_study(sampler=sampler).ask()


def seed_trial(seed: int | None, number: int) -> None:
    """Seed trial ``number``'s randomness (:func:`nbml.ml.seeding.seed_all`) before its model
    is built."""
    seeding.seed_all(mixed_seed(seed, number))


def sampler(seed: int, number: int) -> Any:
    """The TPE sampler of trial ``number``: seeded by the sweep's seed and the trial number."""
    import optuna

    return optuna.samplers.TPESampler(seed=mixed_seed(seed, number), constant_liar=True)


def state(name: str) -> Any:
    """Optuna's ``TrialState`` called ``name`` (COMPLETE, PRUNED, FAIL)."""
    import optuna

    return optuna.trial.TrialState[name]


def open_study(name: str, store: Any, lock_path: str | None, direction: str, objective: str) -> Any:
    """Create the study ``name`` or join it; a study made for another objective or direction
    is an error naming both."""
    import optuna

    with lock(lock_path):
        study = optuna.create_study(
            study_name=name, storage=store, direction=direction, load_if_exists=True
        )
        attrs = study.user_attrs
        if "nbml_objective" not in attrs:
            study.set_user_attr("nbml_objective", objective)
    have = (attrs.get("nbml_objective", objective), study.direction.name.lower())
    if have != (objective, direction):
        raise NbmlError(
            f"The study '{name}' in this storage optimises {have[0]} ({have[1]}), not "
            f"{objective} ({direction}). Give another --study NAME, or --objective {have[0]} "
            f"--direction {have[1]} to join it."
        )
    return study


def ask(study: Any, total: int, lock_path: str | None) -> tuple[Any, list[Any]]:
    """A new trial, or None once the study holds ``total`` trials (running ones included);
    and the study's trials as read just before asking (for the views and the pruner)."""
    with lock(lock_path):
        seen = study.get_trials(deepcopy=False)
        if len(seen) >= total:
            return None, seen
        return study.ask(), seen


def mark(trial: Any, store_path: str | None, run_id: str | None) -> None:
    """Note where a trial runs, in one write: its host and process (to tell a dead kernel's
    trial), the run store that keeps its model and (once it has trained) its run there. The
    sweep's own thread writes it, before the trial trains and before it is told."""
    where = {"host": liveness.HOST, "pid": liveness.PID, "pid_start": liveness.PID_START}
    trial.set_user_attr("nbml", {**where, "store": store_path, "run_id": run_id})


def place(trial: Any) -> dict[str, Any]:
    """Where a trial ran: ``host``, ``pid``, ``pid_start``, ``store`` and ``run_id`` (see
    :func:`mark`)."""
    return trial.user_attrs.get("nbml") or {}


def running_elsewhere(study: Any) -> list[Any]:
    """The study's running trials; those of a dead kernel on this host are failed first."""
    import optuna

    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    out = []
    for t in running:
        a = place(t)
        if a.get("host") == liveness.HOST and not liveness.alive(a.get("pid"), a.get("pid_start")):
            with contextlib.suppress(Exception):  # another kernel may fail it at the same time
                study.tell(t.number, state=optuna.trial.TrialState.FAIL)
            continue
        out.append(t)
    return out


def finished(study: Any) -> list[Any]:
    import optuna

    states = optuna.trial.TrialState
    done = (states.COMPLETE, states.PRUNED, states.FAIL)
    return study.get_trials(deepcopy=False, states=done)


def choose(sw: Any, st: Any, best: Any) -> tuple[tuple[int, str] | None, str]:
    """(trial number, run id) of the model a sweep binds, and a note when it is not the study's
    best: a model in this kernel's run store (the study's best, else this kernel's best)."""
    run_id = place(best).get("run_id")
    if st is not None and run_id and has_model(st, run_id):
        return (best.number, run_id), ""
    host = place(best).get("host") or "another machine"
    mine = [t for t in sw.rows if t.mine and t.state == "complete" and t.run_id]
    mine = [t for t in mine if st is not None and has_model(st, t.run_id)]
    where = f"The study's best trial #{best.number} ({sw.objective} {best.value:.4g}) ran on {host}"
    if not mine:
        return None, (
            f"{where}; its model is in that kernel's run store, and no trial of this kernel "
            f"completed with a stored model, so {sw.name} is the last trial's model."
        )
    pick = min if sw.direction == "minimize" else max
    own = pick(mine, key=lambda t: t.value)
    return (own.number, own.run_id), (  # type: ignore[return-value]
        f"{where}; its model is in that kernel's run store, so {sw.name} is this kernel's best."
    )


def has_model(st: Any, run_id: str) -> bool:
    try:
        st.run(run_id).model_file()
    except NbmlError:
        return False
    return True


def bind(name: str, stored: Any, data: Any, ns: dict[str, Any], **load: Any) -> None:
    """Make the stored run's saved model the model ``name`` in this kernel and notebook.

    When this kernel ran trials of the sweep, ``name``'s record already holds the data split
    every trial trained on (one data spec, one seed, one split): only the model is loaded.
    Otherwise the run's data is loaded and split as that run did (``--from-run``'s way).
    """
    from ..ml import compiling
    from . import adopting

    record = REGISTRY.get(name)
    if record is None or record.dataset is None:
        adopting.adopt(name, stored, data, ns, **load)
    else:
        path = stored.model_file()
        try:
            model = keras.saving.load_model(path)
        except Exception as exc:
            raise NbmlError(f"Could not load {path} (run {stored.id}): {first_line(exc)}") from None
        REGISTRY.ensure_free(name, action="bind the best trial's model to it")
        record.model, record.from_logits = model, compiling.from_logits(model)
        record.normalize = stored.params.get("normalize") or record.normalize
        record.user_compiled, record.status = False, "idle"
    ns[name] = REGISTRY.get(name).model  # type: ignore[union-attr]
