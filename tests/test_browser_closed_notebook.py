"""A closed notebook's still-running kernel in JupyterLab's "Models" panel (real JupyterLab, real
Chromium, Python Playwright).

JupyterLab keeps a notebook's kernel running when its tab is closed. The panel hears open
documents over their own comms; a kernel with no document is listed through the Jupyter server
(``/nbml/kernels``, docs/notebook7.md). The test trains in the background, closes the notebook,
and checks that its model stays in the panel (within 2 s of the close, live, marked as not open
here, with Stop and Inspect, no Reveal), that Stop stops it through the server, and that
reopening the notebook brings it back as an ordinary document, listed once. Screenshots:
``test-artifacts/closed_*.png``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

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

TIMEOUT = 90_000  # ms
APPEAR_BUDGET = 2.0  # s from closing the notebook to its kernel's row in the panel
NB = "c_closed.ipynb"
CELLS = [
    "%load_ext nbml\nimport keras",
    "%%train bg --data sklearn:digits --epochs 3000 --batch-size 16 --background --no-widget\n"
    "keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(32, activation='relu'),"
    " keras.layers.Dense(10, activation='softmax')])",
]
SIDEBAR = "#nbml-sidebar"
SECTION = f'{SIDEBAR} section.nbml-sb-doc[data-doc="{NB}"]'
ROW = f'{SECTION} li.nbml-sb-model[data-model="bg"]'
WIDTH = "li => parseFloat(li.querySelector('.nbml-sb-progress > div').style.width)"


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    with jupyter_lab(tmp_path_factory.mktemp("closed")) as server:
        yield server


@pytest.fixture(scope="module")
def page():
    with chromium_page(width=1400, height=900, timeout=TIMEOUT) as pg:
        yield pg


@pytest.mark.timeout(300)
def test_a_closed_notebooks_running_kernel_shows_in_the_panel(page, lab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    write_notebook(lab.root / NB, CELLS)
    console = collect_console(page)

    def context() -> str:
        return (
            f"\npanel: {page.locator(SIDEBAR).inner_text()[:2000]}"
            f"\nnotebook errors:\n{page_errors(page)}\nbrowser console (last 20):\n"
            + "\n".join(console[-20:])
            + f"\nserver log tail:\n{lab.log_tail(2000)}"
        )

    def wait(js: str, what: str, timeout: int = TIMEOUT) -> None:
        try:
            page.wait_for_function(js, timeout=timeout)
        except PlaywrightTimeout:
            pytest.fail(f"timed out waiting for {what}" + context())

    open_lab(page, lab, NB, timeout=TIMEOUT)
    run_all(page, sidebar=True)
    wait("() => window.__nbmlRun !== undefined", "the notebook's cells to run")
    assert page.evaluate("() => window.__nbmlRun") == "done", context()
    wait(
        f"""() => {{
            const li = document.querySelector('{ROW}');
            return li && li.dataset.status === 'running' && ({WIDTH})(li) > 0;
        }}""",
        "bg training in the panel, through the notebook's own comm",
    )
    assert page.locator(SECTION).get_attribute("data-remote") is None
    buttons = page.locator(ROW).locator("button").all_inner_texts()
    assert "Inspect" in buttons and "Stop" in buttons, buttons

    # ------------------------------------------------------------ close the notebook
    kernel = page.evaluate("() => window.__nbmlPanel.sessionContext.session.kernel.id")
    closed = page.evaluate(
        """async () => {
            const panel = window.__nbmlPanel;
            await panel.context.save();
            panel.close();
            return Date.now() / 1000;
        }"""
    )
    wait(
        f"""() => {{
            const s = document.querySelector('{SECTION}');
            const li = document.querySelector('{ROW}');
            if (s?.dataset.remote === 'true' && li && window.__nbmlSeen === undefined)
                window.__nbmlSeen = Date.now() / 1000;
            return window.__nbmlSeen !== undefined;
        }}""",
        "the closed notebook's kernel listed through the server",
    )
    lag = page.evaluate("() => window.__nbmlSeen") - closed
    print(f"closed notebook's model listed {lag:.2f}s after the close")
    assert lag <= APPEAR_BUDGET, f"listed {lag:.2f}s after the close" + context()
    assert page.evaluate("() => window.jupyterapp.shell.currentWidget?.context?.path") != NB
    assert page.locator(SECTION).count() == 1
    row = page.locator(ROW)
    assert row.get_attribute("data-status") == "running"
    first = row.evaluate(WIDTH)
    page.wait_for_timeout(2500)
    assert row.evaluate(WIDTH) > first, "bg's progress did not advance" + context()
    assert "loss" in row.locator(".nbml-sb-metrics").inner_text()
    assert row.locator("button").all_inner_texts() == ["bg", "Stop", "Inspect"]  # no Reveal
    assert "not open in this tab" in page.locator(SECTION).inner_text()
    shot(page, "closed_01_listed_through_the_server.png")

    # ------------------------------------------------------------ Stop through the server
    row.get_by_role("button", name="Stop").click()
    wait(
        f"() => document.querySelector('{ROW}')?.dataset.status === 'stopped'",
        "bg stopped through the server",
        timeout=30_000,
    )
    epoch = row.locator(".nbml-sb-epoch").inner_text()
    done, planned = (int(n) for n in epoch.split("/"))
    assert 0 < done < planned == 3000, epoch
    shot(page, "closed_02_stopped.png")

    # ------------------------------------------------------------ reopen: its own document again
    started = time.monotonic()
    page.evaluate(f"() => window.jupyterapp.commands.execute('docmanager:open', {{path: '{NB}'}})")
    wait(
        f"""() => {{
            const s = document.querySelectorAll('{SECTION}');
            return s.length === 1 && s[0].dataset.remote === undefined
                && s[0].querySelector('li[data-model="bg"]')?.dataset.status === 'stopped';
        }}""",
        "the reopened notebook listed once, as its own document",
    )
    reopened = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.id"
    )
    assert reopened == kernel, (reopened, kernel)
    print(f"reopened as a document in {time.monotonic() - started:.1f}s")
    assert not [c for c in console if c.startswith("pageerror")], console
