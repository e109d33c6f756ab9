"""The learning-rate finder's arithmetic (nbml.ml.lr_suggest): rates, smoothing, the divergence
rule and fastai's three suggestions, on curves whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nbml.ml import lr_suggest as s


def u_curve(n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """A loss that is flat, falls steadily between 1e-4 and 1e-2, then shoots up."""
    lrs = s.rates(1e-7, 10, n)
    x = np.log10(lrs)
    loss = np.where(x < -4, 2.0, np.where(x < -2, 2.0 - 0.75 * (x + 4), 0.5 + 3 * (x + 2) ** 2))
    return lrs, loss


def test_rates_run_exponentially_from_start_to_end_inclusive():
    lrs = s.rates(1e-7, 10, 100)
    assert len(lrs) == 100 and lrs[0] == pytest.approx(1e-7) and lrs[-1] == pytest.approx(10)
    ratios = lrs[1:] / lrs[:-1]
    assert np.allclose(ratios, ratios[0])  # a constant factor per batch


def test_smoother_is_debiased_and_stops_at_four_times_the_best():
    sm = s.Smoother()
    assert sm.add(2.0) == pytest.approx(2.0)  # debiased: the first value is itself
    assert sm.add(2.0) == pytest.approx(2.0)
    assert not sm.diverged(2.0)
    assert sm.best == pytest.approx(2.0)
    assert sm.diverged(8.01) and not sm.diverged(7.99)
    assert sm.diverged(math.nan) and sm.diverged(math.inf)
    neg = s.Smoother()
    neg.add(-0.5)
    assert not neg.diverged(1.0)  # a best below zero: only a non-finite value stops it


def test_suggestions_on_a_known_curve():
    lrs, loss = u_curve()
    found = s.suggestions(lrs, loss, 100)
    # valley: inside the falling stretch (1e-4 .. 1e-2), in its middle third
    assert 10**-3.4 <= found["valley"] <= 10**-2.6, found
    # minimum: the lowest loss is at 1e-2; a tenth of it
    assert found["minimum"] == pytest.approx(lrs[np.argmin(loss[10:-5]) + 10] / 10)
    assert 5e-4 <= found["minimum"] <= 2e-3
    # steep: the falling stretch's slope is the most negative
    assert 1e-4 <= found["steep"] <= 1e-2


def test_valley_is_fastais_longest_decreasing_run():
    # a short decreasing run (5, 4, 3) and a longer one (6 .. 5.5, indices 3 to 8)
    loss = [5, 4, 3, 6, 5.9, 5.8, 5.7, 5.6, 5.5, 7]
    lrs = [10.0**i for i in range(len(loss))]
    # fastai: end = 8, length 6, start = end - length = 2, section = 2: the point
    # start + section + section // 2 = 5, in the middle third of the long run
    assert s.valley(lrs, loss) == lrs[5]
    # all decreasing from the first point on: the middle third of the whole run
    loss = [9, 8, 7, 6, 5, 4, 3.5, 3, 10, 11]
    assert s.valley(lrs, loss) == lrs[-1 + 2 + 1]  # end 7, length 8: start -1, section 8/3


def test_nan_cuts_the_curve_before_suggesting():
    lrs, loss = u_curve()
    cut = loss.copy()
    cut[60:] = np.nan  # everything from 1e-2.6 on is NaN
    found = s.suggestions(lrs, cut, 100)
    assert all(v is not None for v in found.values()), found
    assert all(v <= lrs[59] for k, v in found.items() if k != "minimum"), found
    assert found["minimum"] <= lrs[59] / 10 + 1e-12
    # a NaN in the middle cuts there too (fastai #3476: one NaN broke every suggestion)
    mid = loss.copy()
    mid[40] = np.nan
    lr_part, loss_part = s.trimmed(lrs, mid, 100)
    assert len(loss_part) == 30 and np.isfinite(loss_part).all()


def test_too_short_or_flat_curves_give_none_not_nonsense():
    assert s.suggestions([], [], 100) == {"valley": None, "minimum": None, "steep": None}
    one = s.suggestions([1e-7], [2.0], 100)
    assert one["valley"] is None and one["steep"] is None and one["minimum"] == pytest.approx(1e-8)
    rising = s.suggestions(s.rates(1e-3, 1, 20), np.linspace(1, 3, 20), 20)
    assert rising["valley"] is None and rising["steep"] is None
    nan_first = s.suggestions(s.rates(1e-3, 1, 20), [math.nan] * 20, 20)
    assert nan_first == {"valley": None, "minimum": None, "steep": None}


def test_choose_says_what_happened():
    lrs, loss = u_curve()
    found = s.suggestions(lrs, loss, 100)
    choice, message = s.choose(found, lrs, loss, loss, "finished", 100)
    assert choice == found["valley"] and message == ""
    choice, message = s.choose(found, lrs[:90], loss[:90], loss[:90], "diverged", 100)
    assert "Stopped after 90 of 100 batches" in message and "4x its best" in message
    # diverged at once: no suggestion, and the fix
    few = s.rates(1.0, 1e4, 100)[:2]
    choice, message = s.choose(s.suggestions(few, [2.3, 60.0], 100), few, [2.3, 60.0],
                               [2.3, 100.0], "diverged", 100)  # fmt: skip
    assert choice is None and "diverged at once" in message and "lower --start" in message
    # a loss that is not finite from the first batch: the data or the model, not the rate
    choice, message = s.choose(found, lrs[:1], [math.nan], [math.nan], "diverged", 100)
    assert choice is None and "very first batch" in message
    choice, message = s.choose(found, [], [], [], "finished", 100)
    assert choice is None and "No batch ran" in message
    choice, message = s.choose(found, lrs[:50], loss[:50], loss[:50], "interrupted", 100)
    assert "interrupt" in message and choice is not None


def test_markers_sit_on_the_curve_and_minimum_at_its_lowest_point():
    lrs, loss = u_curve()
    found = s.suggestions(lrs, loss, 100)
    marks = {m["name"]: m for m in s.markers(found, lrs, loss)}
    assert set(marks) == {"valley", "minimum", "steep"}
    assert marks["valley"]["x"] == pytest.approx(found["valley"])
    assert marks["minimum"]["value"] == pytest.approx(found["minimum"])
    assert marks["minimum"]["x"] == pytest.approx(found["minimum"] * 10)
    for m in marks.values():
        i = int(np.argmin(np.abs(lrs - m["x"])))
        assert m["y"] == pytest.approx(loss[i])
