"""Search spaces of ``%%sweep``: ranges and lists of training options, and ``hp`` in the body.

A space is written where the option's value goes, as a range or a list: ``--lr 1e-4:1e-1:log``
(log-uniform), ``--epochs 5:30`` (whole numbers: ``--epochs`` takes whole numbers),
``--batch-size 32,64,128``, ``--optimizer adam,sgd``. Which options take a space, how their values
convert and how they are checked all come from :class:`~nbml.core.options.TrainOptions` (each
field's ``search`` marker, ``kind`` and ``check``): the sweep's parser is ``%train``'s with the
searchable flags reading text. Nothing here imports Optuna: a space suggests through any object
with Optuna's ``suggest_*`` methods.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from ..compat import argparse as argparse_compat
from . import options as _options
from .errors import NbmlError, did_you_mean


@dataclass(frozen=True)
class Range:
    """Uniform (or log-uniform) values from ``low`` to ``high``; whole numbers if ``integer``."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def suggest(self, trial: Any, name: str) -> Any:
        if self.integer:
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), log=self.log)

    def __str__(self) -> str:
        return f"{self.low:g}:{self.high:g}" + (":log" if self.log else "")


@dataclass(frozen=True)
class Choice:
    """One of ``values``."""

    values: tuple[Any, ...]

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.values))

    def __str__(self) -> str:
        return ",".join(str(v) for v in self.values)


Space = Range | Choice

_FORMS = (
    "a value, a range LOW:HIGH or LOW:HIGH:log (e.g. --lr 1e-4:1e-1:log, --epochs 5:30) or a "
    "list (e.g. --batch-size 32,64,128, --optimizer adam,sgd)"
)


def searchable() -> dict[str, Any]:
    """The options a sweep may search, by name: every non-flag option whose field allows it."""
    return {
        f.name: f
        for f in _options.fields(api=True)
        if f.metadata["kind"] is not bool and f.metadata.get("search", True) is not False
    }


def _field(name: str) -> Any:
    fields = searchable()
    if name not in fields:
        known = {f.name for f in _options.fields(api=True)}
        why = (
            "is fixed for the whole sweep: give it one value."
            if name in known
            else f"is no training option.{did_you_mean(name, known)}"
        )
        raise NbmlError(
            f"{_options.flag(name)} {why} Options a sweep searches: "
            f"{', '.join(_options.flag(n) for n in fields)}; the model's own hyperparameters "
            'come from hp in the cell body (hp.int("units", 16, 256)).'
        )
    return fields[name]


def check(name: str, value: Any) -> Any:
    """``value`` checked and normalised by the option's own check (TrainOptions')."""
    return getattr(_options.from_kwargs(**{name: value}).checked(), name)


def _convert(name: str, text: str, whole: str) -> Any:
    """One value of option ``name`` from text, as its parser would convert it."""
    kind = _field(name).metadata["kind"]
    flag = _options.flag(name)
    text = text.strip()
    if not text:
        raise NbmlError(f"{flag} has an empty value in '{whole}': it takes {_FORMS}.")
    if kind in (int, float):
        try:
            number = float(text)
        except ValueError:
            raise NbmlError(f"{flag} takes {_FORMS}; '{whole}' is none of these.") from None
        if kind is int:
            if not number.is_integer():
                raise NbmlError(f"{flag} takes whole numbers, not {text} (in '{whole}').")
            return int(number)
        return number
    return text


def parse(name: str, text: str) -> Any:
    """A value, a :class:`Range` or a :class:`Choice` from the text after ``--NAME``."""
    field = _field(name)
    flag = _options.flag(name)
    sep = field.metadata["search"] if isinstance(field.metadata["search"], str) else ","
    numeric = field.metadata["kind"] in (int, float)
    if numeric and ":" in text:
        parts = text.split(":")
        log = len(parts) == 3 and parts[2].strip().lower() == "log"
        if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
            raise NbmlError(
                f"{flag} {text}: a range is LOW:HIGH or LOW:HIGH:log (e.g. {flag} "
                f"{'1e-4:1e-1:log' if name == 'lr' else '5:30'})."
            )
        low, high = (_convert(name, p, text) for p in parts[:2])
        return make_range(name, low, high, log)
    if sep in text:
        return make_choice(name, [_convert(name, p, text) for p in text.split(sep)])
    return check(name, _convert(name, text, text))


