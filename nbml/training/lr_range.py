"""The learning-rate range test (docs/reference.md#the-learning-rate-finder): train ``steps``
batches while the rate grows exponentially, record the smoothed loss, then put the model back
exactly.

- The rate is a :class:`keras.optimizers.schedules.LearningRateSchedule` of the optimizer's own
  ``iterations``, read inside the compiled step. On JAX the optimizer's variables live in the
  jitted state during ``fit``, so assigning the rate from a callback would not reach the step.
  The step is compiled afresh for the finder (on JAX from a function of its own: ``jax.jit`` of
  the model's ``train_step`` would find the earlier compilation in its cache and keep reading
  the old rate), and the model's own train function is put back afterwards.
- Each batch is one ``fit`` epoch of one step (``steps_per_epoch=1``): Keras resets its metrics
  every epoch, so the logged loss is that batch's loss, not a running mean, and its data
  iterator carries on across epochs, cycling (reshuffled) through data with fewer batches.
- Everything the finder changes is put back, whatever happens: every variable of the model, its
  optimizer (rate variable or schedule, ``iterations``, slots) and metrics, bit for bit, the
  train function, ``steps_per_execution``, ``history`` and numpy's global random state (Keras
  shuffles arrays with it).
"""

from __future__ import annotations

import contextlib
import math
import types
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..compat import keras as keras_compat
from ..core.errors import NbmlError
from ..core.files import first_line
from ..core.options import positive_int
from ..ml import lr_suggest, mapped
from . import compile_cache
from .loop import graceful_interrupt

DEFAULT_START, DEFAULT_END, DEFAULT_STEPS = 1e-7, 10.0, 100
#: Fewer batches leave too short a curve to read; more make the suggestions slow to compute.
MIN_STEPS, MAX_STEPS = 10, 10_000
_SHAPE_WORDS = ("shape", "Incompatible", "broadcast", "rank", "dimension")


@dataclass(frozen=True)
class Range:
    """The rates to try: ``steps`` batches from ``start`` to ``end``."""

    start: float = DEFAULT_START
    end: float = DEFAULT_END
    steps: int = DEFAULT_STEPS


def _rate(option: str, value: Any, example: str) -> float:
    number = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if not number or not (value > 0 and math.isfinite(value)):
        raise NbmlError(f"{option} must be a positive number such as {example}, not {value!r}.")
    return float(value)


def check_range(start: Any, end: Any, steps: Any) -> Range:
    """The finder's own options, checked; a bad one is an :class:`NbmlError` naming the fix."""
    lo = _rate("--start", start, "1e-7")
    hi = _rate("--end", end, "10")
    if hi <= lo:
        raise NbmlError(
            f"--end ({hi:g}) must be above --start ({lo:g}): the rate grows from --start to "
            f"--end. Try --start {min(lo, hi):g} --end {max(lo, hi) * 10:g}."
        )
    n = positive_int("--steps", steps)
    if not MIN_STEPS <= n <= MAX_STEPS:
        raise NbmlError(
            f"--steps must be from {MIN_STEPS} to {MAX_STEPS:,} batches, not {n}: fewer leave "
            f"no curve to read. The default, {DEFAULT_STEPS}, suits most models."
        )
    return Range(lo, hi, n)


@dataclass
class LRFinding:
    """What the learning-rate finder found for the model ``name``.

    ``lrs`` and ``losses`` (smoothed; ``raw_losses`` unsmoothed) hold one value per batch
    trained; ``suggestions`` holds ``valley`` (the default), ``minimum`` and ``steep`` (each
    None when the curve says nothing); ``suggestion`` is the one to use, or None (``message``
    says why). ``markers`` places each suggestion on the curve for a chart.

    Example:
        >>> f = nbml.lr_find("mlp", model, "sklearn:digits")
        >>> nbml.train("mlp", lr=f.suggestion, epochs=10)
    """

    name: str
    lrs: list[float]
    losses: list[float]
    raw_losses: list[float]
    suggestions: dict[str, float | None]
    suggestion: float | None
    range: Range
    batch_size: int
    optimizer: str | None = None
    #: ``finished`` (all batches), ``diverged`` (stopped early), ``interrupted``.
    stopped: str = "finished"
    message: str = ""
    markers: list[dict[str, Any]] = field(default_factory=list)

    def text(self) -> str:
        """One paragraph: what ran and what it suggests."""
        r = self.range
        opt = f", {self.optimizer}" if self.optimizer else ""
        head = (
            f"{self.name}: learning-rate finder, {len(self.lrs)} of {r.steps} batches from "
            f"{r.start:g} to {r.end:g} (batch {self.batch_size}{opt})"
        )
        found = ", ".join(
            f"{k} {v:.3g}" if v is not None else f"{k} none" for k, v in self.suggestions.items()
        )
        best = f"suggestion {self.suggestion:.3g}" if self.suggestion else "no suggestion"
        return f"{head}: {best} ({found})." + (f"\n{self.message}" if self.message else "")

    def __repr__(self) -> str:
        return f"<LRFinding {self.text().splitlines()[0]}>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text())


