"""nbml's "Models" sidebar in a real JupyterLab driven by a real Chromium (Python Playwright).

One end-to-end test with two notebooks open side by side in one JupyterLab:

- ``a_foreground.ipynb`` trains ``fg`` in the foreground (``%%train``; the kernel stays busy);
- ``b_background.ipynb`` fits a model under the name ``<img src=x onerror=alert(1)>`` (a plain
  ``model.fit`` with ``nbml.LiveMonitor``), then trains ``bg`` with ``--background``.

It checks in the sidebar that both notebooks show nbml loaded with their devices and both
trainings advance (while A's kernel is busy: the pushes come from the training thread); that the
injection name shows as those characters (no ``<img>``, no dialog); that Summary lists the layers;
that Stop works for both (a kernel interrupt for A, with no traceback in A's cell, a comm request
for B); that Reveal selects A's ``%%train`` cell; and that restarting B's kernel removes B's models
and shows "nbml not loaded" while A's stay.

It also measures the sidebar's lag (kernel event time to the render, ``window.nbmlLags``, recorded
by the test's probe: ``browser.LAG_PROBE``) during
A's foreground training, writes median and max to ``test-artifacts/sidebar_lag.json`` and checks the
median is at most 1 s. Screenshots go to ``test-artifacts/`` (git-ignored). Server and browser
set-up: ``tests/browser.py``.
"""

from __future__ import annotations

import json
import statistics
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
    open_lab,
    page_errors,
    shot,
    write_notebook,
)

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

SIDEBAR = "#nbml-sidebar"


def doc(name: str) -> str:
    return f'{SIDEBAR} section.nbml-sb-doc[data-doc="{name}"]'


def row(nb: str, model: str) -> str:
    return f'{doc(nb)} li.nbml-sb-model[data-model="{model}"]'


# The state of every model row in the sidebar, by document and model name (names compared as
# strings in the page, so the injection name needs no CSS escaping).
_STATE = """() => {
    const out = {};
    for (const s of document.querySelectorAll('#nbml-sidebar section.nbml-sb-doc')) {
        const models = {};
        for (const li of s.querySelectorAll('li.nbml-sb-model')) {
            const bar = li.querySelector('.nbml-sb-progress > div');
            const [epoch, epochs] = (li.querySelector('.nbml-sb-epoch')?.textContent ?? '0/0')
                .split('/').map(Number);
            models[li.dataset.model] = {
                status: li.dataset.status,
                name: li.querySelector('.nbml-sb-name')?.textContent,
                width: parseFloat(bar?.style.width ?? '0') || 0,
                epoch, epochs,
                buttons: [...li.querySelectorAll('button')].map((b) => b.textContent),
            };
        }
        out[s.dataset.doc] = {
            nbml: s.dataset.nbml,
            kernel: s.querySelector('.nbml-sb-kernel')?.textContent,
            devices: s.querySelector('.nbml-sb-devices')?.textContent ?? '',
            notes: [...s.querySelectorAll('.nbml-sb-note')].map((n) => n.textContent),
            models,
        };
    }
    return out;
}"""


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


