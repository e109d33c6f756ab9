"""Every training option, once: its type, default, check, help text and close matches.

:class:`TrainOptions` is the single list. The ``%%train`` parser (:func:`parser`), the keyword
arguments of ``nbml.train`` (:func:`from_kwargs`, and the signature it shows), the Retrain
panel's fields (:func:`retrain_fields`) and later ``%%lr_find`` / ``%%sweep`` derive from it, and
:meth:`TrainOptions.checked` runs every check once. Adding an option is one field here plus
its behaviour.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import NbmlError, did_you_mean

TASKS = ("classification", "multilabel", "regression")
NORMALIZE = ("none", "minmax", "standard")
DISTRIBUTE = ("none", "data")
#: The largest seed numpy's and Keras's generators take.
MAX_SEED = 2**32 - 1


def positive_int(option: str, value: Any) -> int:
    """``value`` as an int of at least 1 (never a bool or a float), else :class:`NbmlError`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise NbmlError(f"{option} must be a whole number of at least 1, not {value!r}.")
    return int(value)


def check_split(option: str, value: float | None) -> float:
    """A split fraction in [0, 1) (``None`` is the default 0.2)."""
    value = 0.2 if value is None else value
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if not ok or not 0 <= value < 1:
        raise NbmlError(f"{option} must be at least 0 and below 1 (0 for none), not {value!r}.")
    return float(value)


def _one_of(choices: tuple[str, ...]) -> Callable[[str, Any], Any]:
    def check(option: str, value: Any) -> Any:
        if value not in choices:
            raise NbmlError(
                f"{option} must be one of {', '.join(choices)}, not '{value}'."
                f"{did_you_mean(str(value), choices)}"
            )
        return value

    return check


def _lr(option: str, value: Any) -> float:
    number = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if not number or not (value > 0 and math.isfinite(value)):
        raise NbmlError(f"{option} must be a positive number such as 0.001, not {value!r}.")
    return float(value)


def _patience(option: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise NbmlError(f"{option} takes a patience of 0 or more epochs, not {value!r}.")
    return int(value)


def check_seed(option: str, value: Any) -> int:
    """A seed numpy and Keras take: a whole number from 0 to :data:`MAX_SEED`."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or not 0 <= value <= MAX_SEED:
        raise NbmlError(f"{option} must be a whole number from 0 to {MAX_SEED}, not {value!r}.")
    return int(value)


def check_run_seed(option: str, value: Any) -> int | None:
    """``--seed``: a seed (:func:`check_seed`), or ``none`` (None) to seed nothing but the
    splits, which then take seed 0."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value)  # the magic's text: say the number back as a number
    try:
        return check_seed(option, value)
    except NbmlError:
        raise NbmlError(
            f"{option} must be a whole number from 0 to {MAX_SEED}, or none to leave the model's "
            f"weights, shuffling and dropout unseeded, not {value!r}."
        ) from None


def split_seed(seed: int | None) -> int:
    """The seed of a run's test and validation splits: ``--seed``, or 0 with ``--seed none``."""
    return 0 if seed is None else seed


def _word_or_count(option: str, value: Any, word: str, what: str) -> Any:
    """``word`` (any case), or a whole number of at least 1 (text of digits too); else
    :class:`NbmlError` saying ``what`` the option takes."""
    if isinstance(value, str) and value.strip().lower() == word:
        return word
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value)  # the magic's text: say the number back as a number
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise NbmlError(f"{option} takes {what}, not {value!r}.")
    return int(value)


def check_inspect(option: str, value: Any) -> Any:
    """``--inspect``: ``off``, or every how many epochs the inspector records (1 or more)."""
    what = "a number of epochs between two records of the inspector (1 for every epoch, the "
    return _word_or_count(option, value, "off", what + "default) or off")


def _steps(option: str, value: Any) -> Any:
    what = "auto or a whole number of batches per call (at least 1)"
    return _word_or_count(option, value, "auto", what)


