"""nbml's widgets in a real JupyterLab driven by a real Chromium (Python Playwright, sync API).

``jupyter lab`` on a temporary root runs the quickstart notebook once; the module's tests (one
per user story, in order: the module-scoped fixtures below move the page from one stage to the
next) check in the browser that

- the training monitor draws live curves (uPlot canvas, points) on an axis of whole epochs and
  reaches ``finished``; the whole notebook runs without an error;
- the Retrain panel refuses a learning rate that is no number (the kernel's notice shows in the
  widget, no run starts), then starts a second, background run that is drawn over the first;
- the "Models" panel says the same status word as the monitor for the model's run (``running``
  while it trains, ``finished`` after);
- clicking a confusion-matrix cell lists that cell's samples (thumbnails for the digit images);
- the monitor's Sweep keeps Retrain and Sweep disabled until the sweep ends, between its trials
  too (nothing trains then).

Screenshots of each step go to ``test-artifacts/`` at the repository root (git-ignored). The server
and browser set-up is shared with the sidebar's browser test (``tests/browser.py``).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from browser import (
    Lab,
    chromium_page,
    collect_console,
    jupyter_lab,
    open_lab,
    page_errors,
    run_all,
    shot,
    write_notebook,
)
from sidebar_page import WATCH_WORDS

from nbml.views.widgets.confusion import ConfusionMatrix

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "example_notebooks" / "01_quickstart.ipynb"
RUN_TIMEOUT = 120_000  # ms for the whole notebook (training included)
WIDGET_TIMEOUT = 60_000  # ms for a widget to show up or change state
PAGE_SIZE = ConfusionMatrix.page_size  # samples per page of a clicked cell (24)

MONITOR = '[data-testid="nbml-monitor"]'
CONFUSION = '[data-testid="nbml-confusion"]'
# The monitor is done with its latest run and shows ``runs`` runs with points, and has been for a
# moment in the same element: the output is re-rendered into a new view at the end of every run,
# and the old view may show "finished" just before it is replaced. Returns the view's state.
_FINISHED = """() => {
    const m = document.querySelector('@MONITOR@');
    const ok = m && m.dataset.status === 'finished' && m.dataset.runs === '@RUNS@'
        && Number(m.dataset.points) > 0;
    const seen = window.__nbmlStable;
    if (!ok) { window.__nbmlStable = null; return false; }
    if (!seen || seen.el !== m) {
        window.__nbmlStable = { el: m, t: performance.now() };
        return false;
    }
    if (performance.now() - seen.t < 400) return false;
    return { runs: Number(m.dataset.runs), points: Number(m.dataset.points) };
}"""

# Records the most points a monitor showed while running, per number of runs (proof of live
# drawing, however quick training is: a poll could miss it); installed before the cells run.
_WATCH_LIVE = """() => {
    window.__nbmlLive = {};
    new MutationObserver(() => {
        for (const m of document.querySelectorAll('[data-testid="nbml-monitor"]')) {
            if (m.dataset.status !== 'running') continue;
            const key = m.dataset.runs, n = Number(m.dataset.points) || 0;
            window.__nbmlLive[key] = Math.max(window.__nbmlLive[key] ?? 0, n);
        }
    }).observe(document.body, {
        subtree: true, attributes: true,
        attributeFilter: ['data-status', 'data-points', 'data-runs'],
    });
}"""


def finished(runs: int) -> str:
    return _FINISHED.replace("@MONITOR@", MONITOR).replace("@RUNS@", str(runs))


def _write_notebook(root: Path) -> str:
    """The quickstart notebook, or a small stand-in doing the same when it is missing."""
    if QUICKSTART.exists():
        shutil.copy(QUICKSTART, root / QUICKSTART.name)
        return QUICKSTART.name
    return write_notebook(
        root / "widgets_browser.ipynb",
        [
            "%load_ext nbml",
            "import keras\n\nkeras.utils.set_random_seed(0)",
            "%%train mlp --data sklearn:digits --epochs 10\n"
            "keras.Sequential([\n"
            "    keras.layers.Flatten(),\n"
            '    keras.layers.Dense(128, activation="relu"),\n'
            '    keras.layers.Dense(10, activation="softmax"),\n'
            "])",
            "%evaluate mlp",
        ],
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    """A JupyterLab server on a free port and a temporary root, shut down with its kernels."""
    with jupyter_lab(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="module")
def page():
    """A Chromium page (the system Chromium: this test never downloads a browser)."""
    with chromium_page(timeout=WIDGET_TIMEOUT) as pg:
        yield pg


def _attr(locator, name: str) -> str | None:
    return locator.get_attribute(name)


@dataclass
class Notebook:
    """The page running the notebook, and what the stages of this module saw."""

    page: Any
    lab: Lab
    console: list[str]
    seen: dict[str, Any] = field(default_factory=dict)

    def context(self) -> str:
        return (
            f"\nnotebook errors:\n{page_errors(self.page)}\nbrowser console (last 20):\n"
            + "\n".join(self.console[-20:])
            + f"\nserver log tail:\n{self.lab.log_tail(2000)}"
        )

    @property
    def monitor(self) -> Any:
        return self.page.locator(MONITOR).first

    def wait(self, js: str, failure: Any, timeout: int = WIDGET_TIMEOUT) -> Any:
        """Wait for ``js`` to hold; else fail with ``failure`` (or ``failure()``) and context."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            return self.page.wait_for_function(js, timeout=timeout).json_value()
        except PlaywrightTimeout:
            pytest.fail((failure() if callable(failure) else failure) + self.context())

    def live(self) -> dict[str, int]:
        return self.page.evaluate("() => window.__nbmlLive")


