"""The learning-rate finder's chart in a real JupyterLab driven by a real Chromium
(docs/reference.md#the-learning-rate-finder).

One notebook runs ``%%lr_find`` on an MLP for the digits. The test checks that

- the chart widget draws the loss curve (a uPlot canvas) with a marker per suggestion, and its
  Train button starts filled with the default suggestion (valley);
- clicking a marker fills the Train button with that suggestion's rate, and clicking a point of
  the curve fills it with that point's rate;
- Train trains the model in the background at the chosen rate: the widget shows the run finish,
  and the kernel's run has that rate.

Screenshots go to ``test-artifacts/`` (git-ignored). Server and browser set-up: ``tests/browser.py``.
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
    kernel_value,
    open_lab,
    page_errors,
    run_all,
    shot,
    write_notebook,
)

TIMEOUT = 120_000  # ms
NOTEBOOK = "lr_find.ipynb"
CELLS = [
    "%load_ext nbml",
    "import keras\nkeras.utils.set_random_seed(0)",
    "%%lr_find mlp --data sklearn:digits\n"
    "keras.Sequential([\n"
    "    keras.layers.Flatten(),\n"
    '    keras.layers.Dense(128, activation="relu"),\n'
    '    keras.layers.Dense(10, activation="softmax"),\n'
    "])",
]
FINDER = '[data-testid="nbml-lr-find"]'
TRAIN = '[data-testid="nbml-lr-train"]'


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    with jupyter_lab(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="module")
def page():
    with chromium_page(width=1400, height=1000, timeout=TIMEOUT) as pg:
        yield pg


def _button(page: Any) -> dict[str, Any]:
    return page.locator(TRAIN).first.evaluate(
        "b => ({lr: Number(b.dataset.lr), from: b.dataset.from, text: b.textContent, "
        "disabled: b.disabled})"
    )


@pytest.mark.timeout(400)
def test_lr_finder_chart_markers_choose_a_rate_and_train(page, lab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    write_notebook(lab.root / NOTEBOOK, CELLS)
    console = collect_console(page)

    def context() -> str:
        return (
            f"\nnotebook errors:\n{page_errors(page)}\nbrowser console (last 20):\n"
            + "\n".join(console[-20:])
            + f"\nserver log tail:\n{lab.log_tail(2000)}"
        )

    open_lab(page, lab, NOTEBOOK, timeout=TIMEOUT)
    run_all(page)
    try:
        page.wait_for_function("() => window.__nbmlRun !== undefined", timeout=TIMEOUT)
        page.wait_for_function(
            f"""() => {{
                const w = document.querySelector('{FINDER}');
                return w && w.querySelector('canvas') && Number(w.dataset.points) > 10
                    && w.querySelectorAll('.nbml-lrf-marker').length === Number(w.dataset.markers)
                    && Number(w.dataset.markers) > 0;
            }}""",
            timeout=TIMEOUT,
        )
    except PlaywrightTimeout:
        pytest.fail("the finder's chart never showed its curve and markers" + context())
    assert page.evaluate("() => window.__nbmlRun") == "done", context()
    finder = page.locator(FINDER).first
    errors = finder.locator("xpath=..").locator(".nbml-widget-error:not([hidden])")
    assert errors.count() == 0, errors.all_inner_texts()
    markers = finder.locator(".nbml-lrf-marker").evaluate_all(
        "els => els.map(e => ({name: e.dataset.name, value: Number(e.dataset.value)}))"
    )
    names = [m["name"] for m in markers]
    assert "valley" in names, markers
    # the Train button starts with the default suggestion, valley's rate
    start = _button(page)
    valley = next(m["value"] for m in markers if m["name"] == "valley")
    assert start["from"] == "valley" and start["lr"] == pytest.approx(valley), start
    assert 1e-4 <= valley <= 1e-1 and not start["disabled"]
    finder.scroll_into_view_if_needed()
    shot(finder, "lr_find_01_chart.png")

    # clicking another marker fills the button with its rate
    other = next(m for m in markers if m["name"] != "valley")
    finder.locator(f'[data-testid="nbml-lr-marker-{other["name"]}"]').click()
    chosen = _button(page)
    assert chosen["from"] == other["name"] and chosen["lr"] == pytest.approx(other["value"])
    assert (
        finder.locator(".nbml-lrf-marker.nbml-lrf-chosen").get_attribute("data-name")
        == (other["name"])
    )
    shot(finder, "lr_find_02_marker_clicked.png")

    # clicking a point of the curve fills it with that point's rate
    over = finder.locator(".u-over")
    box = over.bounding_box()
    over.click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.5})
    point = _button(page)
    assert point["from"] == "point" and 1e-7 <= point["lr"] <= 10, point
    assert point["lr"] not in (other["value"], valley)

    # back to valley, then Train: a background run at that rate, shown finishing in the widget
    finder.locator('[data-testid="nbml-lr-marker-valley"]').click()
    assert _button(page)["lr"] == pytest.approx(valley)
    finder.locator('[data-testid="nbml-lr-epochs"]').fill("3")
    page.locator(TRAIN).first.click()
    try:
        page.wait_for_function(
            """() => document.querySelector('[data-testid="nbml-lr-status"]')
                ?.dataset.status === 'finished'""",
            timeout=TIMEOUT,
        )
    except PlaywrightTimeout:
        status = finder.locator('[data-testid="nbml-lr-status"]').inner_text()
        notice = finder.locator('[data-testid="nbml-notice"]').inner_text()
        pytest.fail(f"Train did not finish: {status!r} {notice!r}" + context())
    assert "3/3 epochs" in finder.locator('[data-testid="nbml-lr-status"]').inner_text()
    run = kernel_value(
        page,
        "(lambda r: [r.params['lr'], r.epochs, r.status])(__import__('nbml').models()[0].runs[-1])",
    )
    assert run[0] == pytest.approx(valley, rel=1e-6) and run[1:] == [3, "finished"], run
    shot(finder, "lr_find_03_trained.png")
    assert not [line for line in console if "pageerror" in line], console
