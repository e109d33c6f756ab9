"""The learning-rate finder's arithmetic, as pure functions
(docs/reference.md#the-learning-rate-finder; fastai's ``lr_find`` is the reference): the rates
of the exponential schedule, the smoothed loss and when to stop, and the three suggestions read
off the finished curve.

Suggestions are computed on the curve without its first tenth (the start, where nothing moves
yet) and its last five points (where the loss has turned up), cut at the first value that is
not finite (fastai PR #3477: one NaN used to break every suggestion). Each suggestion is None
when too little of the curve is left to say anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: The moving average's weight of the past (fastai's 0.98).
BETA = 0.98
#: Stop once the smoothed loss exceeds this multiple of its best value.
DIVERGENCE = 4.0
#: Points left out at the end of the curve before suggesting (they show the loss turning up).
TAIL = 5
#: The suggestions, in the order they are shown; the first is the default.
NAMES = ("valley", "minimum", "steep")


def rates(start: float, end: float, steps: int) -> np.ndarray:
    """The rate of each of ``steps`` batches: exponential from ``start`` to ``end`` inclusive."""
    if steps < 2:
        return np.array([float(start)] * steps)
    return start * (end / start) ** (np.arange(steps) / (steps - 1))


class Smoother:
    """The exponential moving average of the loss, debiased (fastai's ``smooth_loss``), and
    the divergence rule: stop once it is not finite or exceeds :data:`DIVERGENCE` x its best.

    The ratio rule applies only while the best is positive (a loss that goes below zero, such
    as a cosine similarity, would otherwise stop at once).
    """

    def __init__(self, beta: float = BETA) -> None:
        self.beta = beta
        self.avg = 0.0
        self.count = 0
        self.best = math.inf

    def add(self, loss: float) -> float:
        """Take one batch's loss; return the smoothed value."""
        self.count += 1
        self.avg = self.beta * self.avg + (1 - self.beta) * float(loss)
        smooth = self.avg / (1 - self.beta**self.count)
        if math.isfinite(smooth) and smooth < self.best:
            self.best = smooth
        return smooth

    def diverged(self, smooth: float) -> bool:
        """Whether the finder should stop after a batch whose smoothed loss is ``smooth``."""
        if not math.isfinite(smooth):
            return True
        return self.best > 0 and smooth > DIVERGENCE * self.best


def finite_part(lrs: Sequence[float], losses: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """``lrs`` and ``losses`` up to (not including) the first loss that is not finite."""
    lr = np.asarray(lrs, dtype="float64")
    loss = np.asarray(losses, dtype="float64")
    bad = np.flatnonzero(~np.isfinite(loss))
    cut = int(bad[0]) if len(bad) else len(loss)
    return lr[:cut], loss[:cut]


def trimmed(
    lrs: Sequence[float], losses: Sequence[float], steps: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The part of the curve the suggestions read: without the first ``steps // 10`` points
    (``steps``: the batches asked for) and the last :data:`TAIL`, then cut at the first value
    that is not finite. A short curve (a finder stopped early) keeps what it can: the tail,
    then the head, is dropped only while at least two points remain."""
    lr = np.asarray(lrs, dtype="float64")
    loss = np.asarray(losses, dtype="float64")
    n = len(loss)
    head = (steps if steps is not None else n) // 10
    for start, stop in ((head, n - TAIL), (head, n), (0, n)):
        if stop - start >= 2:
            return finite_part(lr[start:stop], loss[start:stop])
    return finite_part(lr, loss)


def valley(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
    """fastai's ``valley``: the longest decreasing run of losses (longest decreasing
    subsequence), then the rate at a point halfway into its middle third."""
    lr, loss = np.asarray(lrs, dtype="float64"), np.asarray(losses, dtype="float64")
    n = len(loss)
    if n < 2:
        return None
    run = np.ones(n, dtype="int64")  # longest decreasing subsequence ending at each point
    best_end = 0
    for i in range(1, n):
        higher = loss[:i] > loss[i]
        if higher.any():
            run[i] = run[:i][higher].max() + 1
        if run[i] > run[best_end]:
            best_end = i
    if run[best_end] < 2:
        return None  # nothing ever decreased
    start = best_end - int(run[best_end])
    section = (best_end - start) / 3
    idx = start + int(section) + int(section / 2)
    return float(lr[min(max(idx, 0), n - 1)])


def minimum(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
    """The rate of the lowest loss, divided by 10."""
    loss = np.asarray(losses, dtype="float64")
    if len(loss) == 0:
        return None
    return float(np.asarray(lrs, dtype="float64")[int(np.argmin(loss))] / 10)


def steep(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
    """The rate where the loss falls fastest against the log of the rate."""
    lr, loss = np.asarray(lrs, dtype="float64"), np.asarray(losses, dtype="float64")
    if len(loss) < 2:
        return None
    slope = np.diff(loss) / np.diff(np.log(lr))
    i = int(np.argmin(slope))
    return float(lr[i]) if slope[i] < 0 else None  # None: the loss never fell


def suggestions(
    lrs: Sequence[float], losses: Sequence[float], steps: int | None = None
) -> dict[str, float | None]:
    """The three suggestions (:data:`NAMES`) for a finder's smoothed ``losses`` at ``lrs``."""
    lr, loss = trimmed(lrs, losses, steps)
    return {"valley": valley(lr, loss), "minimum": minimum(lr, loss), "steep": steep(lr, loss)}


def choose(
    found: dict[str, float | None],
    lrs: Sequence[float],
    losses: Sequence[float],
    raw: Sequence[float],
    stopped: str,
    steps: int,
) -> tuple[float | None, str]:
    """The suggestion to use and what to say about a finder's run: ``losses`` smoothed and
    ``raw`` at ``lrs``, ``stopped`` (``finished``, ``diverged`` or ``interrupted``) after
    ``len(losses)`` of ``steps`` batches."""
    n = len(losses)
    if n == 0:
        return None, "No batch ran: the data gave the finder nothing to train on."
    if not math.isfinite(raw[0]):
        return None, (
            f"The loss was {raw[0]} at the very first batch, before the rate could matter: "
            "the data or the model gives a loss that is not finite. Check them (e.g. "
            "np.isfinite(x).all()) before choosing a rate."
        )
    finite = [v for v in losses if math.isfinite(v)]
    # diverged within the first tenth (or few) of the batches: no curve to read
    at_once = stopped == "diverged" and n <= max(steps // 10, TAIL + 2)
    if at_once:
        head = f"The loss diverged at once, at lr {lrs[-1]:.3g} after {n} of {steps} batches"
        if lrs[-1] > 1e-5:
            return None, (
                f"{head}: even --start {lrs[0]:g} is too high, so there is no suggestion. Run "
                f"the finder again with a lower --start, e.g. --start {lrs[0] / 1000:g}."
            )
        return None, (
            f"{head}: at rates this low the model or the data is the likely cause, not the "
            "rate, so there is no suggestion. Check the loss, the labels and the inputs' scale."
        )
    notes = []
    if stopped == "diverged":
        notes.append(
            f"Stopped after {n} of {steps} batches at lr {lrs[-1]:.3g}, where the smoothed loss "
            f"passed {DIVERGENCE:g}x its best."
        )
    elif stopped == "interrupted":
        notes.append(
            f"Stopped by an interrupt after {n} of {steps} batches: the suggestions read the "
            "curve so far."
        )
    if len(finite) < n:
        notes.append("The loss became NaN or inf at the end: the suggestions read the part before.")
    choice = found["valley"]
    if choice is None and found["minimum"] is not None:
        choice = found["minimum"]
        notes.append("The loss never kept falling for long, so the suggestion is minimum's.")
    return choice, " ".join(notes)


def markers(
    found: dict[str, float | None], lrs: Sequence[float], losses: Sequence[float]
) -> list[dict[str, Any]]:
    """Where each suggestion sits on the curve: ``{"name", "value", "x", "y"}``. ``value`` is
    the suggested rate; (``x``, ``y``) the point drawn (``minimum``'s is the lowest loss itself,
    ten times its value)."""
    out = []
    lr, loss = np.asarray(lrs, dtype="float64"), np.asarray(losses, dtype="float64")
    for name in NAMES:
        value = found.get(name)
        if value is None or not len(lr):
            continue
        x = value * 10 if name == "minimum" else value
        i = int(np.argmin(np.abs(np.log(lr) - math.log(x))))
        y = float(loss[i]) if math.isfinite(loss[i]) else None
        out.append({"name": name, "value": value, "x": float(lr[i]), "y": y})
    return out