@pytest.fixture(scope="module")
def first_run(page, lab) -> Notebook:
    """The notebook running all its cells, its monitor showing the first run finished."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    nb = Notebook(page, lab, collect_console(page))
    notebook = _write_notebook(lab.root)
    open_lab(page, lab, notebook, timeout=WIDGET_TIMEOUT)
    page.evaluate(_WATCH_LIVE)
    run_all(page)  # the kernel is ready once it returns
    nb.seen["kernel"] = page.evaluate(
        "() => window.__nbmlPanel.sessionContext.session?.kernel?.name ?? null"
    )
    try:
        nb.monitor.wait_for(state="visible", timeout=RUN_TIMEOUT)
    except PlaywrightTimeout:
        pytest.fail("the training monitor never showed up" + nb.context())
    nb.wait(
        f"""() => {{
            const m = document.querySelector('{MONITOR}');
            return m && Number(m.dataset.points) > 0 && m.querySelector('canvas');
        }}""",
        "the training monitor never showed points",
        timeout=RUN_TIMEOUT,
    )
    # at the end the output is re-rendered (for its static HTML) into a new view: wait for that
    # view's curves, not only for the status
    nb.seen["first"] = nb.wait(
        finished(1),
        lambda: f"the monitor did not reach 'finished' (status {_attr(nb.monitor, 'data-status')})",
        timeout=RUN_TIMEOUT,
    )
    return nb


@pytest.fixture(scope="module")
def ran_all(first_run: Notebook) -> Notebook:
    """Every cell has run: the kernel is free to take the monitor's Retrain message."""
    first_run.wait(
        "() => window.__nbmlRun !== undefined", "running all cells did not finish", RUN_TIMEOUT
    )
    first_run.seen["run_all"] = first_run.page.evaluate("() => window.__nbmlRun")
    return first_run


def _open_retrain(monitor: Any) -> None:
    if not monitor.locator("details.nbml-retrain").evaluate("d => d.open"):
        monitor.locator("details.nbml-retrain > summary").click()
    monitor.locator('[data-testid="nbml-retrain-lr"]').wait_for(state="visible")


