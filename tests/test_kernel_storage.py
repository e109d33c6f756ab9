"""The sweep's storage as one kernel sees it (``nbml.training.kernel_storage.KernelStorage``):
the same trials, the same samples and the same database as Optuna's own storage, with fewer
reads of the database per trial. Real SQLite files throughout; "another kernel" is a second
Optuna storage opened on the same file."""

from __future__ import annotations

import threading

import optuna
import sqlalchemy

from nbml.training import search

optuna.logging.set_verbosity(optuna.logging.WARNING)

TRIALS = 10


def _selects(engine: sqlalchemy.engine.Engine) -> list[int]:
    """A counter of the SELECT statements ``engine`` runs from now on."""
    count = [0]

    def seen(conn, cursor, statement, *_):
        count[0] += statement.lstrip().upper().startswith("SELECT")

    sqlalchemy.event.listen(engine, "before_cursor_execute", seen)
    return count


def _trial(study, store, number: int, db=None) -> tuple[dict, optuna.trial.FrozenTrial]:
    """One trial as a sweep runs it: ask and sample within one read, report, tell. ``db``:
    another storage on the same file, which must read the running trial as this one has it."""
    study.sampler = search.sampler(0, number)
    with search.one_read(store):
        trial, _ = search.ask(study, TRIALS, None)
        x = trial.suggest_float("x", 1e-4, 1e-1, log=True)
        units = trial.suggest_categorical("units", [16, 32, 64])
    trial.set_user_attr("nbml", {"run_id": f"r{number}"})
    for step in range(3):
        trial.report(x * units / (step + 1), step)
    running = study._storage.get_trial(trial._trial_id)
    assert running.state == optuna.trial.TrialState.RUNNING
    if db is not None:
        _same(running, db.get_trial(trial._trial_id))
    if number % 3:
        study.tell(trial, x * units)
    else:  # pruned: Optuna makes the last reported value the trial's
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return running, study._storage.get_trial(trial._trial_id)


def _same(a: optuna.trial.FrozenTrial, b: optuna.trial.FrozenTrial, when: bool = True) -> None:
    """The same trial (``when``: of one study, so started at the same time too)."""
    for field in ("number", "state", "values", "params", "distributions", "user_attrs"):
        assert getattr(a, field) == getattr(b, field), field
    assert a.intermediate_values == b.intermediate_values
    assert not when or a.datetime_start == b.datetime_start


def test_the_same_trials_as_optunas_own_storage_with_fewer_reads(tmp_path):
    """Two studies, one on the kernel's storage and one on Optuna's own, run the same seeded
    trials: every sample is the same, the kernel's answers for its running and ended trials
    are the database's, the files hold the same trials, and the kernel's storage reads the
    database less than half as often."""
    ours, _, _ = search.storage(None, str(tmp_path / "ours"))
    plain = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'plain.db'}")
    counts = {"ours": _selects(ours.backend.engine), "plain": _selects(plain.engine)}
    studies = {
        "ours": search.open_study("s", ours, None, "minimize", "val_loss"),
        "plain": optuna.create_study(study_name="s", storage=plain),
    }
    other = optuna.storages.RDBStorage(ours.backend.url)  # the same file, as another kernel
    for n in range(TRIALS):
        r1, e1 = _trial(studies["ours"], ours, n, other)  # the kept copy is the database's
        r2, e2 = _trial(studies["plain"], plain, n)
        _same(r1, r2, when=False)  # the same samples, reports and attributes
        _same(e1, e2, when=False)  # ended, as told
        _same(e1, other.get_trial(e1._trial_id))
        assert abs((e1.datetime_complete - other.get_trial(e1._trial_id).datetime_complete)
                   .total_seconds()) < 1  # fmt: skip
    reopened = optuna.load_study(study_name="s", storage=ours.backend.url)
    for a, b in zip(reopened.trials, studies["plain"].trials, strict=True):
        _same(a, b, when=False)
    assert {t.state for t in reopened.trials} == {
        optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED
    }  # fmt: skip
    assert counts["ours"][0] * 2 < counts["plain"][0], counts