def make_range(name: str, low: Any, high: Any, log: bool = False) -> Range:
    """A checked range of option ``name`` (both ends pass the option's check)."""
    flag = _options.flag(name)
    kind = _field(name).metadata["kind"]
    if kind not in (int, float):
        raise NbmlError(f"{flag} takes a list of values (e.g. adam,sgd), not a range.")
    for end in (low, high):
        if isinstance(end, bool) or not isinstance(end, numbers.Real) or not math.isfinite(end):
            raise NbmlError(f"{flag}'s range needs two finite numbers, not {end!r}.")
    if not low < high:
        raise NbmlError(
            f"{flag} {low}:{high}: the range's low end must be below its high end (for one "
            f"value write {flag} {low})."
        )
    low, high = check(name, low), check(name, high)
    if log and low <= 0:
        raise NbmlError(f"{flag} {low}:{high}:log: a log range needs a low end above 0.")
    return Range(low, high, log, integer=kind is int)


def make_choice(name: str, values: list[Any]) -> Choice:
    """A checked list of values of option ``name`` (each passes the option's check)."""
    if not values:
        raise NbmlError(f"{_options.flag(name)} needs at least one value in its list.")
    checked = [check(name, v) for v in values]
    return Choice(tuple(dict.fromkeys(checked)))


def from_value(name: str, value: Any) -> Any:
    """A space of the Python API: text as on the magic's line, a list (choices), a tuple
    ``(low, high)`` or ``(low, high, "log")``, or a :class:`Range`/:class:`Choice`."""
    if isinstance(value, Range):
        return make_range(name, value.low, value.high, value.log)
    if isinstance(value, Choice):
        return make_choice(name, list(value.values))
    if isinstance(value, str):
        return parse(name, value)
    if isinstance(value, list):
        return make_choice(name, value)
    if isinstance(value, tuple) and len(value) in (2, 3):
        log = len(value) == 3 and value[2] == "log"
        if len(value) == 3 and not log:
            raise NbmlError(f"space[{name!r}]: a range is (low, high) or (low, high, 'log').")
        return make_range(name, value[0], value[1], log)
    raise NbmlError(
        f"space[{name!r}] = {value!r}: give a list of values, a (low, high) or (low, high, "
        "'log') range, or text as on the magic's line ('1e-4:1e-1:log')."
    )


def split(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Space]]:
    """Parsed option values -> (fixed options, searched spaces)."""
    fixed = {k: v for k, v in values.items() if not isinstance(v, (Range, Choice))}
    return fixed, {k: v for k, v in values.items() if isinstance(v, (Range, Choice))}


def parser(prog: str, description: str, extra: Any = None) -> Any:
    """``%train``'s parser (:func:`nbml.core.options.parser`) whose searchable options read
    text, so that each takes a value, a range or a list (:func:`parse`)."""
    p = _options.parser(prog, description, extra)
    names = searchable()
    for action in argparse_compat.actions(p):
        field = names.get(action.dest)
        if field is None:
            continue
        action.type = str
        sep = field.metadata["search"] if isinstance(field.metadata["search"], str) else ","
        forms = f"A{sep}B{sep}..."
        if field.metadata["kind"] in (int, float):
            forms = f"LOW:HIGH, LOW:HIGH:log or {forms}"
        action.help = f"{action.help}; searched: {forms}"
    return p