@pytest.fixture(scope="module")
def retrained(ran_all: Notebook) -> Notebook:
    """A second run started from the Retrain panel (learning rate 0.0005) and finished, with the
    Models panel shown and watched (``window.__nbmlWords``) while it ran."""
    nb, monitor = ran_all, ran_all.monitor
    nb.page.evaluate(WATCH_WORDS, "mlp")
    _open_retrain(monitor)
    monitor.locator('[data-testid="nbml-retrain-lr"]').fill("0.0005")
    button = monitor.locator('[data-testid="nbml-retrain"]')
    nb.seen["enabled"] = button.is_enabled()
    button.click()
    points_first = nb.seen["first"]["points"]
    nb.wait(
        f"""() => {{
            const m = document.querySelector('{MONITOR}');
            return m && m.dataset.runs === '2' && Number(m.dataset.points) > {points_first};
        }}""",
        lambda: (
            f"no second run in the monitor (runs {_attr(monitor, 'data-runs')}, points "
            f"{_attr(monitor, 'data-points')}, message "
            f"{monitor.locator('.nbml-message').inner_text()!r})"
        ),
    )
    nb.seen["both"] = nb.wait(
        finished(2),
        lambda: f"the retrain did not finish (status {_attr(monitor, 'data-status')})",
    )
    return nb


@pytest.mark.timeout(300)
def test_the_monitor_draws_live_curves_on_whole_epochs_and_finishes(first_run):
    assert first_run.seen["kernel"], "the notebook has no kernel" + first_run.context()
    state, monitor = first_run.seen["first"], first_run.monitor
    assert state["runs"] == 1 and state["points"] > 0, state
    assert monitor.locator('[data-testid="nbml-chart"] canvas').count() >= 1
    assert monitor.locator(".uplot").count() >= 1
    # (the digits train in about a second, too quick for a screenshot mid-run: the curves as the
    # live widget drew them, at the end of the run; the observer above proves the live drawing)
    shot(monitor, "01_monitor_first_run.png")
    # loss and accuracy charts, each with a canvas
    metrics = monitor.locator('[data-testid="nbml-chart"]').evaluate_all(
        "els => els.map(e => e.dataset.metric)"
    )
    assert "loss" in metrics, metrics
    live = first_run.live()
    assert live.get("1", 0) > 0, f"no points drawn while training: {live}" + first_run.context()
    # the epoch axis (batch points lie between epochs) is labelled in whole epochs only
    ticks = monitor.locator('[data-testid="nbml-chart"] .uplot').evaluate_all(
        "els => els.map(e => e.dataset.xticks ?? '')"
    )
    assert len(ticks) == len(metrics), (ticks, metrics)
    for axis in ticks:
        labels = axis.split()
        assert len(labels) >= 2 and all(re.fullmatch(r"\d+", t) for t in labels), ticks
        assert int(labels[-1]) <= 10, ticks  # the 10 epochs planned, no more


@pytest.mark.timeout(300)
def test_the_whole_notebook_runs_without_an_error(ran_all):
    run_result = ran_all.seen["run_all"]
    assert run_result == "done", f"run all cells: {run_result}" + ran_all.context()
    assert page_errors(ran_all.page) == "(no error output in the notebook)", ran_all.context()


@pytest.mark.timeout(120)
def test_retrain_refuses_a_learning_rate_that_is_no_number(ran_all):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    monitor = ran_all.monitor
    _open_retrain(monitor)
    lr_input = monitor.locator('[data-testid="nbml-retrain-lr"]')
    button = monitor.locator('[data-testid="nbml-retrain"]')
    # a learning rate that is no number is refused: the kernel says why, nothing starts
    lr_input.fill("fast")
    button.click()
    notice = monitor.locator('[data-testid="nbml-notice"]')
    try:
        notice.wait_for(state="visible", timeout=WIDGET_TIMEOUT)
    except PlaywrightTimeout:
        pytest.fail("no notice for a bad learning rate" + ran_all.context())
    assert "learning rate must be a positive number" in notice.inner_text(), notice.inner_text()
    assert _attr(monitor, "data-runs") == "1" and button.is_enabled()