def schedule(rng: Range) -> Any:
    """A Keras ``LearningRateSchedule``: ``start * (end / start) ** (i / (steps - 1))`` at the
    finder's batch ``i``, the optimizer's iterations since ``offset`` (set it, to the iterations
    when the finder starts, before the step is compiled)."""
    import keras

    class _Schedule(keras.optimizers.schedules.LearningRateSchedule):
        def __init__(self) -> None:
            self.offset = 0.0
            self.log_ratio = math.log(rng.end / rng.start)

        def __call__(self, step: Any) -> Any:
            ops = keras.ops
            done = ops.cast(step, "float32") - self.offset
            return rng.start * ops.exp(self.log_ratio * done / max(rng.steps - 1, 1))

        def get_config(self) -> dict[str, Any]:
            return {"start": rng.start, "end": rng.end, "steps": rng.steps}

    return _Schedule()


def _optimizer(model: Any) -> Any:
    """The optimizer that owns the rate (inside a ``LossScaleOptimizer``)."""
    opt = model.optimizer
    return getattr(opt, "inner_optimizer", opt)


class _Recorder:
    """Keras callback parts of the finder: records each batch, decides when to stop."""

    def __init__(self, rng: Range, sched: Any, saved: _Saved) -> None:
        self.rng, self.sched, self.saved = rng, sched, saved
        self.smoother = lr_suggest.Smoother()
        self.raw: list[float] = []
        self.smooth: list[float] = []
        self.stopped = "finished"
        self.interrupted = False
        self.launch: Any = None

    def callback(self) -> Any:
        import keras

        rec = self

        class _Callback(keras.callbacks.Callback):
            def on_train_begin(self, logs: dict | None = None) -> None:
                # built by now, not yet stepped: the state to put back
                rec.saved.take(self.model)
                opt = _optimizer(self.model)
                rec.sched.offset = float(keras.ops.convert_to_numpy(opt.iterations))

            def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
                if rec.record(float((logs or {}).get("loss", math.nan))):
                    self.model.stop_training = True

        return _Callback()

    def record(self, loss: float) -> bool:
        """Take one batch's loss; True when the finder should stop."""
        self.raw.append(loss)
        smooth = self.smoother.add(loss)
        self.smooth.append(smooth)
        if self.interrupted or getattr(self.launch, "interrupted", False):
            self.stopped = "interrupted"
            return True
        if self.smoother.diverged(smooth):
            self.stopped = "diverged"
            return True
        return len(self.raw) >= self.rng.steps


class _Saved:
    """The model's state before the finder's first step, and putting it back."""

    def __init__(self) -> None:
        self.pairs: list[tuple[Any, np.ndarray]] | None = None

    def take(self, model: Any) -> None:
        seen: dict[int, Any] = {}
        for v in [*model.variables, *model.optimizer.variables, *model.metrics_variables]:
            seen.setdefault(id(v), v)
        self.pairs = [(v, np.array(v.numpy(), copy=True)) for v in seen.values()]

    def put_back(self) -> None:
        for v, value in self.pairs or []:
            v.assign(value)


def _fresh_train_function(model: Any) -> Any:
    """A train function compiled now, reading the optimizer's current rate (see module)."""
    import keras

    model.train_function = None
    jitted = not model.run_eagerly and model.jit_compile
    if keras.backend.backend() == "jax" and jitted:
        import jax

        cls = type(model)
        step = jax.jit(lambda state, data: cls.train_step(model, state, data), donate_argnums=0)
        model.train_function = keras_compat.wrap_step(model, step)
    if model.train_function is None:
        model.make_train_function(force=True)
    return model.train_function