def _text(option: str, value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise NbmlError(f"{option} needs a value; leave the option out for the default.")
    return value


def option(
    default: Any,
    help: str,  # noqa: A002
    *,
    check: Callable[[str, Any], Any] | None = None,
    kind: type = str,
    metavar: str | None = None,
    retrain: bool = False,
    api: bool = True,
    search: bool | str = True,
) -> Any:
    """A :class:`TrainOptions` field: ``kind`` is what the magic's parser converts to (``bool``
    for a flag), ``retrain`` puts it in the monitor's Retrain panel, ``api=False`` keeps it to
    the magic. ``search`` says whether ``%%sweep`` may search it (a flag never is); a string
    is the separator of its alternatives, for an option whose own value holds commas."""
    meta = {"help": help, "check": check, "kind": kind, "metavar": metavar, "retrain": retrain}
    return field(default=default, metadata={**meta, "api": api, "search": search})


@dataclass
class TrainOptions:
    """The options of one training (docs/reference.md#training-options): ``%%train``'s flags,
    ``nbml.train``'s keywords."""

    data: Any = option(
        None, "variable, sklearn:NAME, keras:NAME, .csv/.npz", metavar="SPEC", search=False
    )
    target: str | None = option(
        None, "label column of a DataFrame or CSV", metavar="COL", search=False
    )
    task: str | None = option(
        None, "classification, multilabel or regression (default: detected from labels)",
        check=_one_of(TASKS), search=False,
    )  # fmt: skip
    epochs: int = option(
        10, "epochs (default: NbmlMagics.default_epochs, 10)", check=positive_int, kind=int,
        retrain=True,
    )  # fmt: skip
    batch_size: int = option(
        32, "batch size (default 32)", check=positive_int, kind=int, retrain=True
    )
    optimizer: str | None = option(
        None, "Keras optimizer name: adam, sgd, rmsprop, adamw, ...", check=_text, retrain=True
    )
    lr: float | None = option(None, "learning rate", check=_lr, kind=float, retrain=True)
    loss: str | None = option(None, "Keras loss name, or auto (default)", check=_text)
    metrics: Any = option(
        None, "comma-separated Keras metric names, or auto (default)", search=False
    )
    validation_split: float | None = option(
        None, "taken from the training part; default 0.2", check=check_split, kind=float,
        search=False,
    )  # fmt: skip
    test_split: float | None = option(
        None, "held out for %%evaluate; default 0.2", check=check_split, kind=float,
        search=False,
    )  # fmt: skip
    seed: int | None = option(
        0, "seeds the model's weights, shuffling, dropout and the splits (default 0; none: "
        "weights, shuffling and dropout unseeded)", check=check_run_seed, search=False,
    )  # fmt: skip
    normalize: str | None = option(
        None, "none, minmax or standard (default: minmax for images)", check=_one_of(NORMALIZE)
    )
    clean: bool = option(False, "drop rows with NaN or inf", kind=bool)
    augment: Any = option(None, "comma-separated: flip, rotate, zoom, shift (images)", search="|")
    early_stopping: int | None = option(
        None, "stop after PATIENCE flat epochs", check=_patience, kind=int, metavar="PATIENCE"
    )
    reset: bool = option(False, "line form: start again from fresh weights", kind=bool)
    from_run: str | None = option(
        None, "line form: continue the saved model of run ID", check=_text, metavar="ID",
        search=False,
    )  # fmt: skip
    background: bool = option(False, "train in a kernel thread; return at once", kind=bool)
    distribute: str | None = option(
        None, "none (default) or data: keras.distribution.DataParallel",
        check=_one_of(DISTRIBUTE), search=False,
    )  # fmt: skip
    devices: Any = option(
        None, "with --distribute data: e.g. cpu:0,cpu:1 (default: all)", search=False
    )
    steps_per_execution: Any = option(
        None,
        "auto (default) or N: batches per compiled call; a model the cell compiled keeps its own",
        check=_steps, metavar="{auto,N}", retrain=True,
    )  # fmt: skip
    inspect: Any = option(
        None, "the inspector records layer statistics every N epochs (default 1) or off",
        check=check_inspect, metavar="{N,off}", search=False,
    )  # fmt: skip
    wait: bool = option(False, "if NAME is training, wait for it to end first", kind=bool)
    no_widget: bool = option(False, "text progress instead of the widget", kind=bool, api=False)

    def checked(self) -> TrainOptions:
        """A copy with every value checked and normalised; the first bad one raises
        :class:`NbmlError` naming the option and the fix."""
        values = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            check = f.metadata.get("check")
            if value is not None and check is not None:
                value = check(flag(f.name), value)
            values[f.name] = value
        return type(self)(**values)


def flag(name: str) -> str:
    """The magic's flag of option ``name``: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


def fields(*, api: bool | None = None) -> list[dataclasses.Field]:
    """The option fields (only those of the Python API with ``api=True``)."""
    out = dataclasses.fields(TrainOptions)
    return [f for f in out if api is None or f.metadata.get("api", True) == api]


def signature(fn: Callable[..., Any], skip: Collection[str] = ()) -> inspect.Signature:
    """``fn``'s signature with its ``**options`` spelled out, one keyword per option of the
    Python API (what ``help()`` and editors show); ``skip`` leaves some out."""
    base = inspect.signature(fn)
    params = [p for p in base.parameters.values() if p.kind is not p.VAR_KEYWORD]
    taken = {p.name for p in params}
    params += [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default)
        for f in fields(api=True)
        if f.name not in taken and f.name not in skip
    ]
    return base.replace(parameters=params)


def from_kwargs(**kwargs: Any) -> TrainOptions:
    """:class:`TrainOptions` from ``nbml.train``'s keywords; an unknown one is an error with
    close matches."""
    known = {f.name for f in fields(api=True)}
    for key in kwargs:
        if key not in known:
            raise NbmlError(
                f"nbml.train has no option {key!r}.{did_you_mean(key, known)} Its options: "
                f"{', '.join(sorted(known))}."
            )
    return TrainOptions(**kwargs)


def retrain_fields() -> list[dict[str, Any]]:
    """The Retrain panel's fields: name, flag, type and default of each ``retrain`` option."""
    out = []
    for f in fields(api=True):
        if f.metadata.get("retrain"):
            kind = f.metadata["kind"].__name__
            out.append({"name": f.name, "label": flag(f.name)[2:], "type": kind,
                        "default": f.default, "help": f.metadata["help"]})  # fmt: skip
    return out


def parser(prog: str, description: str, extra: Callable[[Any], None] | None = None) -> Any:
    """An IPython magic argument parser with a flag for every option (read fresh each call)."""
    from IPython.core.magic_arguments import MagicArgumentParser

    p = MagicArgumentParser(prog=prog, description=description, add_help=False)
    p.add_argument("name", help="name the trained Keras model is bound to")
    for f in fields():
        kind, help_text = f.metadata["kind"], f.metadata["help"]
        if kind is bool:
            p.add_argument(flag(f.name), action="store_true", help=help_text)
        else:
            p.add_argument(flag(f.name), type=kind, metavar=f.metadata["metavar"], help=help_text)
    if extra is not None:
        extra(p)
    return p