@pytest.mark.timeout(180)
def test_retrain_draws_a_second_run_over_the_first(retrained):
    assert retrained.seen["enabled"]
    points_first, points_both = retrained.seen["first"]["points"], retrained.seen["both"]["points"]
    live = retrained.live()
    # the background run was drawn while it ran, over the first run's curves
    assert live.get("2", 0) > points_first, f"retrain not drawn live: {live}" + (
        retrained.context()
    )
    # the second run has about as many points as the first (same epochs and data)
    assert points_both >= points_first + points_first // 2, (points_first, points_both)
    # the legend names both runs, the new one with its learning rate
    legend = retrained.monitor.locator(".u-legend").first.inner_text()
    assert "run 1" in legend and "run 2" in legend and "0.0005" in legend, legend
    shot(retrained.monitor, "02_monitor_retrain.png")
    print(f"points while running {live}, points {points_first} -> {points_both}")


@pytest.mark.timeout(120)
def test_the_models_panel_says_the_monitors_status_word(retrained):
    """One vocabulary: the panel's row of the model says its run's status as the monitor does
    (running while the retrain ran, finished after; never the model's idle or training)."""
    words = retrained.page.evaluate("() => window.__nbmlWords")
    panel_words = {w[1] for w in words if w[1] is not None}
    assert ["running", "running", "running"] in words, words
    assert panel_words <= {"running", "finished"}, words
    # the row's text is its status attribute
    assert all(w[1] == w[2] for w in words), words
    final = retrained.page.evaluate(
        f"""() => [document.querySelector('{MONITOR}')?.dataset.status,
            [...document.querySelectorAll('#nbml-sidebar li.nbml-sb-model')]
                .find((l) => l.dataset.model === 'mlp')?.dataset.status]"""
    )
    assert final == ["finished", "finished"], (final, words)


@pytest.mark.timeout(180)
def test_clicking_a_confusion_cell_lists_its_samples(ran_all):
    page = ran_all.page
    confusion = page.locator(CONFUSION).first
    confusion.scroll_into_view_if_needed()
    cells = confusion.locator("td.nbml-cm-cell").evaluate_all(
        "els => els.map(e => [Number(e.dataset.true), Number(e.dataset.pred), "
        "Number(e.dataset.count)])"
    )
    assert len(cells) == 100, len(cells)  # 10 digits
    samples = confusion.locator('[data-testid="nbml-samples"]')
    # the biggest diagonal cell holds more than one page: only the first page is shown
    diag = max((c for c in cells if c[0] == c[1]), key=lambda c: c[2])
    _click_cell(ran_all, *diag)
    if diag[2] > PAGE_SIZE:
        assert samples.locator(".nbml-cm-pager button").count() == 2
    # then the most frequent mistake (an off-diagonal cell), for the screenshot
    off = [c for c in cells if c[0] != c[1] and c[2] > 0]
    true, pred, count = max(off or [c for c in cells if c[0] == c[1]], key=lambda c: c[2])
    assert count > 0
    _click_cell(ran_all, true, pred, count)
    shot(confusion, "03_confusion_samples.png")
    print(f"cell ({true}, {pred}) x{count}, diagonal {tuple(diag)}")


