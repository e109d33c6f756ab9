"""How many batches one compiled call runs: Keras's ``steps_per_execution``, chosen by nbml.

On a CPU a small model's step is mostly Python dispatch, not arithmetic, so running several batches
per call trains faster with the same arithmetic (docs/reference.md#steps-per-execution). ``auto``
measures the first steps of the very function ``fit`` is about to run and picks N so that one call
lasts about :data:`TARGET_S`, capped so the monitor still gets :data:`MIN_POINTS` batch points per
epoch.

- JAX: the train function is built once in its multi-step form (it reads N when called), then
  timed on copies of the training state, so the model, its optimizer and the random state are
  untouched and nothing compiles twice.
- TensorFlow: timed with ``train_on_batch``, then every variable is put back and the train
  function rebuilt for N.
- torch: Keras runs one batch per call there, so N is 1.
Streams (generators, PyDatasets, tf.data) and ``--distribute data`` keep N = 1.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from ..compat import keras as keras_compat

#: How long one compiled call should last.
TARGET_S = 0.004
#: The batch points per epoch the monitor keeps, where an epoch has that many batches.
MIN_POINTS = 50
#: The most batches in one call.
MAX_STEPS = 64
#: Steps timed (after two warm-up calls, which include the compile).
TIMED = 6

log = logging.getLogger("nbml")


def cap(steps_per_epoch: int | None) -> int:
    """The largest N that leaves the monitor :data:`MIN_POINTS` points per epoch."""
    if not steps_per_epoch:
        return 1
    return max(1, min(MAX_STEPS, steps_per_epoch // MIN_POINTS))


def pick(step_seconds: float, steps_per_epoch: int | None) -> int:
    """N for a measured ``step_seconds`` per batch."""
    if not step_seconds > 0:
        return cap(steps_per_epoch)
    return max(1, min(cap(steps_per_epoch), int(TARGET_S / step_seconds)))


def apply(model: Any, n: int) -> None:
    """Make ``model`` run ``n`` batches per call, rebuilding only what depends on it."""
    if getattr(model, "steps_per_execution", 1) == n:
        return
    model.steps_per_execution = n
    model.train_function = None
    model.test_function = None
    keras_compat.forget_eval_iterator(model)


def choose(model: Any, x: Any, y: Any, batch_size: int, *, distributed: bool = False) -> int:
    """Measure ``model``'s first steps on ``x``/``y`` and set its ``steps_per_execution``.

    Returns the N chosen. Never changes the model's weights, optimizer state or random state.
    """
    import keras

    steps = -(-len(x) // batch_size)
    limit = cap(steps)
    backend = keras.backend.backend()
    if limit == 1 or distributed or backend not in ("jax", "tensorflow"):
        apply(model, 1)
        return 1
    xb, yb = _batches(x, y, batch_size)
    before = getattr(model, "steps_per_execution", 1)
    try:
        if backend == "jax":
            n = pick(_time_jax(model, xb, yb), steps)
            # the train function just timed is the one fit runs: it reads N on each call
            model.steps_per_execution = n
            if n != before:
                model.test_function = None
        else:
            n = pick(_time_tensorflow(model, xb, yb), steps)
            apply(model, n)
    except Exception as exc:  # an unusual model: train it as Keras would
        log.debug("nbml could not time the steps of %s: %s", model.name, exc)
        apply(model, 1)
        return 1
    return n


def _batches(x: Any, y: Any, batch_size: int) -> tuple[list[Any], list[Any]]:
    count = 2 + TIMED
    idx = [np.arange(i * batch_size, (i + 1) * batch_size) % len(x) for i in range(count)]
    return [x[i] for i in idx], [y[i] for i in idx]


def prebuild(model: Any, x: Any, y: Any, batch_size: int) -> None:
    """Build the model, its metrics and optimizer from one batch, as ``fit`` would.

    Done before every nbml ``fit`` whatever N is, so that ``auto`` and ``1`` consume the same
    random numbers (``fit`` peeks a shuffled batch only to build an unbuilt model).
    """
    keras_compat.build_for_fit(model, x[:batch_size], y[:batch_size])


def _time_jax(model: Any, xb: list[Any], yb: list[Any]) -> float:
    """Seconds per step of the train function ``fit`` will run, built in its multi-step form
    (Keras's JAX trainer reads N each call) and timed one step per call on state copies."""
    import jax
    import jax.numpy as jnp

    fn = model.train_function
    if fn is None or getattr(model, "_nbml_multi_step", None) is not fn:
        model.steps_per_execution = 2
        model.make_train_function(force=True)
        model._nbml_multi_step = model.train_function  # kept: a second %train compiles nothing
    model.steps_per_execution = 1
    state = keras_compat.jax_state(model)
    batches = iter(list(zip(xb, yb, strict=True)))
    times = []
    for _ in xb:
        copy = jax.tree.map(jnp.copy, state)  # the call donates (deletes) what it is given
        t0 = time.perf_counter()
        logs, _ = model.train_function(copy, batches)
        jax.block_until_ready(logs)
        times.append(time.perf_counter() - t0)
    return float(np.median(times[2:]))


def _time_tensorflow(model: Any, xb: list[Any], yb: list[Any]) -> float:
    variables = [*model.variables, *model.optimizer.variables, *model.metrics_variables]
    saved = [v.numpy() for v in variables]
    times = []
    try:
        for xi, yi in zip(xb, yb, strict=True):
            t0 = time.perf_counter()
            model.train_on_batch(xi, yi)
            times.append(time.perf_counter() - t0)
    finally:
        for v, value in zip(variables, saved, strict=True):
            v.assign(value)
    return float(np.median(times[2:]))
