"""The Models panel's inspector in a real JupyterLab and a real Jupyter Notebook 7, driven by a
real Chromium (Python Playwright); docs/protocol.md, docs/reference.md#the-models-panel.

JupyterLab (one notebook):

- a click on the small CNN (Conv2D, MaxPooling2D, Flatten, Dense on ``sklearn:digits``, images
  of shape (8, 8, 1)) opens its inspector in the panel: every layer with its class, output shape
  and parameters, and the notes;
- ``%%train cnn --data sklearn:digits --epochs 6 --background`` while the inspector is open: its
  records and sparklines grow epoch by epoch (the kernel's ``inspect`` pushes), to 6;
- a broken model (a ReLU Dense layer whose bias starts at -100: ``dead_units`` at epoch 2)
  trained with the monitor: the monitor says "1 layer flagged", and a click there opens the
  panel's inspector of that model, its dead layer marked with the reason as text.

Jupyter Notebook 7 (two tabs): the panel is closed; the monitor's flagged link opens it on the
broken model's inspector; a model of another tab's kernel (listed through the server) opens its
inspector from the run store (``GET /nbml/kernels/<id>/inspect/<run id>``), growing while it
trains. Screenshots go to ``test-artifacts/inspector_*.png``. Server and browser set-up:
``tests/browser.py``.
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

TIMEOUT = 90_000  # ms for something to show up in a page
SIDEBAR = "#nbml-sidebar"
INSPECTOR = f"{SIDEBAR} section.nbml-sb-inspector"
MONITOR = '[data-testid="nbml-monitor"]'
CNN = (
    "keras.Sequential([\n"
    "    keras.Input((8, 8, 1)),\n"
    '    keras.layers.Conv2D(8, 3, activation="relu"),\n'
    "    keras.layers.MaxPooling2D(),\n"
    "    keras.layers.Flatten(),\n"
    '    keras.layers.Dense(10, activation="softmax"),\n'
    "])"
)
# (class, output shape) of the CNN's layers, after the min-max scaling nbml puts in front
CNN_LAYERS = [
    ("Normalization", "(None, 8, 8, 1)"),
    ("Conv2D", "(None, 6, 6, 8)"),
    ("MaxPooling2D", "(None, 3, 3, 8)"),
    ("Flatten", "(None, 72)"),
    ("Dense", "(None, 10)"),
]
# digits scaled by hand, so nbml adds no scaling model around it: the dead layer's activations
# are known to the inspector
BROKEN = (
    "from sklearn.datasets import load_digits\n"
    "_d = load_digits()\n"
    "digits01 = (_d.images[..., None].astype('float32') / 16.0, _d.target)"
)
BROKEN_TRAIN = (
    "%%train broken --data digits01 --epochs 3\n"
    "keras.Sequential([\n"
    "    keras.Input((8, 8, 1)),\n"
    "    keras.layers.Flatten(),\n"
    '    keras.layers.Dense(16, activation="relu", name="dead",\n'
    "                       bias_initializer=keras.initializers.Constant(-100.0)),\n"
    '    keras.layers.Dense(10, activation="softmax", name="out"),\n'
    "])"
)
CELLS = [
    "%load_ext nbml\nimport keras\n\nkeras.utils.set_random_seed(0)",
    f"%%train cnn --data sklearn:digits --epochs 1 --no-widget\n{CNN}",
    BROKEN,
    BROKEN_TRAIN,
]
DEAD_REASON = "dead_units at epoch 2: 100% of its units output <= 0 on every probe row"

# What the open inspector shows: its model, run and records, its layers' rows, flags, notes.
INSPECTOR_STATE = """() => {
    const s = document.querySelector('#nbml-sidebar section.nbml-sb-inspector');
    if (!s) return null;
    const text = (tr, cls) => tr.querySelector(`.${cls}`)?.textContent ?? '';
    const rows = [...s.querySelectorAll('table.nbml-sb-inspect tr.nbml-sb-layer-row')]
        .map((tr) => {
            const stats = tr.nextElementSibling;
            return {
                layer: tr.dataset.layer,
                cells: [text(tr, 'nbml-sb-layer'), text(tr, 'nbml-sb-type'),
                    text(tr, 'nbml-sb-shape'), text(tr, 'nbml-sb-params').replace(/ params$/, ''),
                    text(tr, 'nbml-sb-activation')],
                flagged: tr.dataset.flagged === 'true',
                points: Object.fromEntries([...stats.querySelectorAll('svg.nbml-sb-spark')]
                    .map((svg) => [svg.dataset.stat, Number(svg.dataset.points)])),
                last: Object.fromEntries([...stats.querySelectorAll('.nbml-sb-last')]
                    .map((span) => [span.dataset.stat, span.textContent])),
            };
        });
    return {
        model: s.dataset.model, run: s.dataset.run ?? null, records: Number(s.dataset.records ?? 0),
        meta: s.querySelector('.nbml-sb-meta')?.textContent ?? '',
        flags: [...s.querySelectorAll('tr.nbml-sb-flag')].map((tr) => tr.textContent),
        notes: [...s.querySelectorAll('.nbml-sb-notes li')].map((li) => li.textContent),
        alerts: [...s.querySelectorAll('[role="alert"]')].map((a) => a.textContent),
        rows,
    };
}"""

# Records every change of the open inspector's (model, run, records, conv2d's weight-norm points)
# in window.__nbmlInspector, from now on.
WATCH_INSPECTOR = """() => {
    window.__nbmlInspector = [];
    const look = () => {
        const s = document.querySelector('#nbml-sidebar section.nbml-sb-inspector');
        if (!s) return;
        const conv = [...s.querySelectorAll('tr.nbml-sb-stats')]
            .find((tr) => tr.dataset.layer.split('/').pop().startsWith('conv2d'));
        const spark = conv?.querySelector('svg[data-stat="weight_norm"]');
        const seen = [s.dataset.model, s.dataset.run ?? null, Number(s.dataset.records ?? 0),
            Number(spark?.dataset.points ?? 0)];
        const last = window.__nbmlInspector.at(-1);
        if (!last || last.some((v, i) => v !== seen[i])) window.__nbmlInspector.push(seen);
    };
    new MutationObserver(look).observe(document.getElementById('nbml-sidebar'), {
        subtree: true, childList: true, attributes: true, characterData: true,
    });
    look();
}"""


def short(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def wait(page: Any, js: str, what: str, context: Any, arg: Any = None, timeout: int = TIMEOUT):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        return page.wait_for_function(js, arg=arg, timeout=timeout).json_value()
    except PlaywrightTimeout:
        pytest.fail(f"timed out waiting for {what}" + context())


def contexts(page: Any, server: Lab, console: list[str]) -> Any:
    def context() -> str:
        panel = page.locator(SIDEBAR).inner_text() if page.locator(SIDEBAR).count() else "-"
        return (
            f"\ninspector: {page.evaluate(INSPECTOR_STATE)}"
            f"\npanel: {panel[:2000]}"
            f"\nnotebook errors:\n{page_errors(page)}\nbrowser console (last 20):\n"
            + "\n".join(console[-20:])
            + f"\nserver log tail:\n{server.log_tail(2000)}"
        )

    return context


def execute(page: Any, code: str) -> None:
    """Run ``code`` in the kernel of the notebook :func:`browser.run_all` ran (no output)."""
    page.evaluate(
        """async (code) => {
            const kernel = window.__nbmlPanel.sessionContext.session.kernel;
            await kernel.requestExecute({code, store_history: false}).done;
        }""",
        code,
    )


def check_broken(state: dict[str, Any]) -> None:
    """The broken model's inspector: its dead layer flagged with the reason, as text."""
    assert state["model"] == "broken", state
    dead = [r for r in state["rows"] if r["layer"] == "dead"]
    assert dead and dead[0]["flagged"], state
    # every record's dead fraction (all of its units), weight and gradient norm drawn
    assert dead[0]["points"] == {"weight_norm": 3, "grad_norm": 3, "dead_fraction": 3}, dead
    assert dead[0]["last"]["dead_fraction"] == "1", dead
    assert [r["layer"] for r in state["rows"] if r["flagged"]] == ["dead"], state
    assert any(DEAD_REASON in f for f in state["flags"]), state["flags"]
    assert "1 layer flagged" in state["meta"], state["meta"]