def _click_cell(nb: Notebook, true: int, pred: int, count: int) -> None:
    """Click a cell and check its samples: the first page, all thumbnails decoded."""
    confusion = nb.page.locator(CONFUSION).first
    samples = confusion.locator('[data-testid="nbml-samples"]')
    expected = min(count, PAGE_SIZE)
    confusion.locator(f'td.nbml-cm-cell[data-true="{true}"][data-pred="{pred}"]').click()
    nb.wait(
        f"""() => {{
            const s = document.querySelector('{CONFUSION} [data-testid="nbml-samples"]');
            if (!s || s.dataset.total !== '{count}') return false;
            const items = s.querySelectorAll('[data-testid="nbml-sample"]');
            return items.length === {expected} && [...items].every(
                (it) => it.querySelector('img')?.complete
                    && it.querySelector('img').naturalWidth > 0);
        }}""",
        lambda: (
            f"cell ({true}, {pred}) with {count} samples: panel shows total "
            f"{_attr(samples, 'data-total')}, "
            f"{samples.locator('[data-testid=nbml-sample]').count()} items"
        ),
    )
    assert _attr(samples, "data-total") == str(count)
    assert _attr(samples, "data-shown") == str(expected)
    assert samples.locator('[data-testid="nbml-sample"]').count() == expected
    selected = confusion.locator("td.nbml-cm-cell.nbml-selected")
    assert selected.count() == 1
    assert (_attr(selected, "data-true"), _attr(selected, "data-pred")) == (str(true), str(pred))


# Every 20 ms: the monitor's status, whether its sweep runs, and whether Retrain and Sweep are
# disabled (the monitor's output is re-rendered at each run's end: always the current view).
WATCH_BUTTONS = """() => {
    window.__nbmlButtons = [];
    window.__nbmlButtonsTimer = setInterval(() => {
        const m = document.querySelector('@MONITOR@');
        if (!m) return;
        const go = m.querySelector('[data-testid="nbml-retrain"]');
        const sweep = m.querySelector('[data-testid="nbml-sweep-around"]');
        window.__nbmlButtons.push([m.dataset.status, m.dataset.sweeping, go?.disabled,
            sweep?.disabled]);
    }, 20);
}""".replace("@MONITOR@", MONITOR)

SWEEP_ENDED = """() => {
    const n = document.querySelector('@MONITOR@ [data-testid="nbml-notice"]');
    return n && /^Sweep mlp-\\S+ (finished|stopped|failed)/.test(n.textContent) && n.textContent;
}""".replace("@MONITOR@", MONITOR)


@pytest.mark.timeout(300)
def test_the_sweep_choice_keeps_retrain_and_sweep_disabled_until_it_ends(retrained):
    """The monitor's Sweep trains one trial after another: between trials nothing is training,
    and still Retrain and Sweep stay disabled until the sweep has ended."""
    nb = retrained
    _open_retrain(nb.monitor)
    nb.page.evaluate(WATCH_BUTTONS)
    nb.monitor.locator('[data-testid="nbml-sweep-around"]').click()
    ended = nb.wait(SWEEP_ENDED, "the monitor's sweep did not end", timeout=240_000)
    nb.wait(
        f"() => document.querySelector('{MONITOR}')?.dataset.sweeping === 'false'",
        "the monitor still says it sweeps",
    )
    samples = nb.page.evaluate("() => { clearInterval(window.__nbmlButtonsTimer); "
                               "return window.__nbmlButtons; }")  # fmt: skip
    sweeping = [s for s in samples if s[1] == "true"]
    assert sweeping, f"no sample while sweeping ({len(samples)} samples)" + nb.context()
    enabled = [s for s in sweeping if s[2] is not True or s[3] is not True]
    assert not enabled, f"a button was enabled while sweeping: {enabled[:5]}"
    between = [s for s in sweeping if s[0] != "running"]
    assert ended.startswith("Sweep mlp-") and "finished" in ended, ended
    monitor = nb.monitor
    assert monitor.locator('[data-testid="nbml-retrain"]').is_enabled()
    assert monitor.locator('[data-testid="nbml-sweep-around"]').is_enabled()
    shot(monitor, "04_monitor_sweep.png")
    print(f"{len(sweeping)} samples while sweeping, {len(between)} between trials: {ended}")
