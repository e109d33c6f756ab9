"""nbml's widgets in a real JupyterLab driven by a real Chromium (Python Playwright, sync API).

One end-to-end test: start ``jupyter lab`` on a temporary root, open the quickstart notebook, run
all its cells, then check in the browser that

- the training monitor draws live curves (uPlot canvas, points) and reaches ``finished``;
- the Retrain panel refuses a learning rate that is no number (the kernel's notice shows in the
  widget, no run starts), then starts a second, background run that is drawn over the first;
- clicking a confusion-matrix cell lists that cell's samples (thumbnails for the digit images).

Screenshots of each step go to ``test-artifacts/`` at the repository root (git-ignored). The server
and browser set-up is shared with the sidebar's browser test (``tests/browser.py``).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import (
    Lab,
    chromium_page,
    collect_console,
    jupyter_lab,
    open_lab,
    page_errors,
    shot,
    write_notebook,
)

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


@pytest.mark.timeout(300)
def test_monitor_retrain_and_confusion_in_jupyterlab(page, lab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    started = time.monotonic()
    notebook = _write_notebook(lab.root)
    console = collect_console(page)

    def context() -> str:
        return (
            f"\nnotebook errors:\n{page_errors(page)}\nbrowser console (last 20):\n"
            + "\n".join(console[-20:])
            + f"\nserver log tail:\n{lab.log_tail(2000)}"
        )

    # ------------------------------------------------------------ open and run the notebook
    open_lab(page, lab, notebook, timeout=WIDGET_TIMEOUT)
    kernel = page.evaluate(
        """async () => {
            const app = window.jupyterapp;
            await app.restored;
            const panel = app.shell.currentWidget;
            await panel.context.ready;
            await panel.sessionContext.ready;
            window.__nbmlRun = undefined;
            // the most points a monitor showed while running, per number of runs: proof of
            // live drawing, however quick training is (a poll could miss it)
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
            app.commands.execute('notebook:run-all-cells').then(
                (ok) => { window.__nbmlRun = ok === false ? 'failed' : 'done'; },
                (err) => { window.__nbmlRun = 'error: ' + err; },
            );
            return panel.sessionContext.session?.kernel?.name ?? null;
        }"""
    )
    assert kernel, "the notebook has no kernel" + context()

    # ------------------------------------------------------------ live monitor
    monitor = page.locator(MONITOR).first
    try:
        monitor.wait_for(state="visible", timeout=RUN_TIMEOUT)
        page.wait_for_function(
            f"""() => {{
                const m = document.querySelector('{MONITOR}');
                return m && Number(m.dataset.points) > 0 && m.querySelector('canvas');
            }}""",
            timeout=RUN_TIMEOUT,
        )
    except PlaywrightTimeout:
        pytest.fail("the training monitor never showed points" + context())
    # at the end the output is re-rendered (for its static HTML) into a new view: wait for that
    # view's curves, not only for the status
    try:
        state = page.wait_for_function(finished(1), timeout=RUN_TIMEOUT).json_value()
    except PlaywrightTimeout:
        pytest.fail(
            f"the monitor did not reach 'finished' (status {_attr(monitor, 'data-status')})"
            + context()
        )
    points_first = state["points"]
    assert state["runs"] == 1 and points_first > 0, state
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
    live = page.evaluate("() => window.__nbmlLive")
    assert live.get("1", 0) > 0, f"no points drawn while training: {live}" + context()

    # the whole notebook has to finish before the kernel can take the Retrain message
    try:
        page.wait_for_function("() => window.__nbmlRun !== undefined", timeout=RUN_TIMEOUT)
    except PlaywrightTimeout:
        pytest.fail("running all cells did not finish" + context())
    run_result = page.evaluate("() => window.__nbmlRun")
    assert run_result == "done", f"run all cells: {run_result}" + context()
    assert page_errors(page) == "(no error output in the notebook)", context()

    # ------------------------------------------------------------ retrain
    monitor.locator("details.nbml-retrain > summary").click()
    lr_input = monitor.locator('[data-testid="nbml-retrain-lr"]')
    lr_input.wait_for(state="visible")
    button = monitor.locator('[data-testid="nbml-retrain"]')
    # a learning rate that is no number is refused: the kernel says why, nothing starts
    lr_input.fill("fast")
    button.click()
    notice = monitor.locator('[data-testid="nbml-notice"]')
    try:
        notice.wait_for(state="visible", timeout=WIDGET_TIMEOUT)
    except PlaywrightTimeout:
        pytest.fail("no notice for a bad learning rate" + context())
    assert "learning rate must be a positive number" in notice.inner_text(), notice.inner_text()
    assert _attr(monitor, "data-runs") == "1" and button.is_enabled()
    lr_input.fill("0.0005")
    assert button.is_enabled()
    button.click()
    try:
        page.wait_for_function(
            f"""() => {{
                const m = document.querySelector('{MONITOR}');
                return m && m.dataset.runs === '2' && Number(m.dataset.points) > {points_first};
            }}""",
            timeout=WIDGET_TIMEOUT,
        )
    except PlaywrightTimeout:
        pytest.fail(
            f"no second run in the monitor (runs {_attr(monitor, 'data-runs')}, points "
            f"{_attr(monitor, 'data-points')}, message {monitor.locator('.nbml-message').inner_text()!r})"
            + context()
        )
    try:
        state = page.wait_for_function(finished(2), timeout=WIDGET_TIMEOUT).json_value()
    except PlaywrightTimeout:
        pytest.fail(
            f"the retrain did not finish (status {_attr(monitor, 'data-status')})" + context()
        )
    points_both = state["points"]
    live = page.evaluate("() => window.__nbmlLive")
    # the background run was drawn while it ran, over the first run's curves
    assert live.get("2", 0) > points_first, f"retrain not drawn live: {live}" + context()
    # the second run has about as many points as the first (same epochs and data)
    assert points_both >= points_first + points_first // 2, (points_first, points_both)
    # the legend names both runs, the new one with its learning rate
    legend = monitor.locator(".u-legend").first.inner_text()
    assert "run 1" in legend and "run 2" in legend and "0.0005" in legend, legend
    shot(monitor, "02_monitor_retrain.png")

    # ------------------------------------------------------------ confusion matrix
    confusion = page.locator(CONFUSION).first
    confusion.scroll_into_view_if_needed()
    cells = confusion.locator("td.nbml-cm-cell").evaluate_all(
        "els => els.map(e => [Number(e.dataset.true), Number(e.dataset.pred), "
        "Number(e.dataset.count)])"
    )
    assert len(cells) == 100, len(cells)  # 10 digits
    samples = confusion.locator('[data-testid="nbml-samples"]')

    def click_cell(true: int, pred: int, count: int) -> None:
        """Click a cell and check its samples: the first page, all thumbnails decoded."""
        expected = min(count, PAGE_SIZE)
        confusion.locator(f'td.nbml-cm-cell[data-true="{true}"][data-pred="{pred}"]').click()
        try:
            page.wait_for_function(
                f"""() => {{
                    const s = document.querySelector('{CONFUSION} [data-testid="nbml-samples"]');
                    if (!s || s.dataset.total !== '{count}') return false;
                    const items = s.querySelectorAll('[data-testid="nbml-sample"]');
                    return items.length === {expected} && [...items].every(
                        (it) => it.querySelector('img')?.complete
                            && it.querySelector('img').naturalWidth > 0);
                }}""",
                timeout=WIDGET_TIMEOUT,
            )
        except PlaywrightTimeout:
            pytest.fail(
                f"cell ({true}, {pred}) with {count} samples: panel shows total "
                f"{_attr(samples, 'data-total')}, "
                f"{samples.locator('[data-testid=nbml-sample]').count()} items" + context()
            )
        assert _attr(samples, "data-total") == str(count)
        assert _attr(samples, "data-shown") == str(expected)
        assert samples.locator('[data-testid="nbml-sample"]').count() == expected
        selected = confusion.locator("td.nbml-cm-cell.nbml-selected")
        assert selected.count() == 1
        assert (_attr(selected, "data-true"), _attr(selected, "data-pred")) == (
            str(true),
            str(pred),
        )

    # the biggest diagonal cell holds more than one page: only the first page is shown
    diag_true, diag_pred, diag_count = max((c for c in cells if c[0] == c[1]), key=lambda c: c[2])
    click_cell(diag_true, diag_pred, diag_count)
    if diag_count > PAGE_SIZE:
        assert samples.locator(".nbml-cm-pager button").count() == 2
    # then the most frequent mistake (an off-diagonal cell), for the screenshot
    off = [c for c in cells if c[0] != c[1] and c[2] > 0]
    true, pred, count = max(off or [c for c in cells if c[0] == c[1]], key=lambda c: c[2])
    assert count > 0
    click_cell(true, pred, count)
    shot(confusion, "03_confusion_samples.png")

    print(
        f"browser test: {time.monotonic() - started:.1f}s, "
        f"points while running {live}, "
        f"points {points_first} -> {points_both}, cell ({true}, {pred}) x{count}, "
        f"diagonal ({diag_true}, {diag_pred}) x{diag_count}"
    )
