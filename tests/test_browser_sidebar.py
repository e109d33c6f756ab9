"""nbml's "Models" sidebar in a real JupyterLab driven by a real Chromium (Python Playwright).

Two notebooks open side by side in one JupyterLab, shared by the module's tests (one per user
story, in order: the module-scoped fixtures below move the page from one stage to the next):

- ``a_foreground.ipynb`` trains ``fg`` in the foreground (``%%train``; the kernel stays busy);
- ``b_background.ipynb`` fits a model under the name ``<img src=x onerror=alert(1)>`` (a plain
  ``model.fit`` with ``nbml.LiveMonitor``), then trains ``bg`` with ``--background``.

The stories: kernels without nbml are listed as such; both trainings advance live in the sidebar
(while A's kernel is busy: the pushes come from the training thread), with the documents' devices;
the injection name shows as those characters (no ``<img>``, no dialog); Inspect (which replaced
Summary) lists the layers and their parameters;
the sidebar's lag (kernel event time to the render, recorded by the test page's probe,
``browser.LAG_PROBE``) during A's foreground training has a median of at most 1 s (median and max
in ``test-artifacts/sidebar_lag.json``); Stop works for both (a kernel interrupt for A, with no
traceback in A's cell, a comm request for B); each row says its run's status in the words the
kernel's runs use (``finished``, not ``idle``); restarting B's kernel removes B's models and shows
"nbml not loaded" while A's stay; Reveal selects A's ``%%train`` cell. Screenshots go to
``test-artifacts/`` (git-ignored). Server and browser set-up: ``tests/browser.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from browser import (
    ARTIFACTS,
    Lab,
    chromium_page,
    collect_console,
    install_lag_probe,
    jupyter_lab,
    lag_stats,
    open_lab,
    page_errors,
    shot,
    write_notebook,
)
from sidebar_page import SIDEBAR, SidebarPage, row

TIMEOUT = 60_000  # ms for something to show up in the page
INJECTION = "<img src=x onerror=alert(1)>"
LAG_BUDGET = 1.0  # s, median sidebar lag during a foreground training (issue 4's acceptance)
LAG_WINDOW = 10.0  # s of A's foreground training over which the lag is measured (then Stop)

NB_A = "a_foreground.ipynb"
NB_B = "b_background.ipynb"
MLP = (
    "keras.Sequential([\n"
    "    keras.Input((64,)),\n"
    '    keras.layers.Dense(64, activation="relu"),\n'
    '    keras.layers.Dense(10, activation="softmax"),\n'
    "])"
)
DATA = (
    "import keras\n"
    "import numpy as np\n\n"
    "rng = np.random.default_rng(0)\n"
    "keras.utils.set_random_seed(0)\n"
    "{name} = (rng.random(({n}, 64), dtype=np.float32), rng.integers(0, 10, {n}))"
)
CELLS_A = [
    "%load_ext nbml",
    DATA.format(name="big", n=20000),
    # about 0.4 s an epoch here: 80 epochs (~30 s) outlast the checks below; Stop ends it
    f"%%train fg --data big --epochs 80 --batch-size 16 --no-widget\n{MLP}",
    'print("after training")',
]
CELLS_B = [
    "%load_ext nbml",
    DATA.format(name="small", n=4000) + "\nimport nbml",
    f"%%time\nmodel = {MLP}\n"
    'model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")\n'
    f"model.fit(*small, epochs=2, verbose=0, callbacks=[nbml.LiveMonitor(name={INJECTION!r}, "
    'display="none")])',
    # runs until Stop; the kernel is idle meanwhile
    f"%%train bg --data small --epochs 3000 --batch-size 32 --background --no-widget\n{MLP}",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    with jupyter_lab(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="module")
def page():
    with chromium_page(width=1600, height=1000, timeout=TIMEOUT) as pg:
        yield pg


def _progress(model: dict[str, Any]) -> tuple[int, float]:
    return model["epoch"], model["width"]


@pytest.fixture(scope="module")
def sidebar(page, lab) -> SidebarPage:
    """Both notebooks open side by side, the sidebar shown, no cell run yet."""
    write_notebook(lab.root / NB_A, CELLS_A)
    write_notebook(lab.root / NB_B, CELLS_B)
    sb = SidebarPage(page, lab, collect_console(page), [])

    def on_dialog(d: Any) -> None:
        sb.dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    page.on("dialog", on_dialog)
    install_lag_probe(page)
    open_lab(page, lab, NB_A, timeout=TIMEOUT)
    sb.seen["panels"] = sb.open_side_by_side(NB_A, NB_B)
    page.locator(SIDEBAR).wait_for(state="visible")
    return sb


@pytest.fixture(scope="module")
def training(sidebar: SidebarPage) -> SidebarPage:
    """B's background training, then A's foreground one, both showing progress in the sidebar;
    two states of the sidebar 2.5 s apart while both train."""
    sb, page = sidebar, sidebar.page
    sb.run_all(NB_B)
    sb.wait(
        "(p) => window.__nbml.runs[p] !== undefined",
        "notebook B's cells to run (the background training returns at once)",
        NB_B,
        timeout=90_000,
    )
    sb.seen["b_ran"] = sb.ran(NB_B)
    sb.wait_status(NB_B, "bg", "running", "B's background model training in the sidebar")
    sb.run_all(NB_A)
    # returns how many renders of A the page recorded when fg first showed progress
    a_start = sb.wait(
        """(a) => {
            const s = document.querySelector(`#nbml-sidebar section[data-doc="${a}"]`);
            const li = s?.querySelector('li.nbml-sb-model[data-model="fg"][data-status="running"]');
            return li && parseFloat(li.querySelector('.nbml-sb-progress > div').style.width) > 0
                && {n: (window.nbmlLagsByDoc?.[a] ?? []).length};
        }""",
        "A's foreground model training in the sidebar",
        NB_A,
        timeout=90_000,
    )
    sb.seen["fg_started"] = time.monotonic()
    sb.seen["a_start"] = max(0, a_start["n"] - 1)  # from the render that showed the training
    sb.seen["all_start"] = page.evaluate("() => (window.nbmlLags ?? []).length")
    sb.seen["first"] = sb.state()
    page.wait_for_timeout(2500)
    sb.seen["second"] = sb.state()
    sb.seen["a_ran_while_training"] = sb.ran(NB_A)
    return sb


@pytest.fixture(scope="module")
def stopped(training: SidebarPage) -> SidebarPage:
    """Both trainings stopped from the sidebar: A's by a kernel interrupt, B's by a comm request."""
    sb, page = training, training.page
    page.locator(row(NB_A, "fg")).get_by_role("button", name="Stop").click()
    what = "A's foreground model to show 'stopped' after Stop (kernel interrupt)"
    sb.wait_status(NB_A, "fg", "stopped", what, timeout=30_000)
    sb.wait("(p) => window.__nbml.runs[p] !== undefined", "A's cells to finish", NB_A)
    page.locator(row(NB_B, "bg")).get_by_role("button", name="Stop").click()
    what = "B's background model to show 'stopped' after Stop (comm request)"
    sb.wait_status(NB_B, "bg", "stopped", what, timeout=30_000)
    sb.seen["stopped"] = sb.state()
    return sb


@pytest.fixture(scope="module")
def restarted(stopped: SidebarPage) -> SidebarPage:
    """B's kernel restarted (nbml no longer loaded there); A's untouched."""
    sb, page = stopped, stopped.page
    page.evaluate("(b) => { window.__nbml.panels[b].sessionContext.restartKernel(); }", NB_B)
    sb.wait(
        """(b) => {
            const s = document.querySelector(`#nbml-sidebar section[data-doc="${b}"]`);
            return s && s.dataset.nbml === 'absent' && !s.querySelector('li.nbml-sb-model')
                && s.textContent.includes('nbml not loaded')
                && s.querySelector('.nbml-sb-kernel')?.textContent === 'idle';
        }""",
        "B's models to disappear after its kernel restart (kernel idle, nbml not loaded)",
        NB_B,
    )
    return sb


@pytest.mark.timeout(120)
def test_kernels_without_nbml_are_listed_as_not_loaded(sidebar):
    assert sidebar.seen["panels"] == 2, sidebar.context()
    # both documents listed; no kernel has nbml yet
    sidebar.wait(
        '([a, b]) => [a, b].every((n) => document.querySelector(`section[data-doc="${n}"]`)'
        "?.dataset.nbml === 'absent')",
        "both kernels listed as 'nbml not loaded' before %load_ext",
        [NB_A, NB_B],
    )


@pytest.mark.timeout(240)
def test_both_trainings_advance_live_while_the_foreground_cell_runs(training):
    assert training.seen["b_ran"] == "done", training.context()
    first, second = training.seen["first"], training.seen["second"]
    # both advance while A's kernel is busy running the %%train cell
    for nb, name in ((NB_A, "fg"), (NB_B, "bg")):
        a, b = first[nb]["models"][name], second[nb]["models"][name]
        assert a["status"] == b["status"] == "running", (nb, a, b)
        assert _progress(b) > _progress(a), f"{name} did not advance: {a} -> {b}" + (
            training.context()
        )
        assert 0 < b["width"] <= 100 and b["epochs"] == (80 if name == "fg" else 3000), b
        assert "Stop" in b["buttons"] and "Inspect" in b["buttons"], b
    assert first[NB_A]["kernel"] == second[NB_A]["kernel"] == "busy", (first, second)
    assert training.seen["a_ran_while_training"] is None, "A's cell already ended"
    for nb in (NB_A, NB_B):
        entry = second[nb]
        assert entry["nbml"] == "loaded", entry
        assert entry["devices"].startswith("devices: cpu:0"), entry["devices"]


@pytest.mark.timeout(120)
def test_a_model_named_like_html_shows_as_text(training):
    page = training.page
    # the injection name is text: those characters, no <img>, no dialog
    b_models = training.seen["second"][NB_B]["models"]
    assert INJECTION in b_models, list(b_models)
    assert b_models[INJECTION]["name"] == INJECTION, b_models[INJECTION]
    # its run (a plain fit with LiveMonitor) has finished: the run's word, not the model's "idle"
    assert b_models[INJECTION]["status"] == "finished", b_models[INJECTION]
    assert page.locator(f"{SIDEBAR} img").count() == 0
    assert page.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert training.dialogs == [], training.dialogs
    shot(page, "sidebar_01_training.png")


@pytest.mark.timeout(120)
def test_inspect_lists_the_layers(training):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = training.page
    # the inspector of B's background model (B's kernel is idle: its comm answers at once)
    page.locator(row(NB_B, "bg")).get_by_role("button", name="Inspect").click()
    inspector = page.locator(f'{SIDEBAR} section.nbml-sb-inspector[data-model="bg"]')
    try:
        inspector.locator("tr.nbml-sb-layer-row").first.wait_for(timeout=15_000)
    except PlaywrightTimeout:
        pytest.fail("no inspector for bg" + training.context())
    types = inspector.locator(".nbml-sb-type").all_inner_texts()
    params = inspector.locator(".nbml-sb-params").all_inner_texts()
    assert types == ["Dense", "Dense"], types
    assert params == ["4,160 params", "650 params"], params
    total = 64 * 64 + 64 + 64 * 10 + 10
    assert f"{total:,} parameters" in inspector.locator(".nbml-sb-meta").inner_text()
    inspector.locator("button.nbml-sb-back").click()  # the list again, for the next tests
    page.locator(row(NB_B, "bg")).wait_for()


@pytest.mark.timeout(120)
def test_the_sidebar_lags_under_a_second_during_a_foreground_training(training):
    page, seen = training.page, training.seen
    fg_started = seen["fg_started"]
    page.wait_for_timeout(max(0, int((fg_started + LAG_WINDOW - time.monotonic()) * 1000)))
    lags = page.evaluate(
        "([a, i, j]) => ({fg: (window.nbmlLagsByDoc?.[a] ?? []).slice(i),"
        " all: (window.nbmlLags ?? []).slice(j)})",
        [NB_A, seen["a_start"], seen["all_start"]],
    )
    lag_window = time.monotonic() - fg_started
    assert training.ran(NB_A) is None, "A's training ended early"
    assert len(lags["fg"]) >= 10, (
        f"only {len(lags['fg'])} renders of A while it trained" + training.context()
    )
    result = {
        "what": "seconds from a kernel event (message time) to its render in the sidebar, while "
        f"{NB_A} trains in the foreground (kernel busy) and {NB_B} in the background",
        "window_s": round(lag_window, 1),
        "foreground_notebook": lag_stats(lags["fg"]),
        "all_notebooks": lag_stats(lags["all"]),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "sidebar_lag.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"sidebar lag: {json.dumps(result)}")
    assert result["foreground_notebook"]["median_s"] <= LAG_BUDGET, result
    assert result["all_notebooks"]["median_s"] <= LAG_BUDGET, result


@pytest.mark.timeout(180)
def test_stop_interrupts_the_foreground_cell_and_asks_the_background_one(stopped):
    page = stopped.page
    a_panel = f"#{page.evaluate('(p) => window.__nbml.panels[p].id', NB_A)}"
    assert page.locator(f"{a_panel} .jp-OutputArea-output").count() > 0
    assert page_errors(page, a_panel) == "(no error output in the notebook)", stopped.context()
    a_output = "\n".join(page.locator(f"{a_panel} .jp-OutputArea-output").all_inner_texts())
    assert "Traceback" not in a_output and "KeyboardInterrupt" not in a_output, a_output[-2000:]
    assert "after training" in a_output, a_output[-2000:]  # the cells after it ran too
    state = stopped.seen["stopped"]
    for nb, name in ((NB_A, "fg"), (NB_B, "bg")):
        m = state[nb]["models"][name]
        assert "Stop" not in m["buttons"], m
        assert 0 < m["epoch"] < m["epochs"], m
    # the "Stopping bg at the next batch boundary" acknowledgement goes once bg has stopped
    assert not any(n.startswith("Stopping") for n in state[NB_B]["notes"]), state[NB_B]
    shot(page, "sidebar_02_stopped.png")


@pytest.mark.timeout(120)
def test_each_row_says_its_runs_status_as_the_kernel_does(stopped):
    """The panel's word for a model is its latest run's status, the word the monitor and
    ``%runs`` use (``finished``, ``stopped``; not the model's ``idle``)."""
    shown = stopped.state()
    for nb in (NB_A, NB_B):
        kernel = stopped.kernel_value(
            nb, "{m.name: m.run.status for m in __import__('nbml').models() if m.run}"
        )
        words = {name: m["status"] for name, m in shown[nb]["models"].items()}
        assert words == kernel, (nb, words, kernel)
        # the word shown is the row's status attribute (what the tests read)
        assert all(m["word"] == m["status"] for m in shown[nb]["models"].values()), shown[nb]
    assert shown[NB_A]["models"]["fg"]["status"] == "stopped", shown
    assert shown[NB_B]["models"][INJECTION]["status"] == "finished", shown
    words = {m["status"] for entry in shown.values() for m in entry["models"].values()}
    assert not words & {"idle", "training"}, shown


@pytest.mark.timeout(180)
def test_restarting_a_kernel_removes_its_models_and_leaves_it_alone(restarted):
    page = restarted.page
    # and the sidebar leaves that kernel alone once JupyterLab's own start-up requests are done:
    # no request at every idle (each one makes the kernel busy and idle again, for ever; that
    # was ~100 status changes in 2 s)
    flips = page.evaluate(
        """async (b) => {
            const ctx = window.__nbml.panels[b].sessionContext;
            await new Promise((r) => setTimeout(r, 1000));
            let n = 0;
            const count = () => { n++; };
            ctx.statusChanged.connect(count);
            await new Promise((r) => setTimeout(r, 2000));
            ctx.statusChanged.disconnect(count);
            return n;
        }""",
        NB_B,
    )
    assert flips <= 4, f"B's kernel changed status {flips} times in 2 s while nobody used it"
    after = restarted.state()
    assert after[NB_A]["nbml"] == "loaded", after
    assert after[NB_A]["models"]["fg"]["status"] == "stopped", after
    assert after[NB_B]["models"] == {}, after
    shot(page, "sidebar_03_restarted.png")
    # nothing ran from the name
    assert restarted.dialogs == [], restarted.dialogs
    assert page.locator(f"{SIDEBAR} img").count() == 0


_REVEALED = """(a) => {
    const app = window.jupyterapp, panel = window.__nbml.panels[a];
    const cell = panel.content.activeCell;
    return app.shell.currentWidget === panel && cell
        && cell.model.sharedModel.getSource().startsWith('%%train fg')
        && panel.node.querySelector('.jp-Cell.jp-mod-active')?.textContent;
}"""


@pytest.mark.timeout(120)
def test_reveal_selects_the_cell_that_trained_the_model(stopped):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = stopped.page
    # from B, with another cell of A selected: Reveal shows A and selects its %%train cell
    page.evaluate(
        """([a, b]) => {
            window.__nbml.panels[a].content.activeCellIndex = 0;
            window.jupyterapp.shell.activateById(window.__nbml.panels[b].id);
        }""",
        [NB_A, NB_B],
    )
    page.locator(row(NB_A, "fg")).get_by_role("button", name="Reveal").click()
    try:
        active = page.wait_for_function(_REVEALED, arg=NB_A, timeout=10_000).json_value()
    except PlaywrightTimeout:
        got = page.evaluate(
            """(a) => {
                const panel = window.__nbml.panels[a];
                return {
                    current: window.jupyterapp.shell.currentWidget === panel,
                    active: panel.content.activeCellIndex,
                    cells: panel.content.widgets.map((c) => [
                        c.model.executionCount, c.model.sharedModel.getSource().slice(0, 20)]),
                };
            }""",
            NB_A,
        )
        pytest.fail(
            "Reveal did not select A's %%train cell. The sidebar looks the cell up by the execution "
            "count the kernel reports for the model (`cell`); IPython 9 increments "
            f"shell.execution_count before running a cell. Page: {got}"
        )
    assert "%%train fg" in active, active