def test_another_kernels_trials_are_read_at_the_next_ask(tmp_path):
    """A trial that another kernel adds is in the study as read at the next ask; within one
    read it is not (it counts from the next trial on); outside a read, every call reads."""
    ours, _, _ = search.storage(None, str(tmp_path))
    study = search.open_study("s", ours, None, "minimize", "val_loss")
    theirs = optuna.load_study(study_name="s", storage=ours.backend.url)
    theirs.tell(theirs.ask(), 1.0)
    with search.one_read(ours):
        trial, seen = search.ask(study, TRIALS, None)
        assert [t.number for t in seen] == [0]
        theirs.tell(theirs.ask(), 2.0)  # trial 2 ends in the other kernel meanwhile
        assert [t.number for t in study.get_trials(deepcopy=False)] == [0, 1]  # 1: this one
        assert study.get_trials()[1].state == optuna.trial.TrialState.RUNNING
    assert [t.number for t in study.get_trials(deepcopy=False)] == [0, 1, 2]
    study.tell(trial, 3.0)
    with search.one_read(ours):
        _, seen = search.ask(study, TRIALS, None)
        assert [(t.number, t.value) for t in seen] == [(0, 1.0), (1, 3.0), (2, 2.0)]


def test_one_read_holds_for_its_own_thread_only(tmp_path):
    """The views' thread reads the study afresh while the sweep's thread is within one read."""
    ours, _, _ = search.storage(None, str(tmp_path))
    study = search.open_study("s", ours, None, "minimize", "val_loss")
    theirs = optuna.load_study(study_name="s", storage=ours.backend.url)
    seen_there: list[int] = []
    with search.one_read(ours):
        assert study.get_trials(deepcopy=False) == []
        theirs.tell(theirs.ask(), 1.0)
        views = threading.Thread(
            target=lambda: seen_there.extend(t.number for t in study.get_trials(deepcopy=False))
        )
        views.start()
        views.join()
        assert study.get_trials(deepcopy=False) == []
    assert seen_there == [0]


def test_the_live_summary_reads_no_storage(tmp_path):
    """The sweep widget and the sidebar redraw the summary at each update (143 times in the
    sweep benchmark): it names the best trial from the sweep's rows, without a storage read
    (Optuna's ``best_trial`` reads the study each time: 1.5 s of the views thread, measured)."""
    from nbml.training.sweeps import Sweep

    ours, _, _ = search.storage(None, str(tmp_path))
    study = search.open_study("s", ours, None, "minimize", "val_loss")
    for value in [0.5, 0.25, 0.75]:
        t = study.ask()
        t.suggest_float("lr", 1e-4, 1e-1, log=True)
        study.tell(t, value)
    sw = Sweep("m", study, "val_loss", "minimize", 5, "none")
    sw.refresh()
    selects = _selects(ours.backend.engine)
    text = sw.summary()
    assert selects[0] == 0
    assert "3/5 trials (3 complete); best #1 val_loss 0.25 (lr " in text, text
    assert sw.best_trial.number == 1  # the study's own answer agrees


def test_a_trial_ended_within_one_read_reads_as_ended(tmp_path):
    """A trial this kernel tells within one read (a model that fails to build) is ended in the
    study as read there, not running; and a nested read is the same read."""
    ours, _, _ = search.storage(None, str(tmp_path))
    study = search.open_study("s", ours, None, "minimize", "val_loss")
    with search.one_read(ours):
        trial, _ = search.ask(study, TRIALS, None)
        with search.one_read(ours):
            assert study.get_trials()[0].state == optuna.trial.TrialState.RUNNING
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        assert [t.state for t in study.get_trials()] == [optuna.trial.TrialState.FAIL]
