"""nbml in Jupyter Notebook 7 (``jupyter notebook``), driven by a real Chromium (Python Playwright).

Notebook 7 is built from JupyterLab's components but each tab is its own application holding one
notebook. Two tests, in order, on one server and one browser:

- a notebook trains with the live monitor, a confusion-matrix cell is clicked (its samples
  listed), and the "Models" panel, opened from View > Left Sidebar > Show Models, lists the
  notebook's model with the monitor's status word;
- a second tab's notebook trains in the foreground: the first tab's panel lists it (through the
  server's ``/nbml/kernels``: it is not a document of the first tab's application) within 2 s of
  its run's start, live, marked as seen from elsewhere, with Stop and Inspect, without Reveal;
  Stop in the first tab stops it (the second tab's cell ends without a traceback); its kernel
  shut down, it leaves the first tab's panel.

Screenshots go to ``test-artifacts/nb7_*.png``. Server and browser set-up: ``tests/browser.py``.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from browser import (
    ARTIFACTS,
    Lab,
    chromium_page,
    collect_console,
    jupyter_lab,
    page_errors,
    run_all,
    shot,
    write_notebook,
)

TIMEOUT = 90_000  # ms for something to show up in a page
APPEAR_BUDGET = 2.0  # s from the second tab's run start to its row in the first tab's panel
NB_A = "a_monitor.ipynb"
NB_B = "b_second_tab.ipynb"
MLP = (
    "keras.Sequential([\n"
    "    keras.layers.Flatten(),\n"
    '    keras.layers.Dense(32, activation="relu"),\n'
    '    keras.layers.Dense(10, activation="softmax"),\n'
    "])"
)
CELLS_A = [
    "%load_ext nbml",
    "import keras\n\nkeras.utils.set_random_seed(0)",
    f"%%train mlp --data sklearn:digits --epochs 6\n{MLP}",
    "%evaluate mlp",
]
CELLS_B = [
    "%load_ext nbml\nimport keras",
    # foreground: B's kernel is busy until Stop (from A's tab) ends the run
    f"%%train far --data sklearn:digits --epochs 3000 --batch-size 16 --no-widget\n{MLP}",
    'print("after training")',
]
MONITOR = '[data-testid="nbml-monitor"]'
CONFUSION = '[data-testid="nbml-confusion"]'
SIDEBAR = "#nbml-sidebar"
# A page error that Notebook 7.6.5's keyboard-shortcut code raises without nbml too.
NOT_OURS = "reading 'schema'"


def row(doc: str, model: str) -> str:
    return f'{SIDEBAR} section.nbml-sb-doc[data-doc="{doc}"] li.nbml-sb-model[data-model="{model}"]'


@pytest.fixture(scope="module")
def notebook(tmp_path_factory) -> Iterator[Lab]:
    with jupyter_lab(tmp_path_factory.mktemp("nb7"), app="notebook") as server:
        yield server


@pytest.fixture(scope="module")
def page():
    with chromium_page(width=1400, height=1000, timeout=TIMEOUT) as pg:
        yield pg


def open_notebook(page: Any, server: Lab, path: str) -> None:
    """Load Notebook 7's notebook page for ``path``, its kernel ready, and run all its cells;
    ``window.__nbmlRun`` says how running them ended."""
    page.goto(server.tree_url(path))
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=TIMEOUT)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=TIMEOUT)
    run_all(page)


def kernel_listing(server: Lab) -> list[dict[str, Any]]:
    req = urllib.request.Request(
        f"{server.url}/nbml/kernels", headers={"Authorization": f"token {server.token}"}
    )
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.load(res)["kernels"]


def ours(console: list[str]) -> list[str]:
    return [line for line in console if line.startswith("pageerror") and NOT_OURS not in line]


@pytest.mark.timeout(300)
def test_monitor_confusion_and_the_models_panel_from_the_view_menu(page, notebook):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    write_notebook(notebook.root / NB_A, CELLS_A)
    console = collect_console(page)

    def context() -> str:
        return (
            f"\nnotebook errors:\n{page_errors(page)}\nbrowser console (last 20):\n"
            + "\n".join(console[-20:])
            + f"\nserver log tail:\n{notebook.log_tail(2000)}"
        )

    open_notebook(page, notebook, NB_A)
    try:
        page.wait_for_function("() => window.__nbmlRun !== undefined", timeout=TIMEOUT * 2)
        # the monitor, re-rendered at the end of its run, with curves
        page.wait_for_function(
            f"""() => {{
                const m = document.querySelector('{MONITOR}');
                return m && m.dataset.status === 'finished' && Number(m.dataset.points) > 0
                    && m.querySelector('[data-testid="nbml-chart"] canvas');
            }}""",
            timeout=TIMEOUT,
        )
    except PlaywrightTimeout:
        pytest.fail("the notebook did not run to a finished monitor" + context())
    assert page.evaluate("() => window.__nbmlRun") == "done", context()
    assert page_errors(page) == "(no error output in the notebook)", context()
    monitor = page.locator(MONITOR).first
    monitor_status = monitor.get_attribute("data-status")
    shot(monitor, "nb7_01_monitor.png")

    # ------------------------------------------------------------ a confusion-matrix cell
    confusion = page.locator(CONFUSION).first
    confusion.scroll_into_view_if_needed()
    cells = confusion.locator("td.nbml-cm-cell").evaluate_all(
        "els => els.map(e => [Number(e.dataset.true), Number(e.dataset.pred), "
        "Number(e.dataset.count)])"
    )
    assert len(cells) == 100, len(cells)  # 10 digits
    true, pred, count = max(cells, key=lambda c: (c[0] != c[1], c[2]))
    assert count > 0, cells
    confusion.locator(f'td.nbml-cm-cell[data-true="{true}"][data-pred="{pred}"]').click()
    shown = min(count, 24)
    try:
        page.wait_for_function(
            f"""() => {{
                const s = document.querySelector('{CONFUSION} [data-testid="nbml-samples"]');
                const items = s ? s.querySelectorAll('[data-testid="nbml-sample"]') : [];
                return s && s.dataset.total === '{count}' && items.length === {shown}
                    && [...items].every((it) => it.querySelector('img')?.naturalWidth > 0);
            }}""",
            timeout=TIMEOUT,
        )
    except PlaywrightTimeout:
        pytest.fail(f"clicking cell ({true}, {pred}) listed no samples" + context())
    shot(confusion, "nb7_02_confusion_samples.png")

    # ------------------------------------------------------------ View > Left Sidebar > Show Models
    assert not page.locator(SIDEBAR).is_visible()
    page.locator(".lm-MenuBar-itemLabel", has_text="View").click()
    page.locator(".lm-Menu-itemLabel", has_text="Left Sidebar").hover()
    page.locator(".lm-Menu-itemLabel", has_text="Show Models").click()
    page.locator(SIDEBAR).wait_for(state="visible")
    mlp = page.locator(row(NB_A, "mlp"))
    try:
        mlp.wait_for(state="visible", timeout=TIMEOUT)
    except PlaywrightTimeout:
        pytest.fail("the Models panel does not list mlp" + context())
    # the panel says what the monitor says for the same run
    assert mlp.get_attribute("data-status") == monitor_status == "finished"
    assert mlp.locator(".nbml-sb-epoch").inner_text() == "6/6"
    assert "loss" in mlp.locator(".nbml-sb-metrics").inner_text()
    section = page.locator(f'{SIDEBAR} section.nbml-sb-doc[data-doc="{NB_A}"]')
    assert section.get_attribute("data-nbml") == "loaded"
    assert section.get_attribute("data-remote") is None  # this tab's own document
    assert ours(console) == [], console
    shot(page, "nb7_03_models_panel.png")


@pytest.mark.timeout(300)
def test_a_second_tabs_training_shows_in_the_first_tabs_panel(page, notebook):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # the first test left A's tab open with the panel shown
    page.locator(SIDEBAR).wait_for(state="visible")
    write_notebook(notebook.root / NB_B, CELLS_B)
    # the first time A's panel shows B's row, by the page's clock (seconds since the epoch)
    page.evaluate(
        """([doc, model]) => {
            window.__nbmlSeen = null;
            const look = () => {
                const li = document.querySelector(
                    `#nbml-sidebar section[data-doc="${doc}"] li[data-model="${model}"]`);
                if (li && window.__nbmlSeen === null) window.__nbmlSeen = Date.now() / 1000;
            };
            new MutationObserver(look).observe(document.body, {subtree: true, childList: true});
        }""",
        [NB_B, "far"],
    )
    second = page.context.new_page()
    second.set_default_timeout(TIMEOUT)
    console = collect_console(page)
    console_b = collect_console(second)

    def context() -> str:
        return (
            f"\nfirst tab's panel: {page.locator(SIDEBAR).inner_text()[:2000]}"
            f"\nsecond tab's errors:\n{page_errors(second)}\nconsoles (last 10 each):\n"
            + "\n".join(console[-10:] + console_b[-10:])
            + f"\nserver log tail:\n{notebook.log_tail(2000)}"
        )

    open_notebook(second, notebook, NB_B)
    far = page.locator(row(NB_B, "far"))
    try:
        far.wait_for(state="attached", timeout=TIMEOUT)
        page.wait_for_function(
            f"""() => {{
                const li = document.querySelector('{row(NB_B, "far")}');
                return li && li.dataset.status === 'running'
                    && parseFloat(li.querySelector('.nbml-sb-progress > div').style.width) > 0;
            }}""",
            timeout=TIMEOUT,
        )
    except PlaywrightTimeout:
        pytest.fail("the first tab's panel never listed the second tab's model" + context())
    seen = page.evaluate("() => window.__nbmlSeen")
    kernel = next(k for k in kernel_listing(notebook) if k["sessions"][0]["path"] == NB_B)
    started = next(m for m in kernel["nbml"]["models"] if m["name"] == "far")["started"]
    lag = seen - started
    print(f"second tab's model listed in the first tab {lag:.2f}s after its run started")
    (ARTIFACTS / "nb7_second_tab_lag.json").write_text(json.dumps({"lag_s": round(lag, 3)}))
    assert 0 <= lag <= APPEAR_BUDGET, f"listed {lag:.2f}s after its run started" + context()

    # live: status, progress, metrics; marked as seen from elsewhere; Stop, Inspect, no Reveal
    section = page.locator(f'{SIDEBAR} section.nbml-sb-doc[data-doc="{NB_B}"]')
    assert section.get_attribute("data-remote") == "true"
    assert "not open in this tab" in section.inner_text(), section.inner_text()
    width = "li => parseFloat(li.querySelector('.nbml-sb-progress > div').style.width)"
    first_width = far.evaluate(width)
    page.wait_for_timeout(2500)
    later_width = far.evaluate(width)
    assert later_width > first_width, (first_width, later_width)
    assert "loss" in far.locator(".nbml-sb-metrics").inner_text()
    buttons = far.locator("button").all_inner_texts()
    assert buttons == ["far", "Stop", "Inspect"], buttons  # the name opens the inspector too
    assert second.evaluate("() => window.__nbmlRun") is None, "B's cell ended by itself"
    # A's own notebook is still its own document, listed once
    assert page.locator(f'{SIDEBAR} section.nbml-sb-doc[data-doc="{NB_A}"]').count() == 1
    shot(page, "nb7_04_second_tab_in_first_tabs_panel.png")

    # ------------------------------------------------------------ Stop from the first tab
    far.get_by_role("button", name="Stop").click()
    try:
        page.wait_for_function(
            f"() => document.querySelector('{row(NB_B, 'far')}')?.dataset.status === 'stopped'",
            timeout=30_000,
        )
        second.wait_for_function("() => window.__nbmlRun !== undefined", timeout=30_000)
    except PlaywrightTimeout:
        pytest.fail("Stop in the first tab did not stop the second tab's training" + context())
    outputs = "\n".join(second.locator(".jp-OutputArea-output").all_inner_texts())
    assert "after training" in outputs and "Traceback" not in outputs, outputs[-2000:]
    assert page_errors(second) == "(no error output in the notebook)", context()
    shot(page, "nb7_05_stopped_from_the_first_tab.png")

    # ------------------------------------------------------------ B's kernel shut down
    second.evaluate("() => window.__nbmlPanel.sessionContext.shutdown()")
    try:
        section.wait_for(state="detached", timeout=30_000)
    except PlaywrightTimeout:
        pytest.fail("the shut-down kernel stayed in the first tab's panel" + context())
    assert ours(console) == [] and ours(console_b) == [], console + console_b
    second.close()
