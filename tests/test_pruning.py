"""A sweep trial's pruning decision (``nbml.training.pruning.TrialReporter``) is Optuna's own:
the reporter calls ``Trial.report`` and ``Trial.should_prune`` at each epoch's end. Every epoch's
decision is compared with a study driven by hand on a real SQLite storage with random learning
curves, and the values are in the storage as each epoch ends (no thread of nbml's writes them).
"""

from __future__ import annotations

import random

import keras
import optuna
import pytest

from nbml.training.pruning import TrialReporter

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


def test_each_value_is_in_the_storage_when_its_epoch_ends(tmp_path):
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'sweeps.db'}")
    study = optuna.create_study(study_name="s", storage=storage, pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    reporter = TrialReporter(trial, "val_loss", "no_such_model")
    reporter.set_model(_model())
    reporter.on_train_begin()
    for epoch in range(3):
        reporter.on_epoch_end(epoch, {"val_loss": 2.0 + epoch})
        stored = study.get_trials(deepcopy=False)[0].intermediate_values
        assert stored == {e: 2.0 + e for e in range(epoch + 1)}
    reporter.on_train_end()
    assert reporter.values == [2.0, 3.0, 4.0] and not reporter.pruned


def test_no_pruner_is_never_asked(tmp_path):
    """With ``--pruner none`` the reporter reports but asks nothing (``should_prune`` reads the
    storage each time)."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'sweeps.db'}")
    study = optuna.create_study(study_name="s", storage=storage, pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    asked = []
    trial.should_prune = lambda: asked.append(1) or False
    reporter = TrialReporter(trial, "val_loss", "no_such_model")
    reporter.set_model(_model())
    reporter.on_train_begin()
    reporter.on_epoch_end(0, {"val_loss": 1.0})
    assert asked == [] and study.get_trials()[0].intermediate_values == {0: 1.0}
