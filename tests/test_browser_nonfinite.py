"""NaN and infinite values in a real JupyterLab driven by a real Chromium
(docs/reference.md#widgets, #the-models-panel).

One notebook trains a regression whose loss explodes to inf (plain SGD at learning rate 10) and
one whose loss is NaN from the first batch, pushes a NaN metric to the sidebar, and shows a
monitor fed values from 1 to 1e30, inf and NaN. The test checks that

- no "Message serialization failed" / ``UserWarning`` text reaches the notebook's outputs
  (everything nbml sends is strict JSON: NaN and inf travel as null);
- the sidebar still lists every model, shows the NaN metric as "nan", and shows no error;
- every monitor shows its run as failed, with no widget error, and the exploding curve is drawn
  on a log scale with a note counting the points that are not finite;
- the runs table shows the NaN metric as "nan" and its chart counts the NaN point;
- after a page reload the kernel keeps one sidebar comm for the page (the old page's comm was
  closed on pagehide or replaced by the new one's), so a push goes out once.

Screenshots go to ``test-artifacts/`` (git-ignored). Server and browser set-up: ``tests/browser.py``.
"""

from __future__ import annotations

import json
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

TIMEOUT = 90_000  # ms
NOTEBOOK = "nonfinite.ipynb"
DENSE = "keras.Sequential([keras.Input((4,)), keras.layers.Dense(1{init})])"
NAN_INIT = ", kernel_initializer=keras.initializers.Constant(float('nan'))"
CELLS = [
    "%load_ext nbml",
    "import keras\nimport numpy as np\n\nrng = np.random.default_rng(0)\n"
    "xr = rng.random((400, 4), dtype='float32') * 100\n"
    "reg = (xr, (xr @ np.arange(1, 5, dtype='float32')).astype('float32'))",
    "%%train boom --data reg --epochs 5 --optimizer sgd --lr 10\n" + DENSE.format(init=""),
    "%%train nanrun --data reg --epochs 2\n" + DENSE.format(init=NAN_INIT),
    # a NaN and an infinity pushed to the sidebar, whatever the runs published
    "from nbml.views import comm\nfrom nbml.core.registry import REGISTRY, Event, Run\n"
    "REGISTRY.get('nanrun').run.metrics = {'loss': float('nan'), 'mae': float('inf')}\n"
    "comm.CHANNEL._changed.add('nanrun')\ncomm.CHANNEL.push()",
    # a monitor of a loss exploding from 1 to 1e30, then inf and NaN
    "from nbml.views.widgets.monitor import TrainingMonitor\n"
    "run = Run('x1', 'exploding', {'lr': 10.0, 'batch_size': 32}, 'synthetic', 1)\n"
    "mon = TrainingMonitor('exploding', update_interval=0)\nmon.track(run, foreground=False)\n"
    "display(mon)\nREGISTRY.publish(Event('begin', run))\n"
    "for b, v in enumerate([1.0, 30.0, 1e4, 1e10, 1e30, float('inf'), float('nan')]):\n"
    "    logs = {'loss': v}\n"
    "    REGISTRY.publish(Event('batch', run, {'epoch': 0, 'batch': b, 'steps': 7, 'logs': logs}))\n"
    "run.status, run.message = 'failed', 'Loss became inf'\nREGISTRY.publish(Event('end', run))",
    # the runs table of the two runs, a NaN in the table and in the ticked run's curve
    "from nbml.views.comparison import RunTable\nr = REGISTRY.get('nanrun').run\n"
    "r.history = {'loss': [3.0, float('nan'), 1.0]}\n"
    "RunTable([REGISTRY.get('boom').run, r], compare=[r])",
    'print("all cells ran")',
]
MONITORS = {"boom", "nanrun", "exploding"}
SIDEBAR = "#nbml-sidebar"

# Each monitor's state, by model name (the name is the monitor's title).
_MONITORS = """() => Object.fromEntries([...document.querySelectorAll('[data-testid="nbml-monitor"]')]
    .map((m) => [m.querySelector('.nbml-head b')?.textContent, {
        status: m.dataset.status,
        errors: [...m.parentElement.querySelectorAll('.nbml-widget-error')]
            .filter((e) => !e.hidden).map((e) => e.textContent),
        charts: [...m.querySelectorAll('[data-testid="nbml-chart"]')].map((c) => ({
            metric: c.dataset.metric, scale: c.dataset.scale,
            nonfinite: Number(c.dataset.nonfinite ?? 0), canvas: !!c.querySelector('canvas'),
            note: c.querySelector('.nbml-chart-note')?.hidden === false
                ? c.querySelector('.nbml-chart-note').textContent : '',
        })),
    }]))"""

