"""The sweep widget in a real JupyterLab driven by a real Chromium (docs/reference.md#sweeps).

One notebook runs an 8-trial ``%%sweep`` on sklearn:digits. The test checks that

- the widget's trials table and its charts fill while the sweep runs (a MutationObserver records
  the rows and drawn points the running view shows), and the sweep ends ``finished`` with a row
  per trial, the objective by trial and one chart per hyperparameter (uPlot canvases);
- clicking a trial's row shows that trial's curves (loss and accuracy, training and validation);
- the "Models" panel shows the model as one sweep entry with its trials' progress;
- no widget shows an error.

Screenshots go to ``test-artifacts/`` (git-ignored). Server and browser set-up: ``tests/browser.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser import (
    Lab,
    chromium_page,
    collect_console,
    jupyter_lab,
    open_lab,
    run_all,
    shot,
    wait_or_fail,
    write_notebook,
)

TIMEOUT = 180_000  # ms
TRIALS = 8
SWEEP = '[data-testid="nbml-sweep"]'
CELLS = [
    "%load_ext nbml",
    "import keras",
    f"%%sweep mlp --trials {TRIALS} --data sklearn:digits --epochs 3 --lr 1e-3:1e-1:log "
    "--batch-size 32,64 --pruner none --study browser\n"
    "keras.Sequential([\n"
    "    keras.Input((8, 8, 1)),\n"
    "    keras.layers.Flatten(),\n"
    '    keras.layers.Dense(hp.choice("units", [16, 32]), activation="relu"),\n'
    '    keras.layers.Dense(10, activation="softmax"),\n'
    "])",
    'print("all cells ran")',
]

# Records what running sweep views show: the most rows and drawn points seen while running.
_WATCH = """() => {
    window.__nbmlLive = {rows: 0, points: 0, charts: 0, seen: []};
    new MutationObserver(() => {
        for (const s of document.querySelectorAll('[data-testid="nbml-sweep"]')) {
            if (s.dataset.status !== 'running') continue;
            const live = window.__nbmlLive;
            const rows = s.querySelectorAll('tr[data-trial]').length;
            live.rows = Math.max(live.rows, rows);
            live.points = Math.max(live.points, Number(s.dataset.points) || 0);
            live.charts = Math.max(live.charts, s.querySelectorAll('canvas').length);
            if (live.seen[live.seen.length - 1] !== rows) live.seen.push(rows);
        }
    }).observe(document.body, {subtree: true, childList: true, attributes: true,
                               attributeFilter: ['data-status', 'data-points', 'data-trials']});
}"""

# The finished view (the output is re-rendered at the end): its state, once stable for 400 ms.
_FINISHED = """(trials) => {
    const s = document.querySelector('[data-testid="nbml-sweep"]');
    const ok = s && s.dataset.status === 'finished' && Number(s.dataset.trials) === trials
        && s.querySelectorAll('canvas').length > 0;
    const seen = window.__nbmlStable;
    if (!ok) { window.__nbmlStable = null; return false; }
    if (!seen || seen.el !== s) { window.__nbmlStable = {el: s, t: performance.now()}; return false; }
    if (performance.now() - seen.t < 400) return false;
    return {
        rows: [...s.querySelectorAll('tr[data-trial]')].map((r) => r.dataset.state),
        charts: Number(s.dataset.charts), points: Number(s.dataset.points),
        canvases: s.querySelectorAll('.nbml-sweep-charts canvas').length,
        errors: [...s.parentElement.querySelectorAll('.nbml-widget-error')]
            .filter((e) => !e.hidden).map((e) => e.textContent),
    };
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    with jupyter_lab(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="module")
def page():
    with chromium_page(width=1500, height=1100, timeout=TIMEOUT) as pg:
        yield pg


def _wait(page, js, arg, what, console, lab):
    return wait_or_fail(page, js, arg, what, console, lab, TIMEOUT)


def test_the_sweep_widget_fills_live_and_shows_a_trials_curves(lab, page):
    console = collect_console(page)
    name = write_notebook(lab.root / "sweep_browser.ipynb", CELLS)
    open_lab(page, lab, name, timeout=TIMEOUT)
    page.evaluate(_WATCH)
    run_all(page, sidebar=True)
    sweep = page.locator(SWEEP).first
    sweep.wait_for(state="visible", timeout=TIMEOUT)
    _wait(page, "() => window.__nbmlLive.rows >= 2", None, "no live rows", console, lab)
    shot(sweep, "sweep-running.png")
    done = _wait(page, _FINISHED, TRIALS, "the sweep did not finish", console, lab)
    live = page.evaluate("() => window.__nbmlLive")
    # the running view filled as trials ran: more than one row count seen, points drawn
    assert len(live["seen"]) >= 2 and live["rows"] >= 2 and live["points"] >= 1, live
    assert live["charts"] >= 1, live
    assert done["rows"] == ["complete"] * TRIALS, done
    assert done["errors"] == [], done
    # the objective by trial, and one chart each for lr, batch_size and units
    assert done["charts"] == 4 and done["canvases"] >= 4, done
    assert done["points"] == TRIALS, done
    shot(sweep, "sweep-finished.png")

    # clicking a trial's row shows that trial's curves
    sweep = page.locator(SWEEP).first
    sweep.locator('tr[data-trial="3"]').click()
    curves = _wait(
        page,
        """() => {
            const c = document.querySelector('[data-testid="nbml-sweep-curves"]');
            return c && c.dataset.trial === '3' && c.querySelectorAll('canvas').length >= 2
                && {curves: Number(c.dataset.curves), text: c.textContent};
        }""",
        None,
        "clicking trial 3 showed no curves",
        console,
        lab,
    )
    assert curves["curves"] == 2 and "trial 3" in curves["text"], curves  # loss, accuracy
    assert sweep.locator('tr[data-trial="3"]').get_attribute("class") == "nbml-selected"
    curves_box = sweep.locator('[data-testid="nbml-sweep-curves"]')
    curves_box.scroll_into_view_if_needed()
    shot(curves_box, "sweep-trial-curves.png")

    # the sidebar shows the model as one sweep entry with its trials' progress
    entry = page.locator('#nbml-sidebar li[data-model="mlp"] .nbml-sb-sweep')
    entry.wait_for(state="visible", timeout=TIMEOUT)
    _wait(
        page,
        """() => document.querySelector('#nbml-sidebar .nbml-sb-sweep')
            ?.dataset.sweepStatus === 'finished'""",
        None,
        "the sidebar's sweep entry did not reach finished",
        console,
        lab,
    )
    assert f"{TRIALS}/{TRIALS} trials" in entry.inner_text()
    shot(page.locator("#nbml-sidebar"), "sweep-sidebar.png")
    _wait(
        page, "() => window.__nbmlRun === 'done'", None, "the notebook did not finish", console, lab
    )
    assert "all cells ran" in page.locator(".jp-OutputArea").last.inner_text()
    assert not [c for c in console if "nbml" in c and "error" in c.lower()], console
