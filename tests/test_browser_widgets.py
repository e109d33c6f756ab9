"""nbml's widgets in a real JupyterLab driven by a real Chromium (Python Playwright, sync API).

One end-to-end test: start ``jupyter lab`` on a temporary root, open the quickstart notebook, run
all its cells, then check in the browser that

- the training monitor draws live curves (uPlot canvas, points) and reaches ``finished``;
- the Retrain panel starts a second, background run that is drawn over the first;
- clicking a confusion-matrix cell lists that cell's samples (thumbnails for the digit images).

Screenshots of each step go to ``test-artifacts/`` at the repository root (git-ignored).
Chromium is expected at ``/usr/bin/chromium`` (``apt-get install chromium``; never
``playwright install``); set ``NBML_CHROMIUM`` to use another binary.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from nbml.widgets.confusion import ConfusionMatrix

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
QUICKSTART = ROOT / "example_notebooks" / "01_quickstart.ipynb"
CHROMIUM = os.environ.get("NBML_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 60  # s until the server answers
RUN_TIMEOUT = 120_000  # ms for the whole notebook (training included)
WIDGET_TIMEOUT = 60_000  # ms for a widget to show up or change state
PAGE_SIZE = ConfusionMatrix.page_size  # samples per page of a clicked cell (24)

MONITOR = '[data-testid="nbml-monitor"]'
CONFUSION = '[data-testid="nbml-confusion"]'
# The monitor is done with its latest run and shows ``runs`` runs with points, and has been for a
# moment in the same element: the output is re-rendered into a new view at the end of every run,
# and the old view may show "finished" just before it is replaced. Returns the view's state.
_FINISHED = """() => {
    const m = document.querySelector('@MONITOR@');
    const ok = m && m.dataset.status === 'finished' && m.dataset.runs === '@RUNS@'
        && Number(m.dataset.points) > 0;
    const seen = window.__nbmlStable;
    if (!ok) { window.__nbmlStable = null; return false; }
    if (!seen || seen.el !== m) {
        window.__nbmlStable = { el: m, t: performance.now() };
        return false;
    }
    if (performance.now() - seen.t < 400) return false;
    return { runs: Number(m.dataset.runs), points: Number(m.dataset.points) };
}"""


def finished(runs: int) -> str:
    return _FINISHED.replace("@MONITOR@", MONITOR).replace("@RUNS@", str(runs))


# JupyterLab user settings: all cells in the DOM (no windowing, so widgets far down the notebook
# exist without scrolling), and no news / update notifications over the page.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path
    proc: subprocess.Popen

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """The pids of all processes below ``pid`` (kernels run in their own sessions)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_group(pid: int, sig: int) -> None:
    """Signal the process group of ``pid`` (one this test started), never the test's own."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        group = os.getpgid(pid)
        if group != os.getpgrp():
            os.killpg(group, sig)


def _write_notebook(root: Path) -> str:
    """The quickstart notebook, or a small stand-in doing the same when it is missing."""
    if QUICKSTART.exists():
        shutil.copy(QUICKSTART, root / QUICKSTART.name)
        return QUICKSTART.name
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext nbml"),
        nbformat.v4.new_code_cell("import keras\n\nkeras.utils.set_random_seed(0)"),
        nbformat.v4.new_code_cell(
            "%%train mlp --data sklearn:digits --epochs 10\n"
            "keras.Sequential([\n"
            "    keras.layers.Flatten(),\n"
            '    keras.layers.Dense(128, activation="relu"),\n'
            '    keras.layers.Dense(10, activation="softmax"),\n'
            "])"
        ),
        nbformat.v4.new_code_cell("%evaluate mlp"),
    ]
    name = "widgets_browser.ipynb"
    nbformat.write(nb, root / name)
    return name


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    """A JupyterLab server on a free port and a temporary root, shut down with its kernels."""
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    root.mkdir()
    settings = tmp / "settings"
    for rel, value in LAB_SETTINGS.items():
        path = settings / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    token = secrets.token_hex(16)
    port = _free_port()
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        IPYTHONDIR=str(tmp / "ipython"),
        KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "jax"),
        PYTHONUNBUFFERED="1",
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        f"--ServerApp.token={token}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
    ]
    log = tmp / "jupyter.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Lab(f"http://127.0.0.1:{port}", token, root, log, proc)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(f"{server.url}/api/status?token={token}", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in time:\n{server.log_tail()}")
                time.sleep(0.3)
        yield server
    finally:
        _shutdown(server)


def _shutdown(server: Lab) -> None:
    proc = server.proc
    below = _descendants(proc.pid) if proc.poll() is None else []
    if proc.poll() is None:
        # a clean shutdown also stops the kernels (each runs in its own process group)
        try:
            req = urllib.request.Request(
                f"{server.url}/api/shutdown",
                method="POST",
                headers={"Authorization": f"token {server.token}"},
            )
            urllib.request.urlopen(req, timeout=5).close()
            proc.wait(timeout=10)
        except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
            pass
    if proc.poll() is None:
        _kill_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    for pid in below:
        _kill_group(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def page():
    """A Chromium page (the system Chromium: this test never downloads a browser)."""
    from playwright.sync_api import sync_playwright

    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install it (apt-get install chromium) or set "
            "NBML_CHROMIUM; do not use `playwright install`."
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            pg = context.new_page()
            pg.set_default_timeout(WIDGET_TIMEOUT)
            yield pg
        finally:
            browser.close()


def _attr(locator, name: str) -> str | None:
    return locator.get_attribute(name)


def _shot(target, name: str) -> Path:
    """Screenshot a locator; retried, since the output is re-rendered at the end of a run."""
    from playwright.sync_api import Error as PlaywrightError

    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    for attempt in range(5):
        try:
            target.screenshot(path=str(path), timeout=10_000)
            return path
        except PlaywrightError:
            if attempt == 4:
                raise
            target.page.wait_for_timeout(300)
    return path


def _page_errors(page) -> str:
    """Error outputs of the notebook, for failure messages."""
    texts = page.locator('[data-mime-type="application/vnd.jupyter.error"]').all_inner_texts()
    return "\n---\n".join(t[-2000:] for t in texts) or "(no error output in the notebook)"


@pytest.mark.timeout(300)
def test_monitor_retrain_and_confusion_in_jupyterlab(page, lab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    started = time.monotonic()
    notebook = _write_notebook(lab.root)
    console: list[str] = []
    page.on(
        "console",
        lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))

    def context() -> str:
        return (
            f"\nnotebook errors:\n{_page_errors(page)}\nbrowser console (last 20):\n"
            + "\n".join(console[-20:])
            + f"\nserver log tail:\n{lab.log_tail(2000)}"
        )

    # ------------------------------------------------------------ open and run the notebook
    page.goto(f"{lab.url}/lab/tree/{notebook}?token={lab.token}")
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=WIDGET_TIMEOUT)
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=WIDGET_TIMEOUT)
    kernel = page.evaluate(
        """async () => {
            const app = window.jupyterapp;
            await app.restored;
            const panel = app.shell.currentWidget;
            await panel.context.ready;
            await panel.sessionContext.ready;
            window.__nbmlRun = undefined;
            // the most points a monitor showed while running, per number of runs: proof of
            // live drawing, however quick training is (a poll could miss it)
            window.__nbmlLive = {};
            new MutationObserver(() => {
                for (const m of document.querySelectorAll('[data-testid="nbml-monitor"]')) {
                    if (m.dataset.status !== 'running') continue;
                    const key = m.dataset.runs, n = Number(m.dataset.points) || 0;
                    window.__nbmlLive[key] = Math.max(window.__nbmlLive[key] ?? 0, n);
                }
            }).observe(document.body, {
                subtree: true, attributes: true,
                attributeFilter: ['data-status', 'data-points', 'data-runs'],
            });
            app.commands.execute('notebook:run-all-cells').then(
                (ok) => { window.__nbmlRun = ok === false ? 'failed' : 'done'; },
                (err) => { window.__nbmlRun = 'error: ' + err; },
            );
            return panel.sessionContext.session?.kernel?.name ?? null;
        }"""
    )
    assert kernel, "the notebook has no kernel" + context()

    # ------------------------------------------------------------ live monitor
    monitor = page.locator(MONITOR).first
    try:
        monitor.wait_for(state="visible", timeout=RUN_TIMEOUT)
        page.wait_for_function(
            f"""() => {{
                const m = document.querySelector('{MONITOR}');
                return m && Number(m.dataset.points) > 0 && m.querySelector('canvas');
            }}""",
            timeout=RUN_TIMEOUT,
        )
    except PlaywrightTimeout:
        pytest.fail("the training monitor never showed points" + context())
    # at the end the output is re-rendered (for its static HTML) into a new view: wait for that
    # view's curves, not only for the status
    try:
        state = page.wait_for_function(finished(1), timeout=RUN_TIMEOUT).json_value()
    except PlaywrightTimeout:
        pytest.fail(
            f"the monitor did not reach 'finished' (status {_attr(monitor, 'data-status')})"
            + context()
        )
    points_first = state["points"]
    assert state["runs"] == 1 and points_first > 0, state
    assert monitor.locator('[data-testid="nbml-chart"] canvas').count() >= 1
    assert monitor.locator(".uplot").count() >= 1
    # (the digits train in about a second, too quick for a screenshot mid-run: the curves as the
    # live widget drew them, at the end of the run; the observer above proves the live drawing)
    _shot(monitor, "01_monitor_first_run.png")
    # loss and accuracy charts, each with a canvas
    metrics = monitor.locator('[data-testid="nbml-chart"]').evaluate_all(
        "els => els.map(e => e.dataset.metric)"
    )
    assert "loss" in metrics, metrics
    live = page.evaluate("() => window.__nbmlLive")
    assert live.get("1", 0) > 0, f"no points drawn while training: {live}" + context()

    # the whole notebook has to finish before the kernel can take the Retrain message
    try:
        page.wait_for_function("() => window.__nbmlRun !== undefined", timeout=RUN_TIMEOUT)
    except PlaywrightTimeout:
        pytest.fail("running all cells did not finish" + context())
    run_result = page.evaluate("() => window.__nbmlRun")
    assert run_result == "done", f"run all cells: {run_result}" + context()
    assert _page_errors(page) == "(no error output in the notebook)", context()

    # ------------------------------------------------------------ retrain
    monitor.locator("details.nbml-retrain > summary").click()
    lr_input = monitor.locator('[data-testid="nbml-retrain-lr"]')
    lr_input.wait_for(state="visible")
    lr_input.fill("0.0005")
    button = monitor.locator('[data-testid="nbml-retrain"]')
    assert button.is_enabled()
    button.click()
    try:
        page.wait_for_function(
            f"""() => {{
                const m = document.querySelector('{MONITOR}');
                return m && m.dataset.runs === '2' && Number(m.dataset.points) > {points_first};
            }}""",
            timeout=WIDGET_TIMEOUT,
        )
    except PlaywrightTimeout:
        pytest.fail(
            f"no second run in the monitor (runs {_attr(monitor, 'data-runs')}, points "
            f"{_attr(monitor, 'data-points')}, message {monitor.locator('.nbml-message').inner_text()!r})"
            + context()
        )
    try:
        state = page.wait_for_function(finished(2), timeout=WIDGET_TIMEOUT).json_value()
    except PlaywrightTimeout:
        pytest.fail(
            f"the retrain did not finish (status {_attr(monitor, 'data-status')})" + context()
        )
    points_both = state["points"]
    live = page.evaluate("() => window.__nbmlLive")
    # the background run was drawn while it ran, over the first run's curves
    assert live.get("2", 0) > points_first, f"retrain not drawn live: {live}" + context()
    # the second run has about as many points as the first (same epochs and data)
    assert points_both >= points_first + points_first // 2, (points_first, points_both)
    # the legend names both runs, the new one with its learning rate
    legend = monitor.locator(".u-legend").first.inner_text()
    assert "run 1" in legend and "run 2" in legend and "0.0005" in legend, legend
    _shot(monitor, "02_monitor_retrain.png")

    # ------------------------------------------------------------ confusion matrix
    confusion = page.locator(CONFUSION).first
    confusion.scroll_into_view_if_needed()
    cells = confusion.locator("td.nbml-cm-cell").evaluate_all(
        "els => els.map(e => [Number(e.dataset.true), Number(e.dataset.pred), "
        "Number(e.dataset.count)])"
    )
    assert len(cells) == 100, len(cells)  # 10 digits
    samples = confusion.locator('[data-testid="nbml-samples"]')

    def click_cell(true: int, pred: int, count: int) -> None:
        """Click a cell and check its samples: the first page, all thumbnails decoded."""
        expected = min(count, PAGE_SIZE)
        confusion.locator(f'td.nbml-cm-cell[data-true="{true}"][data-pred="{pred}"]').click()
        try:
            page.wait_for_function(
                f"""() => {{
                    const s = document.querySelector('{CONFUSION} [data-testid="nbml-samples"]');
                    if (!s || s.dataset.total !== '{count}') return false;
                    const items = s.querySelectorAll('[data-testid="nbml-sample"]');
                    return items.length === {expected} && [...items].every(
                        (it) => it.querySelector('img')?.complete
                            && it.querySelector('img').naturalWidth > 0);
                }}""",
                timeout=WIDGET_TIMEOUT,
            )
        except PlaywrightTimeout:
            pytest.fail(
                f"cell ({true}, {pred}) with {count} samples: panel shows total "
                f"{_attr(samples, 'data-total')}, "
                f"{samples.locator('[data-testid=nbml-sample]').count()} items" + context()
            )
        assert _attr(samples, "data-total") == str(count)
        assert _attr(samples, "data-shown") == str(expected)
        assert samples.locator('[data-testid="nbml-sample"]').count() == expected
        selected = confusion.locator("td.nbml-cm-cell.nbml-selected")
        assert selected.count() == 1
        assert (_attr(selected, "data-true"), _attr(selected, "data-pred")) == (
            str(true),
            str(pred),
        )

    # the biggest diagonal cell holds more than one page: only the first page is shown
    diag_true, diag_pred, diag_count = max((c for c in cells if c[0] == c[1]), key=lambda c: c[2])
    click_cell(diag_true, diag_pred, diag_count)
    if diag_count > PAGE_SIZE:
        assert samples.locator(".nbml-cm-pager button").count() == 2
    # then the most frequent mistake (an off-diagonal cell), for the screenshot
    off = [c for c in cells if c[0] != c[1] and c[2] > 0]
    true, pred, count = max(off or [c for c in cells if c[0] == c[1]], key=lambda c: c[2])
    assert count > 0
    click_cell(true, pred, count)
    _shot(confusion, "03_confusion_samples.png")

    print(
        f"browser test: {time.monotonic() - started:.1f}s, "
        f"points while running {live}, "
        f"points {points_first} -> {points_both}, cell ({true}, {pred}) x{count}, "
        f"diagonal ({diag_true}, {diag_pred}) x{diag_count}"
    )
