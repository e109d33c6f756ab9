"""The sweep widget of a ``%%sweep --workers 2`` in a real JupyterLab driven by a real Chromium
(docs/sweeps-at-scale.md#a-cluster).

One notebook runs a 6-trial sweep on a local Dask cluster of two workers. While it runs, a
MutationObserver records what the widget's trials table shows: the test checks that trials of
both workers were shown running at the same moment, each row naming its worker, and that a
running trial's epochs grew in the table (each worker reports every epoch to the shared
storage, which the notebook reads live); at the end, every trial's row names one of the two
workers. Screenshots go to ``test-artifacts/`` (git-ignored). Set-up: ``tests/browser.py``.
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

TIMEOUT = 300_000  # ms
TRIALS = 6
SWEEP = '[data-testid="nbml-sweep"]'
CELLS = [
    "%load_ext nbml",
    "import keras",
    f"%%sweep mlp --trials {TRIALS} --workers 2 --data sklearn:digits --epochs 12 "
    "--lr 1e-3:1e-1:log --batch-size 32 --pruner none --study browser_cluster\n"
    "keras.Sequential([\n"
    "    keras.Input((8, 8, 1)),\n"
    "    keras.layers.Flatten(),\n"
    '    keras.layers.Dense(hp.choice("units", [16, 32]), activation="relu"),\n'
    '    keras.layers.Dense(10, activation="softmax"),\n'
    "])",
    'print("all cells ran")',
]

# Records what the running view shows: the workers of rows shown running at one moment, and
# the epochs shown for each running trial.
_WATCH = """() => {
    window.__nbmlLive = {together: 0, workers: [], epochs: {}};
    new MutationObserver(() => {
        for (const s of document.querySelectorAll('[data-testid="nbml-sweep"]')) {
            if (s.dataset.status !== 'running') continue;
            const live = window.__nbmlLive;
            const running = [...s.querySelectorAll('tr[data-trial][data-state="running"]')];
            const now = new Set(running.map((r) => r.dataset.worker).filter((w) => w));
            live.together = Math.max(live.together, now.size);
            for (const w of now) if (!live.workers.includes(w)) live.workers.push(w);
            for (const r of running) {
                const seen = (live.epochs[r.dataset.trial] ??= []);
                if (!seen.includes(r.dataset.epochs)) seen.push(r.dataset.epochs);
            }
        }
    }).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""

_FINISHED = """(trials) => {
    const s = document.querySelector('[data-testid="nbml-sweep"]');
    if (!s || s.dataset.status !== 'finished' || Number(s.dataset.trials) !== trials) return false;
    return {
        rows: [...s.querySelectorAll('tr[data-trial]')].map((r) => [r.dataset.state,
            r.dataset.worker, r.querySelector('.nbml-sweep-worker')?.textContent]),
        head: [...s.querySelectorAll('th')].map((h) => h.textContent),
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


def test_the_sweep_widget_shows_both_workers_trials_live(lab, page):
    console = collect_console(page)
    name = write_notebook(lab.root / "sweep_cluster_browser.ipynb", CELLS)
    open_lab(page, lab, name, timeout=TIMEOUT)
    page.evaluate(_WATCH)
    run_all(page)
    sweep = page.locator(SWEEP).first
    sweep.wait_for(state="visible", timeout=TIMEOUT)
    _wait(
        page, "() => window.__nbmlLive.together >= 2", None, "no two workers' trials running",
        console, lab,
    )  # fmt: skip
    shot(sweep, "sweep-cluster-running.png")
    done = _wait(page, _FINISHED, TRIALS, "the sweep did not finish", console, lab)
    live = page.evaluate("() => window.__nbmlLive")
    assert len(live["workers"]) == 2 and all(w.startswith("tcp://") for w in live["workers"])
    # a running trial's epochs grew in the table while it ran (more than one count shown)
    grew = {t: e for t, e in live["epochs"].items() if len(e) >= 2}
    assert grew, live["epochs"]
    assert done["errors"] == [], done
    assert "worker" in done["head"], done
    assert [r[0] for r in done["rows"]] == ["complete"] * TRIALS, done
    assert {r[1] for r in done["rows"]} == set(live["workers"]), done
    assert all(r[2] and not r[2].startswith("tcp://") for r in done["rows"]), done
    shot(sweep, "sweep-cluster-finished.png")
    _wait(
        page, "() => window.__nbmlRun === 'done'", None, "the notebook did not finish", console, lab
    )
    assert "all cells ran" in page.locator(".jp-OutputArea").last.inner_text()