# The sidebar's rows of the notebook: name -> status and metrics text; and any error shown.
_SIDEBAR = """(nb) => {
    const s = document.querySelector(`#nbml-sidebar section[data-doc="${nb}"]`);
    const models = {};
    for (const li of s?.querySelectorAll('li.nbml-sb-model') ?? [])
        models[li.dataset.model] = {
            status: li.dataset.status,
            metrics: li.querySelector('.nbml-sb-metrics')?.textContent ?? '',
        };
    return {models, nbml: s?.dataset.nbml,
            errors: [...document.querySelectorAll('#nbml-sidebar .nbml-sb-error')]
                .map((e) => e.textContent)};
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    with jupyter_lab(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="module")
def page():
    with chromium_page(width=1500, height=1000, timeout=TIMEOUT) as pg:
        yield pg


def _outputs(page: Any) -> str:
    return "\n".join(page.locator(".jp-NotebookPanel .jp-OutputArea-output").all_inner_texts())


def _check_sidebar(page: Any) -> None:
    state = page.wait_for_function(
        """([js, nb]) => {
            const s = eval(js)(nb);
            const m = s.models;
            return m.boom?.status === 'failed' && m.nanrun?.status === 'failed'
                && m.nanrun.metrics.includes('loss nan') && s;
        }""",
        arg=[_SIDEBAR, NOTEBOOK],
        timeout=TIMEOUT,
    ).json_value()
    assert state["nbml"] == "loaded", state
    assert state["errors"] == [], state
    assert state["models"]["nanrun"]["metrics"] == "loss nan · mae nan", state
    assert set(state["models"]) == {"boom", "nanrun"}, state  # (the synthetic run is no model)


def _check_runs_table(page: Any) -> None:
    runs = page.wait_for_function(
        """() => {
            const w = document.querySelector('[data-testid="nbml-runs"]');
            const chart = w?.querySelector('.nbml-runs-chart');
            return w && chart?.querySelector('canvas') && {
                cells: [...w.querySelectorAll('tr[data-run] td')].map((td) => td.textContent),
                nonfinite: chart.dataset.nonfinite,
                errors: [...w.parentElement.querySelectorAll('.nbml-widget-error')]
                    .filter((e) => !e.hidden).map((e) => e.textContent),
            };
        }""",
        timeout=TIMEOUT,
    ).json_value()
    assert runs["errors"] == [] and runs["nonfinite"] == "1", runs
    assert "nan" in runs["cells"], runs


def _check_monitors(page: Any) -> dict[str, Any]:
    monitors = page.wait_for_function(
        f"""() => {{
            const m = ({_MONITORS})();
            const names = {json.dumps(sorted(MONITORS))};
            return names.every((n) => m[n]?.status === 'failed'
                && m[n].charts.length > 0 && m[n].charts.every((c) => c.canvas)) && m;
        }}""",
        timeout=TIMEOUT,
    ).json_value()
    for name in MONITORS:
        assert monitors[name]["errors"] == [], (name, monitors[name])
    (loss,) = [c for c in monitors["exploding"]["charts"] if c["metric"] == "loss"]
    assert loss["scale"] == "log", loss  # 1 .. 1e30 stays readable
    assert loss["nonfinite"] == 2 and "2 values not finite (nan or inf): not drawn" in loss["note"]
    nan_charts = monitors["nanrun"]["charts"]
    assert all(c["nonfinite"] >= 1 and "nothing to draw" in c["note"] for c in nan_charts), (
        nan_charts
    )
    return monitors


@pytest.mark.timeout(300)
def test_inf_and_nan_runs_keep_sidebar_and_monitors_alive(page, lab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    write_notebook(lab.root / NOTEBOOK, CELLS)
    console = collect_console(page)

    def context() -> str:
        return (
            f"\nnotebook errors:\n{page_errors(page)}\noutputs:\n{_outputs(page)[-3000:]}"
            "\nbrowser console (last 20):\n" + "\n".join(console[-20:])
            + f"\nserver log tail:\n{lab.log_tail(2000)}"
        )  # fmt: skip

    open_lab(page, lab, NOTEBOOK, timeout=TIMEOUT)
    run_all(page, sidebar=True)
    try:
        page.wait_for_function("() => window.__nbmlRun !== undefined", timeout=TIMEOUT * 2)
        assert page.evaluate("() => window.__nbmlRun") == "done", context()
        _check_sidebar(page)
        monitors = _check_monitors(page)
        _check_runs_table(page)
    except PlaywrightTimeout:
        pytest.fail("the sidebar or the monitors did not show every run" + context())
    outputs = _outputs(page)
    assert "all cells ran" in outputs, context()
    assert "serialization failed" not in outputs and "UserWarning" not in outputs, outputs
    assert page_errors(page) == "(no error output in the notebook)", context()
    assert not [line for line in console if "pageerror" in line], console
    shot(page, "nonfinite_01_sidebar_and_monitors.png")
    exploding = page.locator('[data-testid="nbml-monitor"]', has_text="exploding").last
    exploding.scroll_into_view_if_needed()
    shot(exploding, "nonfinite_02_exploding_log_scale.png")

    # ------------------------------------------------------------ a reload: one comm, not two
    assert kernel_value(page, "len(comm.CHANNEL.comms)") == 1
    page.reload()
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=TIMEOUT)
    page.evaluate(
        """async () => {
            const app = window.jupyterapp;
            await app.restored;
            app.shell.activateById('nbml-sidebar');
            for (const w of app.shell.widgets('main'))
                if (w.sessionContext) { window.__nbmlPanel = w; await w.sessionContext.ready; }
        }"""
    )
    try:
        page.wait_for_function(
            "([js, nb]) => eval(js)(nb).models.nanrun?.metrics === 'loss nan · mae nan'",
            arg=[_SIDEBAR, NOTEBOOK],
            timeout=TIMEOUT,
        )
    except PlaywrightTimeout:
        pytest.fail("after a reload the sidebar did not show the models again" + context())
    comms = kernel_value(page, "[sorted(comm.CHANNEL.comms), sorted(comm.CHANNEL.clients)]")
    assert len(comms[0]) == 1 and len(comms[1]) == 1, comms
    print(f"monitors: {json.dumps(monitors)[:600]}; comms after reload: {comms}")
