"""TrainOptions is the one list of training options (issue: one options object).

The ``%train`` parser, ``nbml.train``'s keyword check and the Retrain panel's fields are all
derived from it: a new option added to the dataclass shows up in each.
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import nbml
from nbml.core import options
from nbml.core.errors import NbmlError
from nbml.magics import train_parser


def _momentum(option: str, value: float) -> float:
    if not 0 <= value < 1:
        raise NbmlError(f"{option} must be at least 0 and below 1, not {value!r}.")
    return value


@pytest.fixture
def with_momentum(monkeypatch):
    """TrainOptions with one more option, as a developer adding it would write it."""

    @dataclasses.dataclass
    class WithMomentum(options.TrainOptions):
        momentum: float | None = options.option(
            None, "SGD momentum", check=_momentum, kind=float, retrain=True
        )

    monkeypatch.setattr(options, "TrainOptions", WithMomentum)
    return WithMomentum


def test_a_new_option_is_in_help_keywords_and_retrain_panel(with_momentum):
    assert "--momentum MOMENTUM" in train_parser().format_help()
    assert "SGD momentum" in train_parser().format_help()
    args = train_parser().parse_argstring("mlp --momentum 0.9")
    assert args.momentum == 0.9
    assert options.from_kwargs(momentum=0.9).checked().momentum == 0.9
    with pytest.raises(NbmlError, match="Did you mean 'momentum'"):
        options.from_kwargs(momentun=0.9)
    with pytest.raises(NbmlError, match="--momentum must be at least 0 and below 1, not 1.5"):
        options.from_kwargs(momentum=1.5).checked()
    # the monitor's Retrain panel: a field of its own, and its message is accepted and checked
    from nbml.core.registry import Run
    from nbml.views.widgets.messages import InvalidMessage, monitor_request
    from nbml.views.widgets.monitor import TrainingMonitor

    run = Run("r", "m", {"batch_size": 32, "momentum": 0.5}, "d", 3)
    monitor = TrainingMonitor("m", **TrainingMonitor._state(run, None, False))
    assert "momentum" in [f["name"] for f in monitor.fields]
    assert monitor.defaults["momentum"] == 0.5
    request = {"type": "retrain", "epochs": 2, "batch_size": 8, "momentum": 0.9}
    assert monitor_request(request)["momentum"] == 0.9
    with pytest.raises(InvalidMessage, match="--momentum must be at least 0 and below 1"):
        monitor_request({**request, "momentum": 3.0})
    monitor.close()
    fields = {f["name"]: f for f in options.retrain_fields()}
    assert fields["momentum"] == {
        "name": "momentum",
        "label": "momentum",
        "type": "float",
        "default": None,
        "help": "SGD momentum",
    }


def test_the_option_list_exists_once():
    """The parser's flags, the API's keywords and the dataclass fields are the same list."""
    names = [f.name for f in dataclasses.fields(options.TrainOptions)]
    flags = {a.dest for a in train_parser()._actions} - {"name"}
    assert flags == set(names)
    api = set(inspect.signature(nbml.train).parameters) - {
        "name", "model", "display", "update_interval", "namespace", "cell",
        "callbacks", "extra_params",  # the API's own, for callers such as sweeps
    }  # fmt: skip
    assert api == set(names) - {"no_widget"}
    assert [f["name"] for f in options.retrain_fields()] == [
        "epochs", "batch_size", "optimizer", "lr", "steps_per_execution"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"epochs": 0}, "--epochs must be a whole number of at least 1, not 0."),
        ({"epochs": 2.5}, "--epochs must be a whole number of at least 1, not 2.5."),
        ({"epochs": True}, "--epochs must be a whole number of at least 1, not True."),
        ({"batch_size": -3}, "--batch-size must be a whole number of at least 1, not -3."),
        ({"lr": float("inf")}, "--lr must be a positive number such as 0.001, not inf."),
        ({"lr": "0.1"}, "--lr must be a positive number such as 0.001, not '0.1'."),
        (
            {"seed": -1},
            "--seed must be a whole number from 0 to 4294967295, or none to leave the model's weights, shuffling and dropout unseeded, not -1.",
        ),
        ({"seed": 2**40}, "--seed must be a whole number from 0 to 4294967295"),
        ({"test_split": 1.0}, "--test-split must be at least 0 and below 1"),
        ({"validation_split": True}, "--validation-split must be at least 0 and below 1"),
        ({"task": "clasification"}, "Did you mean 'classification'?"),
        ({"normalize": "minmx"}, "Did you mean 'minmax'?"),
        ({"distribute": "model"}, "--distribute must be one of none, data, not 'model'."),
        ({"early_stopping": -1}, "--early-stopping takes a patience of 0 or more epochs"),
        ({"optimizer": " "}, "--optimizer needs a value"),
        ({"epoch": 3}, "nbml.train has no option 'epoch'. Did you mean 'epochs'?"),
        ({"no_widget": True}, "nbml.train has no option 'no_widget'"),
        ({"steps_per_execution": 0}, "--steps-per-execution takes auto or a whole number"),
        ({"steps_per_execution": "fast"}, "--steps-per-execution takes auto or a whole number"),
    ],
)
def test_each_check_names_the_option_and_the_fix(kwargs, words):
    with pytest.raises(NbmlError) as info:
        options.from_kwargs(**kwargs).checked()
    assert words in str(info.value)


def test_checked_values_are_normalised():
    import numpy as np

    opts = options.from_kwargs(epochs=np.int64(3), lr=1, seed=np.int32(7)).checked()
    assert (opts.epochs, opts.lr, opts.seed) == (3, 1.0, 7)
    assert type(opts.epochs) is int and type(opts.lr) is float and type(opts.seed) is int