# ---------------------------------------------------------------- JupyterLab


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    with jupyter_lab(tmp_path_factory.mktemp("lab_inspector")) as server:
        yield server


@pytest.fixture(scope="module")
def page():
    with chromium_page(width=1600, height=1000, timeout=TIMEOUT) as pg:
        yield pg


@pytest.mark.timeout(400)
def test_the_panels_inspector_lists_the_layers_grows_live_and_opens_from_the_monitor(page, lab):
    write_notebook(lab.root / "inspect.ipynb", CELLS)
    console = collect_console(page)
    context = contexts(page, lab, console)
    open_lab(page, lab, "inspect.ipynb", timeout=TIMEOUT)
    run_all(page, sidebar=True)
    wait(page, "() => window.__nbmlRun !== undefined", "the notebook to run", context)
    assert page.evaluate("() => window.__nbmlRun") == "done", context()
    page.evaluate("() => window.jupyterapp.shell.activateById('nbml-sidebar')")

    # ------------------------------------------------------------ a click on the model
    page.locator(f'{SIDEBAR} li.nbml-sb-model[data-model="cnn"] button.nbml-sb-name').click()
    wait(
        page,
        f"() => document.querySelector('{INSPECTOR}')?.dataset.records === '1'",
        "the CNN's inspector with its record",
        context,
    )
    state = page.evaluate(INSPECTOR_STATE)
    assert state["model"] == "cnn" and state["alerts"] == [], state
    assert [(r["cells"][1], r["cells"][2]) for r in state["rows"]] == CNN_LAYERS, state
    assert [short(r["layer"]) for r in state["rows"]][1:] == [
        "conv2d",
        "max_pooling2d",
        "flatten",
        "dense",
    ], state
    assert [r["cells"][3] for r in state["rows"]] == ["0", "80", "0", "0", "730"], state
    assert "810 parameters" in state["meta"], state["meta"]
    # (no dead fraction: the kernel's inspector records no activations of the layers of a model
    # nbml wraps in its own scaling, which it does for whole-number images such as these)
    conv = state["rows"][1]
    assert conv["points"]["weight_norm"] == 1 and conv["points"]["grad_norm"] == 1, conv
    shot(page.locator(SIDEBAR), "inspector_01_cnn.png")

    # ------------------------------------------------------------ live while it trains
    page.evaluate(WATCH_INSPECTOR)
    first_run = state["run"]
    execute(page, f"%%train cnn --data sklearn:digits --epochs 6 --background --no-widget\n{CNN}")
    wait(
        page,
        f"""() => {{
            const s = document.querySelector('{INSPECTOR}');
            return s && s.dataset.run !== '{first_run}' && s.dataset.records === '6';
        }}""",
        "the background run's 6 records in the open inspector",
        context,
    )
    seen = [s for s in page.evaluate("() => window.__nbmlInspector") if s[1] != first_run]
    print(f"inspector states during the background run: {seen}")
    records = [s[2] for s in seen]
    assert records == sorted(records) and records[-1] == 6, seen
    # shown while it trained: a state before the last record (renders may take several records
    # at once when epochs are short)
    assert len(set(records)) >= 2 and 0 < records[0] < 6, f"not shown growing: {seen}"
    points = [s[3] for s in seen]
    assert points == sorted(points) and points[-1] == 6, seen
    state = page.evaluate(INSPECTOR_STATE)
    assert [(r["cells"][1], r["cells"][2]) for r in state["rows"]] == CNN_LAYERS, state
    assert all(
        r["points"].get("weight_norm") == 6 for r in state["rows"][1:] if r["cells"][3] != "0"
    )
    assert "records at epochs 1-6" in state["meta"], state["meta"]
    shot(page.locator(SIDEBAR), "inspector_02_cnn_after_background_run.png")

    # ------------------------------------------------------------ the monitor's flagged link
    page.locator(f"{INSPECTOR} button.nbml-sb-back").click()
    page.locator(f'{SIDEBAR} li.nbml-sb-model[data-model="broken"]').wait_for()
    assert page.locator(INSPECTOR).count() == 0
    monitor = page.locator(MONITOR).last
    link = monitor.locator('[data-testid="nbml-flagged"]')
    link.wait_for(state="visible", timeout=TIMEOUT)
    assert link.inner_text() == "1 layer flagged"
    link.click()
    wait(
        page,
        f"() => document.querySelector('{INSPECTOR}')?.dataset.model === 'broken'"
        f" && document.querySelector('{INSPECTOR}')?.dataset.records === '3'",
        "the broken model's inspector, opened from the monitor",
        context,
    )
    check_broken(page.evaluate(INSPECTOR_STATE))
    assert page.locator(f"{INSPECTOR} img").count() == 0
    shot(page.locator(SIDEBAR), "inspector_03_broken_from_the_monitor.png")
    assert [c for c in console if c.startswith("pageerror")] == [], console


