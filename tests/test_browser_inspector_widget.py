"""The model inspector's widget in a real JupyterLab driven by a real Chromium (Python
Playwright, sync API; the server and browser set-up of ``tests/browser.py``).

One notebook trains a model whose ReLU layer is dead (a bias of -100), shows ``%inspect`` of it,
then starts a small CNN training in the background and shows ``%inspect`` of that in the next
cell. The tests check in the browser that

- the broken model's widget marks its flagged layer with the flag's reason;
- the CNN's widget follows the background training: its records and sparklines grow while the
  run is ``running``, and it ends ``finished`` with every epoch's record.

Screenshots go to ``test-artifacts/`` at the repository root (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
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

RUN_TIMEOUT = 180_000  # ms for the whole notebook (training included)
WIDGET_TIMEOUT = 60_000  # ms for a widget to show up or change state
INSPECTOR = '[data-testid="nbml-inspector"]'
CNN_EPOCHS = 40

CELLS = [
    "%load_ext nbml\nimport keras\nkeras.utils.set_random_seed(0)",
    # --normalize none: the model as written, so its top-level layers' activations are recorded
    "%%train dead --data sklearn:digits --epochs 3 --normalize none\n"
    "keras.Sequential([\n"
    "    keras.Input(shape=(8, 8, 1)),\n"
    "    keras.layers.Flatten(),\n"
    '    keras.layers.Dense(32, activation="relu", name="hidden",\n'
    "                       bias_initializer=keras.initializers.Constant(-100.0)),\n"
    '    keras.layers.Dense(10, activation="softmax"),\n'
    "])",
    "%inspect dead",
    f"%%train cnn --data sklearn:digits --epochs {CNN_EPOCHS} --background --normalize none\n"
    "keras.Sequential([\n"
    "    keras.Input(shape=(8, 8, 1)),\n"
    '    keras.layers.Conv2D(32, 3, padding="same", activation="relu"),\n'
    '    keras.layers.Conv2D(32, 3, padding="same", activation="relu"),\n'
    "    keras.layers.Flatten(),\n"
    '    keras.layers.Dense(10, activation="softmax"),\n'
    "])",
    "%inspect cnn",
]

# Records every state the CNN's inspector showed (status, records, points of its first weight
# norm sparkline) as it changed: proof of live growth however quick training is, since a poll
# could miss it. Installed before the cells run.
_WATCH = """() => {
    window.__nbmlGrow = [];
    const look = () => {
        for (const w of document.querySelectorAll('[data-testid="nbml-inspector"]')) {
            if (!w.textContent.includes('inspect cnn')) continue;
            const spark = w.querySelector('td[data-stat="weight_norm"] svg');
            const row = [w.dataset.status, Number(w.dataset.records),
                         spark ? Number(spark.dataset.points) : 0];
            const last = window.__nbmlGrow[window.__nbmlGrow.length - 1];
            if (!last || last.join() !== row.join()) window.__nbmlGrow.push(row);
        }
    };
    new MutationObserver(look).observe(document.body, {
        subtree: true, childList: true, attributes: true,
        attributeFilter: ['data-status', 'data-records', 'data-points'],
    });
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    with jupyter_lab(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="module")
def page():
    with chromium_page(timeout=WIDGET_TIMEOUT) as pg:
        yield pg


class Notebook:
    """The page running the notebook, and how to fail with the page's context."""

    def __init__(self, page: Any, lab: Lab) -> None:
        self.page, self.lab, self.console = page, lab, collect_console(page)

    def context(self) -> str:
        return (
            f"\nnotebook errors:\n{page_errors(self.page)}\nbrowser console (last 20):\n"
            + "\n".join(self.console[-20:])
            + f"\nserver log tail:\n{self.lab.log_tail(2000)}"
        )

    def wait(self, js: str, failure: str, timeout: int = WIDGET_TIMEOUT) -> Any:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            return self.page.wait_for_function(js, timeout=timeout).json_value()
        except PlaywrightTimeout:
            pytest.fail(failure + self.context())

    def inspector(self, cell: int) -> Any:
        return self.page.locator(".jp-Notebook .jp-Cell").nth(cell).locator(INSPECTOR).first


@pytest.fixture(scope="module")
def notebook(page, lab) -> Notebook:
    """Every cell run, the CNN's background training finished."""
    nb = Notebook(page, lab)
    open_lab(page, lab, write_notebook(lab.root / "inspect.ipynb", CELLS), timeout=WIDGET_TIMEOUT)
    page.evaluate(_WATCH)
    run_all(page)
    nb.wait("() => window.__nbmlRun !== undefined", "running all cells did not end", RUN_TIMEOUT)
    assert page.evaluate("() => window.__nbmlRun") == "done", nb.context()
    nb.wait(
        f"""() => {{
            const w = [...document.querySelectorAll('{INSPECTOR}')]
                .find(e => e.textContent.includes('inspect cnn'));
            return w && w.dataset.status === 'finished'
                && w.dataset.records === '{CNN_EPOCHS}';
        }}""",
        "the CNN's inspector did not reach 'finished' with every record",
        RUN_TIMEOUT,
    )
    return nb


@pytest.mark.timeout(400)
def test_a_broken_models_widget_shows_its_flagged_layer_and_reason(notebook):
    widget = notebook.inspector(2)
    widget.wait_for(state="visible")
    row = widget.locator('tr[data-layer="hidden"]')
    assert row.get_attribute("data-flagged") == "true", notebook.context()
    reasons = row.locator('[data-testid="nbml-flag"]').all_inner_texts()
    assert any(
        r.startswith("dead_units at epoch 2: 100% of its units output <= 0 on every probe row")
        for r in reasons
    ), reasons
    assert widget.get_attribute("data-records") == "3"
    # the healthy output layer is not flagged, and its sparklines are drawn
    out = widget.locator("tr[data-layer]").last
    assert out.get_attribute("data-flagged") is None
    assert out.locator("svg.nbml-spark polyline").count() >= 1
    assert "1 layer flagged" in widget.locator(".nbml-inspector-summary").inner_text()
    shot(widget, "inspector_dead_relu.png")


@pytest.mark.timeout(400)
def test_the_widget_follows_a_background_training_and_its_sparklines_grow(notebook):
    seen = notebook.page.evaluate("() => window.__nbmlGrow")
    running = [(records, points) for status, records, points in seen if status == "running"]
    counts = sorted({records for records, _ in running if records > 0})
    # several records arrived while the run trained, each drawn as a longer sparkline
    # (the last record may arrive before the run's end does: it is still 'running' then)
    assert len(counts) >= 2 and counts[0] < CNN_EPOCHS, seen
    assert max(p for _, p in running) > min(p for r, p in running if r > 0), seen
    assert seen[-1] == ["finished", CNN_EPOCHS, CNN_EPOCHS], seen
    widget = notebook.inspector(4)
    assert widget.locator('td[data-stat="grad_norm"] svg').count() == 3  # 2 conv + the output
    shot(widget, "inspector_cnn_finished.png")
