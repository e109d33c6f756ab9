"""A sweep trial's pruning decision (``nbml.training.pruning.TrialReporter``) is Optuna's own.

The median pruner is asked without a storage read per epoch: the reporter hands Optuna's
``MedianPruner.prune`` the trial's reported values and the study's complete trials read once at
the trial's start. Here every epoch's decision is compared with Optuna's ``should_prune`` (which
reads the SQLite storage) on a real study with random learning curves: they must agree at every
epoch of every trial, and the curves must prune some trials and keep others.
"""

from __future__ import annotations

import random

import keras
import optuna
import pytest

from nbml.training.pruning import TrialReporter, local_pruning

optuna.logging.set_verbosity(optuna.logging.WARNING)

EPOCHS = 8


def _model() -> keras.Model:
    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])


def _curve(rng: random.Random) -> list[float]:
    start, rate = rng.uniform(1.0, 2.0), rng.uniform(0.0, 0.3)
    return [start * (1 - rate) ** e + rng.uniform(0, 0.1) for e in range(EPOCHS)]


@pytest.mark.parametrize(
    "make",
    [
        lambda: optuna.pruners.MedianPruner(n_startup_trials=3),
        lambda: optuna.pruners.PercentilePruner(25.0, n_startup_trials=2, n_warmup_steps=1),
        lambda: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=EPOCHS),
    ],
    ids=["median", "percentile", "hyperband"],
)
def test_each_epochs_decision_is_optunas(tmp_path, make):
    """Study ``a`` is driven by the reporter, study ``b`` by Optuna's own report and
    should_prune, with the same curves: every epoch's decision agrees."""
    a, b = (
        optuna.create_study(
            study_name="s", pruner=make(),
            storage=optuna.storages.RDBStorage(f"sqlite:///{tmp_path / f'{n}.db'}"),
        )
        for n in "ab"
    )  # fmt: skip
    rng, model = random.Random(0), _model()
    outcomes = []
    for _ in range(14):
        mine, theirs = a.ask(), b.ask()
        reporter = TrialReporter(mine, "val_loss", "no_such_model")
        reporter.set_model(model)
        reporter.on_train_begin()
        for epoch, value in enumerate(_curve(rng)):
            reporter.on_epoch_end(epoch, {"val_loss": value})
            theirs.report(value, epoch)
            assert reporter.pruned == theirs.should_prune(), (mine.number, epoch)
            if reporter.pruned:
                break
        reporter.on_train_end()
        outcomes.append(reporter.pruned)
        state = optuna.trial.TrialState.PRUNED if reporter.pruned else None
        for study, trial in ((a, mine), (b, theirs)):
            study.tell(trial, None if reporter.pruned else value, state=state)
        model.stop_training = False
    assert any(outcomes) and not all(outcomes), outcomes
    assert [t.intermediate_values for t in a.trials] == [t.intermediate_values for t in b.trials]


def test_only_median_and_percentile_decide_without_the_storage():
    assert local_pruning(optuna.pruners.MedianPruner())
    assert local_pruning(optuna.pruners.PercentilePruner(50.0))
    assert not local_pruning(optuna.pruners.HyperbandPruner())
    assert not local_pruning(optuna.pruners.NopPruner())


def test_a_trial_that_starts_before_others_complete_judges_by_its_start(tmp_path):
    """Trials another kernel completes while this one trains count from the next trial on."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'sweeps.db'}")
    pruner = optuna.pruners.MedianPruner(n_startup_trials=1)
    study = optuna.create_study(study_name="s", storage=storage, pruner=pruner)
    mine = study.ask()
    reporter = TrialReporter(mine, "val_loss", "no_such_model")
    reporter.set_model(_model())
    reporter.on_train_begin()
    other = study.ask()  # "another kernel": completes far better while ours trains
    other.report(0.1, 0)
    study.tell(other, 0.1)
    reporter.on_epoch_end(0, {"val_loss": 5.0})
    assert not reporter.pruned  # no complete trial when it started
    reporter.flush()  # the value is written beside training: in the storage from here on
    assert mine.should_prune()  # Optuna, reading the storage now, would prune it


def _stored(storage: optuna.storages.BaseStorage, trial: optuna.Trial) -> dict[int, float]:
    return storage.get_trial(trial._trial_id).intermediate_values


def _training(trial: optuna.Trial) -> TrialReporter:
    """A reporter of ``trial`` whose training has begun."""
    reporter = TrialReporter(trial, "val_loss", "no_such_model")
    reporter.set_model(_model())
    reporter.on_train_begin()
    return reporter


def test_values_are_written_together_at_most_write_every_s_late(tmp_path, monkeypatch):
    """The values wait at most ``WRITE_EVERY_S`` to be written, those of that span in one go
    and in order; whatever waits is written before the trial ends."""
    import nbml.training.pruning as pruning

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'sweeps.db'}")
    study = optuna.create_study(study_name="s", storage=storage, pruner=optuna.pruners.NopPruner())
    monkeypatch.setattr(pruning, "WRITE_EVERY_S", 3600.0)
    slow = study.ask()
    reporter = _training(slow)
    for epoch in range(3):
        reporter.on_epoch_end(epoch, {"val_loss": 1.0 - epoch / 10})
    assert reporter._writes == [] and _stored(storage, slow) == {}  # all three still wait
    reporter.on_train_end()
    assert _stored(storage, slow) == {0: 1.0, 1: 0.9, 2: 0.8}
    monkeypatch.setattr(pruning, "WRITE_EVERY_S", 0.0)
    fast = study.ask()
    reporter = _training(fast)
    for epoch in range(3):
        reporter.on_epoch_end(epoch, {"val_loss": 2.0 + epoch})
        reporter._writes[-1].result()  # each value is on its way at its epoch's end
        assert _stored(storage, fast) == {e: 2.0 + e for e in range(epoch + 1)}
    reporter.on_train_end()