# ---------------------------------------------------------------- Notebook 7

NB7_A = "a_tab.ipynb"
NB7_B = "b_tab.ipynb"
CELLS_B = [
    "%load_ext nbml\nimport keras",
    # background: B's kernel stays free, and A's panel reads it through the server
    f"%%train far --data sklearn:digits --epochs 3000 --batch-size 16 --background --no-widget\n"
    f"{CNN}",
]
NOT_OURS = "reading 'schema'"  # a page error of Notebook 7.6.5 itself


@pytest.fixture(scope="module")
def notebook(tmp_path_factory) -> Iterator[Lab]:
    with jupyter_lab(tmp_path_factory.mktemp("nb7_inspector"), app="notebook") as server:
        yield server


def open_notebook(pg: Any, server: Lab, path: str) -> None:
    pg.goto(server.tree_url(path))
    pg.wait_for_function("() => window.jupyterapp !== undefined", timeout=TIMEOUT)
    pg.wait_for_selector(".jp-Notebook .jp-Cell", timeout=TIMEOUT)
    run_all(pg)


@pytest.mark.timeout(400)
def test_notebook7_the_flagged_link_opens_the_panel_and_other_tabs_models_read_the_store(
    page, notebook
):
    write_notebook(notebook.root / NB7_A, CELLS)
    console = collect_console(page)
    context = contexts(page, notebook, console)
    open_notebook(page, notebook, NB7_A)
    wait(page, "() => window.__nbmlRun !== undefined", "tab A's notebook to run", context)
    assert page.evaluate("() => window.__nbmlRun") == "done", context()
    assert not page.locator(SIDEBAR).is_visible()  # Notebook 7 starts with the panel closed

    # ------------------------------------------------------------ the monitor opens the panel
    link = page.locator(MONITOR).last.locator('[data-testid="nbml-flagged"]')
    link.wait_for(state="visible", timeout=TIMEOUT)
    link.click()
    page.locator(SIDEBAR).wait_for(state="visible", timeout=TIMEOUT)
    wait(
        page,
        f"() => document.querySelector('{INSPECTOR}')?.dataset.records === '3'",
        "the broken model's inspector in Notebook 7's panel",
        context,
    )
    check_broken(page.evaluate(INSPECTOR_STATE))
    shot(page, "inspector_04_nb7_broken_from_the_monitor.png")

    # ------------------------------------------------------------ another tab's model
    page.locator(f"{INSPECTOR} button.nbml-sb-back").click()
    write_notebook(notebook.root / NB7_B, CELLS_B)
    second = page.context.new_page()
    second.set_default_timeout(TIMEOUT)
    console += collect_console(second)
    open_notebook(second, notebook, NB7_B)
    far = f'{SIDEBAR} section.nbml-sb-doc[data-doc="{NB7_B}"] li.nbml-sb-model[data-model="far"]'
    wait(
        page,
        f"""() => {{
            const li = document.querySelector('{far}');
            return li && li.dataset.status === 'running' && li.closest('[data-remote="true"]');
        }}""",
        "tab B's model in tab A's panel, read through the server",
        context,
    )
    page.evaluate(WATCH_INSPECTOR)
    page.locator(far).get_by_role("button", name="Inspect").click()
    wait(
        page,
        f"() => Number(document.querySelector('{INSPECTOR}')?.dataset.records) >= 1",
        "tab B's model's inspector, read from its run store",
        context,
    )
    state = page.evaluate(INSPECTOR_STATE)
    assert state["model"] == "far" and state["alerts"] == [], state
    assert [(r["cells"][1], r["cells"][2]) for r in state["rows"]] == CNN_LAYERS, state
    first = state["records"]
    records = f"Number(document.querySelector('{INSPECTOR}')?.dataset.records)"
    wait(
        page, f"() => {records} >= {first + 2}", "more of tab B's records while it trains", context
    )
    seen = [s for s in page.evaluate("() => window.__nbmlInspector") if s[0] == "far"]
    assert [s[2] for s in seen] == sorted(s[2] for s in seen), seen
    shot(page, "inspector_05_nb7_other_tabs_model.png")

    # ------------------------------------------------------------ done: stop B's training
    page.locator(f"{INSPECTOR} button.nbml-sb-back").click()
    page.locator(far).get_by_role("button", name="Stop").click()
    wait(
        page,
        f"() => document.querySelector('{far}')?.dataset.status === 'stopped'",
        "tab B's model to stop",
        context,
    )
    errors = [c for c in console if c.startswith("pageerror") and NOT_OURS not in c]
    assert errors == [], errors
    second.close()