class HP:
    """The model's own hyperparameters in a ``%%sweep`` body (``hp`` in the notebook).

    Each call samples a value for the running trial, named so that the sweep records it:
    ``hp.int("units", 16, 256, log=True)``, ``hp.float("dropout", 0.0, 0.5)``,
    ``hp.choice("act", ["relu", "gelu"])``. Outside a trial (after the sweep) ``hp`` gives the
    best trial's values, so running the body again builds the best model's architecture.
    """

    def __init__(
        self, trial: Any = None, fixed: dict[str, Any] | None = None, reserved: Any = ()
    ) -> None:
        self._trial = trial
        self._fixed = dict(fixed or {})
        self._reserved = set(reserved)
        #: The values this body asked for, by name.
        self.values: dict[str, Any] = {}

    def int(self, name: str, low: int, high: int, *, log: bool = False, step: int = 1) -> int:
        """A whole number from ``low`` to ``high`` (log-uniform with ``log``)."""
        for end in (low, high, step):
            if isinstance(end, bool) or not isinstance(end, numbers.Integral):
                raise NbmlError(f"hp.int({name!r}, ...) takes whole numbers, not {end!r}.")
        self._bounds("int", name, low, high, log)
        if step < 1 or (log and step != 1):
            raise NbmlError(f"hp.int({name!r}, ...): step must be 1 or more (1 with log=True).")
        return self._get(name, lambda t: t.suggest_int(name, low, high, log=log, step=step))

    def float(
        self, name: str, low: float, high: float, *, log: bool = False, step: float | None = None
    ) -> float:
        """A number from ``low`` to ``high`` (log-uniform with ``log``)."""
        self._bounds("float", name, low, high, log)
        return self._get(
            name, lambda t: t.suggest_float(name, float(low), float(high), log=log, step=step)
        )

    def choice(self, name: str, values: Any) -> Any:
        """One of ``values`` (numbers, strings, booleans or None)."""
        values = list(values) if isinstance(values, (list, tuple)) else values
        plain = (type(None), bool, int, float, str)
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, plain) for v in values)
        ):
            raise NbmlError(
                f"hp.choice({name!r}, values) takes a non-empty list of numbers, strings, "
                f'booleans or None, e.g. hp.choice("act", ["relu", "gelu"]); not {values!r}.'
            )
        self._name(name)
        return self._get(name, lambda t: t.suggest_categorical(name, values))

    def _name(self, name: Any) -> None:
        if not isinstance(name, str) or not name:
            raise NbmlError(f'hp needs a name for each hyperparameter, e.g. hp.int("units", ...), '
                            f"not {name!r}.")  # fmt: skip
        if name in self._reserved:
            raise NbmlError(
                f"hp.*({name!r}, ...) samples what the magic's line already searches "
                f"({_options.flag(name)}); give the body's hyperparameter another name."
            )

    def _bounds(self, kind: str, name: str, low: Any, high: Any, log: bool) -> None:
        self._name(name)
        for end in (low, high):
            if isinstance(end, bool) or not isinstance(end, numbers.Real) or not math.isfinite(end):
                raise NbmlError(
                    f"hp.{kind}({name!r}, low, high) takes finite numbers, not {end!r}."
                )
        if not low < high:
            raise NbmlError(f"hp.{kind}({name!r}, {low}, {high}): low must be below high.")
        if log and low <= 0:
            raise NbmlError(f"hp.{kind}({name!r}, {low}, {high}, log=True): low must be above 0.")

    def _get(self, name: str, sample: Any) -> Any:
        if self._trial is not None:
            value = sample(self._trial)
        elif name in self._fixed:
            value = self._fixed[name]
        else:
            raise NbmlError(
                f"hp has no value for {name!r} outside a sweep: run the cell with %%sweep, "
                "or give the value directly."
            )
        self.values[name] = value
        return value

    def __repr__(self) -> str:
        where = "a trial" if self._trial is not None else "the best trial's values"
        return f"<nbml hp ({where}): {self.values or self._fixed}>"