@contextlib.contextmanager
def _finder_state(model: Any, sched: Any, saved: _Saved) -> Iterator[None]:
    """The model set up for the finder (the schedule, one batch per call, a fresh step), and
    everything put back on the way out."""
    opt = _optimizer(model)
    before = {
        "rate": keras_compat.optimizer_rate(opt),
        "train_function": model.train_function,
        "steps_per_execution": model.steps_per_execution,
        "stop_training": getattr(model, "stop_training", False),
        "history": model.__dict__.get("history", saved),
        "random": np.random.get_state(),
    }
    try:
        keras_compat.set_optimizer_rate(opt, sched)
        model.steps_per_execution = 1
        _fresh_train_function(model)
        yield
    finally:
        saved.put_back()
        keras_compat.set_optimizer_rate(opt, before["rate"])
        model.train_function = before["train_function"]
        model.steps_per_execution = before["steps_per_execution"]
        model.stop_training = before["stop_training"]
        if before["history"] is not saved:
            model.history = before["history"]
        else:
            model.__dict__.pop("history", None)
        np.random.set_state(before["random"])


def _fit_args(dataset: Any, batch_size: int, rng: Range) -> dict[str, Any]:
    if dataset.is_stream:
        if isinstance(dataset.stream, types.GeneratorType):
            raise NbmlError(
                f"'{dataset.spec}' is a generator: the finder would use it up (a generator runs "
                "once), leaving nothing for %train. Pass a keras.utils.PyDataset, or arrays."
            )
        # a finite stream ends an epoch with no batch now and then: room for those
        return {"x": dataset.stream, "epochs": 2 * rng.steps + 1}
    x, y = dataset.x_train, dataset.y_train
    if dataset.mapped:  # rows of a file on disk: a PyDataset of batches, read as a stream is
        return {"x": mapped.batches(x, y, batch_size, shuffle=True), "epochs": 2 * rng.steps + 1}
    return {"x": x, "y": y, "batch_size": min(batch_size, max(len(x), 1)), "epochs": rng.steps}


def run(
    model: Any, dataset: Any, rng: Range, batch_size: int, name: str, launch: Any = None
) -> _Recorder:
    """Train the range test on ``dataset``'s training part and put ``model`` back; returns the
    recorder (losses, why it stopped). The first interrupt stops it at the next batch, and so
    does one held off before it began (``launch.interrupted``, see ``deferred_interrupts``)."""
    compile_cache.enable()  # a re-run of the same cell loads its step instead of compiling it
    sched = schedule(rng)
    saved = _Saved()
    rec = _Recorder(rng, sched, saved)
    rec.launch = launch
    args = _fit_args(dataset, batch_size, rng)

    def interrupt() -> None:
        rec.interrupted = True

    with (
        _finder_state(model, sched, saved),
        graceful_interrupt(interrupt),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        try:
            model.fit(
                **args, steps_per_epoch=1, shuffle=True, verbose=0, callbacks=[rec.callback()]
            )
        except KeyboardInterrupt:
            rec.stopped = "interrupted"
        except Exception as exc:
            if not rec.raw and any(w in str(exc) for w in _SHAPE_WORDS):
                raise NbmlError(
                    f"Keras could not run the learning-rate finder's first step on {name}: "
                    f"{first_line(exc)} Check that the model's output and --loss fit the labels."
                ) from None
            raise
    return rec


def find(
    model: Any, dataset: Any, rng: Range, batch_size: int, name: str, launch: Any = None
) -> LRFinding:
    """Run the range test on ``model`` (compiled) and read its suggestions; the model is put
    back exactly as it was."""
    rec = run(model, dataset, rng, batch_size, name, launch)
    lrs = lr_suggest.rates(rng.start, rng.end, rng.steps)[: len(rec.smooth)].tolist()
    found = lr_suggest.suggestions(lrs, rec.smooth, rng.steps)
    choice, message = lr_suggest.choose(found, lrs, rec.smooth, rec.raw, rec.stopped, rng.steps)
    opt = model.optimizer
    return LRFinding(
        name=name,
        lrs=lrs,
        losses=list(rec.smooth),
        raw_losses=list(rec.raw),
        suggestions=found,
        suggestion=choice,
        range=rng,
        batch_size=_batch_used(dataset, batch_size),
        optimizer=type(_optimizer(model)).__name__.lower() if opt is not None else None,
        stopped=rec.stopped,
        message=message,
        markers=lr_suggest.markers(found, lrs, rec.smooth),
    )


def _batch_used(dataset: Any, batch_size: int) -> int:
    """The batch size the finder trained with (a batch larger than the data is the data)."""
    if dataset.is_stream:
        return batch_size
    return min(batch_size, max(len(dataset.x_train), 1))