@pytest.mark.timeout(240)
def test_sidebar_two_notebooks_live_stop_summary_reveal_restart(page, lab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    started = time.monotonic()
    write_notebook(lab.root / NB_A, CELLS_A)
    write_notebook(lab.root / NB_B, CELLS_B)
    console = collect_console(page)
    dialogs: list[str] = []

    def on_dialog(d: Any) -> None:
        dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    page.on("dialog", on_dialog)
    install_lag_probe(page)

    def state() -> dict[str, Any]:
        return page.evaluate(_STATE)

    def context() -> str:
        return (
            f"\nsidebar: {json.dumps(state(), indent=1)[:3000]}"
            f"\nnotebook errors:\n{page_errors(page)}\nbrowser console (last 20):\n"
            + "\n".join(console[-20:])
            + f"\nserver log tail:\n{lab.log_tail(2000)}"
        )

    def wait(js: str, what: str, arg: Any = None, timeout: int = TIMEOUT) -> Any:
        try:
            return page.wait_for_function(js, arg=arg, timeout=timeout).json_value()
        except PlaywrightTimeout:
            pytest.fail(f"timed out waiting for {what}" + context())

    # ------------------------------------------------------------ both notebooks, side by side
    open_lab(page, lab, NB_A, timeout=TIMEOUT)
    page.evaluate(
        """async ([a, b]) => {
            const app = window.jupyterapp;
            await app.restored;
            await app.commands.execute('docmanager:open', {path: b, options: {mode: 'split-right'}});
            const panels = {};
            for (const w of app.shell.widgets('main')) {
                if (w.context && [a, b].includes(w.context.path)) panels[w.context.path] = w;
            }
            for (const p of Object.values(panels)) {
                await p.context.ready;
                await p.sessionContext.ready;
            }
            window.__nbml = {panels, runs: {}};
            window.__nbmlRunAll = async (path) => {
                const panel = window.__nbml.panels[path];
                app.shell.activateById(panel.id);
                await new Promise((r) => setTimeout(r, 50));
                app.commands.execute('notebook:run-all-cells').then(
                    (ok) => { window.__nbml.runs[path] = ok === false ? 'failed' : 'done'; },
                    (err) => { window.__nbml.runs[path] = 'error: ' + err; },
                );
            };
            app.shell.activateById('nbml-sidebar');
        }""",
        [NB_A, NB_B],
    )
    assert page.evaluate("() => Object.keys(window.__nbml.panels).length") == 2, context()
    page.locator(SIDEBAR).wait_for(state="visible")
    # both documents listed; no kernel has nbml yet
    wait(
        '([a, b]) => [a, b].every((n) => document.querySelector(`section[data-doc="${n}"]`)'
        "?.dataset.nbml === 'absent')",
        "both kernels listed as 'nbml not loaded' before %load_ext",
        [NB_A, NB_B],
    )

    # ------------------------------------------------------------ B: injection name + background
    page.evaluate("(p) => window.__nbmlRunAll(p)", NB_B)
    wait(
        "(p) => window.__nbml.runs[p] !== undefined",
        "notebook B's cells to run (the background training returns at once)",
        NB_B,
        timeout=90_000,
    )
    assert page.evaluate("(p) => window.__nbml.runs[p]", NB_B) == "done", context()
    wait(
        """() => {
            const li = document.querySelector(
                '#nbml-sidebar li.nbml-sb-model[data-model="bg"][data-status="running"]');
            return li && parseFloat(li.querySelector('.nbml-sb-progress > div').style.width) > 0;
        }""",
        "B's background model training in the sidebar",
    )

    # ------------------------------------------------------------ A: foreground training
    page.evaluate("(p) => window.__nbmlRunAll(p)", NB_A)
    # returns how many renders of A the page recorded when fg first showed progress
    a_start = wait(
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
    fg_started = time.monotonic()
    a_start = max(0, a_start["n"] - 1)  # from the render that showed the training
    all_start = page.evaluate("() => (window.nbmlLags ?? []).length")

    # both advance while A's kernel is busy running the %%train cell
    first = state()
    page.wait_for_timeout(2500)
    second = state()
    for nb, name in ((NB_A, "fg"), (NB_B, "bg")):
        a, b = first[nb]["models"][name], second[nb]["models"][name]
        assert a["status"] == b["status"] == "running", (nb, a, b)
        assert _progress(b) > _progress(a), f"{name} did not advance: {a} -> {b}" + context()
        assert 0 < b["width"] <= 100 and b["epochs"] == (80 if name == "fg" else 3000), b
        assert "Stop" in b["buttons"] and "Summary" in b["buttons"], b
    assert first[NB_A]["kernel"] == second[NB_A]["kernel"] == "busy", (first, second)
    assert page.evaluate("(p) => window.__nbml.runs[p]", NB_A) is None, "A's cell already ended"
    for nb in (NB_A, NB_B):
        entry = second[nb]
        assert entry["nbml"] == "loaded", entry
        assert entry["devices"].startswith("devices: cpu:0"), entry["devices"]

    # the injection name is text: those characters, no <img>, no dialog
    b_models = second[NB_B]["models"]
    assert INJECTION in b_models, list(b_models)
    assert b_models[INJECTION]["name"] == INJECTION, b_models[INJECTION]
    assert b_models[INJECTION]["status"] == "finished", b_models[INJECTION]
    assert page.locator(f"{SIDEBAR} img").count() == 0
    assert page.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
    shot(page, "sidebar_01_training.png")

    # Summary of B's background model (B's kernel is idle: its comm answers at once)
    page.locator(row(NB_B, "bg")).get_by_role("button", name="Summary").click()
    table = page.locator(f"{row(NB_B, 'bg')} table.nbml-sb-summary")
    try:
        table.wait_for(state="visible", timeout=15_000)
    except PlaywrightTimeout:
        pytest.fail("no summary table for bg" + context())
    layers = table.locator("tbody tr").all_inner_texts()
    assert len(layers) == 3 and "Dense" in layers[0] and "Dense" in layers[1], layers
    total = layers[-1].split()[-1].replace(",", "")
    assert total == str(64 * 64 + 64 + 64 * 10 + 10), layers

    # ------------------------------------------------------------ lag while A trains
    page.wait_for_timeout(max(0, int((fg_started + LAG_WINDOW - time.monotonic()) * 1000)))
    lags = page.evaluate(
        "([a, i, j]) => ({fg: (window.nbmlLagsByDoc?.[a] ?? []).slice(i),"
        " all: (window.nbmlLags ?? []).slice(j)})",
        [NB_A, a_start, all_start],
    )
    lag_window = time.monotonic() - fg_started
    assert page.evaluate("(p) => window.__nbml.runs[p]", NB_A) is None, "A's training ended early"

    # ------------------------------------------------------------ Stop both
    page.locator(row(NB_A, "fg")).get_by_role("button", name="Stop").click()
    wait(
        '(a) => document.querySelector(`#nbml-sidebar section[data-doc="${a}"] '
        "li.nbml-sb-model[data-model=\"fg\"]`)?.dataset.status === 'stopped'",
        "A's foreground model to show 'stopped' after Stop (kernel interrupt)",
        NB_A,
        timeout=30_000,
    )
    wait("(p) => window.__nbml.runs[p] !== undefined", "A's cells to finish", NB_A)
    a_panel = f"#{page.evaluate('(p) => window.__nbml.panels[p].id', NB_A)}"
    assert page.locator(f"{a_panel} .jp-OutputArea-output").count() > 0
    assert page_errors(page, a_panel) == "(no error output in the notebook)", context()
    a_output = "\n".join(page.locator(f"{a_panel} .jp-OutputArea-output").all_inner_texts())
    assert "Traceback" not in a_output and "KeyboardInterrupt" not in a_output, a_output[-2000:]
    assert "after training" in a_output, a_output[-2000:]  # the cells after it ran too

    page.locator(row(NB_B, "bg")).get_by_role("button", name="Stop").click()
    wait(
        '(b) => document.querySelector(`#nbml-sidebar section[data-doc="${b}"] '
        "li.nbml-sb-model[data-model=\"bg\"]`)?.dataset.status === 'stopped'",
        "B's background model to show 'stopped' after Stop (comm request)",
        NB_B,
        timeout=30_000,
    )
    stopped = state()
    for nb, name in ((NB_A, "fg"), (NB_B, "bg")):
        m = stopped[nb]["models"][name]
        assert "Stop" not in m["buttons"], m
        assert 0 < m["epoch"] < m["epochs"], m
    # the "Stopping bg at the next batch boundary" acknowledgement goes once bg has stopped
    assert not any(n.startswith("Stopping") for n in stopped[NB_B]["notes"]), stopped[NB_B]
    shot(page, "sidebar_02_stopped.png")

    # ------------------------------------------------------------ restart B's kernel
    page.evaluate("(b) => { window.__nbml.panels[b].sessionContext.restartKernel(); }", NB_B)
    wait(
        """(b) => {
            const s = document.querySelector(`#nbml-sidebar section[data-doc="${b}"]`);
            return s && s.dataset.nbml === 'absent' && !s.querySelector('li.nbml-sb-model')
                && s.textContent.includes('nbml not loaded')
                && s.querySelector('.nbml-sb-kernel')?.textContent === 'idle';
        }""",
        "B's models to disappear after its kernel restart (kernel idle, nbml not loaded)",
        NB_B,
    )
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
    after = state()
    assert after[NB_A]["nbml"] == "loaded", after
    assert after[NB_A]["models"]["fg"]["status"] == "stopped", after
    assert after[NB_B]["models"] == {}, after
    shot(page, "sidebar_03_restarted.png")

    # ------------------------------------------------------------ nothing ran from the name
    assert dialogs == [], dialogs
    assert page.locator(f"{SIDEBAR} img").count() == 0

    # ------------------------------------------------------------ lag benchmark
    def stats(values: list[float]) -> dict[str, Any]:
        return {
            "renders": len(values),
            "median_s": round(statistics.median(values), 4),
            "p90_s": round(statistics.quantiles(values, n=10)[-1], 4),
            "max_s": round(max(values), 4),
        }

    assert len(lags["fg"]) >= 10, (
        f"only {len(lags['fg'])} renders of A while it trained" + context()
    )
    result = {
        "what": "seconds from a kernel event (message time) to its render in the sidebar, while "
        f"{NB_A} trains in the foreground (kernel busy) and {NB_B} in the background",
        "window_s": round(lag_window, 1),
        "foreground_notebook": stats(lags["fg"]),
        "all_notebooks": stats(lags["all"]),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "sidebar_lag.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"sidebar lag: {json.dumps(result)}")
    assert result["foreground_notebook"]["median_s"] <= LAG_BUDGET, result
    assert result["all_notebooks"]["median_s"] <= LAG_BUDGET, result

    # ------------------------------------------------------------ Reveal A's model
    # from B, with another cell of A selected: Reveal shows A and selects its %%train cell
    page.evaluate(
        """([a, b]) => {
            window.__nbml.panels[a].content.activeCellIndex = 0;
            window.jupyterapp.shell.activateById(window.__nbml.panels[b].id);
        }""",
        [NB_A, NB_B],
    )
    page.locator(row(NB_A, "fg")).get_by_role("button", name="Reveal").click()
    reveal = """(a) => {
        const app = window.jupyterapp, panel = window.__nbml.panels[a];
        const cell = panel.content.activeCell;
        return app.shell.currentWidget === panel && cell
            && cell.model.sharedModel.getSource().startsWith('%%train fg')
            && panel.node.querySelector('.jp-Cell.jp-mod-active')?.textContent;
    }"""
    try:
        active = page.wait_for_function(reveal, arg=NB_A, timeout=10_000).json_value()
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
    print(f"sidebar browser test: {time.monotonic() - started:.1f}s")
