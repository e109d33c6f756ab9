"""Shared set-up of nbml's browser tests: a JupyterLab server and a headless Chromium page.

- :func:`jupyter_lab` starts ``jupyter lab`` on a free port and a temporary root (the app exposed
  as ``window.jupyterapp``, no news or update pop-ups, no notebook windowing) and shuts it down
  with its kernels.
- :func:`chromium_page` launches the system Chromium through Python Playwright (sync API).
  Chromium is expected at ``/usr/bin/chromium`` (``apt-get install chromium``; never
  ``playwright install``); set ``NBML_CHROMIUM`` to use another binary.
- :func:`open_lab`, :func:`write_notebook`, :func:`shot` and :func:`page_errors` are small helpers
  around them; :func:`install_lag_probe` records the sidebar's lag in the page (a probe of the
  test, not of the extension). Screenshots go to ``test-artifacts/`` at the repository root
  (git-ignored).

The test modules wrap the two context managers in module-scoped fixtures.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
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
DEFAULT_TIMEOUT = 60_000  # ms, Playwright's default for the page

# JupyterLab user settings: all cells in the DOM (no windowing, so widgets far down the notebook
# exist without scrolling), and no news / update notifications over the page.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

# What each application needs on its command line: JupyterLab (``jupyter lab``) or Jupyter
# Notebook 7 (``jupyter notebook``, whose app class takes neither news_url nor
# check_for_updates_class).
APP_ARGS = {
    "lab": [
        "jupyterlab",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ],
    "notebook": ["notebook", "--JupyterNotebookApp.expose_app_in_browser=True"],
}
APP_CLASS = {"lab": "LabApp", "notebook": "JupyterNotebookApp"}
# nbml's server extension (/nbml/kernels), enabled by the same file the wheel installs
SERVER_CONFIG = ROOT / "jupyter-config" / "jupyter_server_config.d" / "nbml.json"


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path
    proc: subprocess.Popen
    app: str = "lab"

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def tree_url(self, path: str) -> str:
        if self.app == "notebook":
            return f"{self.url}/notebooks/{path}?token={self.token}"
        return f"{self.url}/lab/tree/{path}?token={self.token}"


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


@contextlib.contextmanager
def jupyter_lab(
    tmp: Path, app: str = "lab", environ: dict[str, str | None] | None = None
) -> Iterator[Lab]:
    """A JupyterLab server on a free port and the root ``tmp/root``, shut down with its kernels;
    ``app="notebook"`` starts Jupyter Notebook 7 instead; ``environ`` changes the server's
    environment (None removes a variable). nbml's server extension is on."""
    root = tmp / "root"
    root.mkdir()
    config = tmp / "config" / "jupyter_server_config.d"
    config.mkdir(parents=True)
    (config / SERVER_CONFIG.name).write_text(SERVER_CONFIG.read_text())
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
    for key, value in (environ or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    cmd = [
        sys.executable,
        "-m",
        APP_ARGS[app][0],
        "--no-browser",
        "--allow-root",
        f"--ServerApp.token={token}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={root}",
        *APP_ARGS[app][1:],
        f"--{APP_CLASS[app]}.user_settings_dir={settings}",
        f"--{APP_CLASS[app]}.workspaces_dir={tmp / 'workspaces'}",
    ]
    log = tmp / "jupyter.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Lab(f"http://127.0.0.1:{port}", token, root, log, proc, app)
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


@contextlib.contextmanager
def chromium_page(
    width: int = 1400, height: int = 1000, timeout: int = DEFAULT_TIMEOUT
) -> Iterator[Any]:
    """A Chromium page (the system Chromium: the tests never download a browser)."""
    from playwright.sync_api import sync_playwright

    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install it (apt-get install chromium) or set "
            "NBML_CHROMIUM; do not use `playwright install`."
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            pg = context.new_page()
            pg.set_default_timeout(timeout)
            yield pg
        finally:
            browser.close()


def write_notebook(path: Path, cells: list[str]) -> str:
    """Write a notebook of code ``cells`` (Python 3 kernel); return its file name."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nbformat.write(nb, path)
    return path.name


def open_lab(page: Any, lab: Lab, path: str, timeout: int = DEFAULT_TIMEOUT) -> None:
    """Load JupyterLab with the notebook ``path`` open, its cells rendered."""
    page.goto(lab.tree_url(path))
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=timeout)
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=timeout)


# The sidebar's lag probe, injected into the test page (production code keeps no probe): each
# document section of the "Models" panel carries the kernel time of its newest event
# (``data-event-time``); whenever it changes, the lag from that time to now is recorded in
# ``window.nbmlLags`` (all documents) and ``window.nbmlLagsByDoc[name]``. The observer watches
# only the panel, which it finds once JupyterLab has made it.
LAG_PROBE = """(() => {
    window.nbmlLags = [];
    window.nbmlLagsByDoc = {};
    const seen = new WeakMap();
    const record = (s) => {
        const t = Number(s.dataset.eventTime);
        if (!t || seen.get(s) === t) return;
        seen.set(s, t);
        const lag = Date.now() / 1000 - t;
        window.nbmlLags.push(lag);
        (window.nbmlLagsByDoc[s.dataset.doc] ??= []).push(lag);
    };
    const scan = (node) => {
        if (node.nodeType !== 1) return;
        if (node.matches('section.nbml-sb-doc')) record(node);
        node.querySelectorAll('section.nbml-sb-doc').forEach(record);
    };
    const timer = setInterval(() => {
        const panel = document.getElementById('nbml-sidebar');
        if (!panel) return;
        clearInterval(timer);
        scan(panel);
        new MutationObserver((changes) => {
            for (const c of changes) {
                if (c.type === 'attributes') record(c.target);
                else c.addedNodes.forEach(scan);
            }
        }).observe(panel, {
            subtree: true, childList: true, attributes: true, attributeFilter: ['data-event-time'],
        });
    }, 20);
})()"""


def run_all(page: Any, sidebar: bool = False) -> None:
    """Run every cell of the page's current notebook; ``window.__nbmlRun`` says how running them
    ended (``done``, ``failed`` or an error) and ``window.__nbmlPanel`` is the notebook panel.
    With ``sidebar``, the Models panel is opened first (the notebook stays in front)."""
    page.evaluate(
        """async (sidebar) => {
            const app = window.jupyterapp;
            await app.restored;
            const panel = app.shell.currentWidget;
            await panel.context.ready;
            await panel.sessionContext.ready;
            window.__nbmlPanel = panel;
            window.__nbmlRun = undefined;
            if (sidebar) {
                app.shell.activateById('nbml-sidebar');
                app.shell.activateById(panel.id);
            }
            app.commands.execute('notebook:run-all-cells').then(
                (ok) => { window.__nbmlRun = ok === false ? 'failed' : 'done'; },
                (err) => { window.__nbmlRun = 'error: ' + err; });
        }""",
        sidebar,
    )


def kernel_value(page: Any, expr: str) -> Any:
    """``expr`` evaluated in the kernel of the notebook :func:`run_all` ran (as JSON), through
    the page's own kernel connection."""
    return page.evaluate(
        """async (expr) => {
            const kernel = window.__nbmlPanel.sessionContext.session.kernel;
            let out = '';
            const future = kernel.requestExecute(
                {code: `import json; print(json.dumps(${expr}))`, store_history: false});
            future.onIOPub = (msg) => {
                if (msg.header.msg_type === 'stream') out += msg.content.text;
            };
            await future.done;
            return JSON.parse(out);
        }""",
        expr,
    )


def lag_stats(values: list[float]) -> dict[str, Any]:
    """How many lags ``values`` holds, with their median, 90th percentile and maximum (s)."""
    return {
        "renders": len(values),
        "median_s": round(statistics.median(values), 4),
        "p90_s": round(statistics.quantiles(values, n=10)[-1], 4),
        "max_s": round(max(values), 4),
    }


def install_lag_probe(page: Any) -> None:
    """Record the sidebar's lag in ``window.nbmlLags`` (see :data:`LAG_PROBE`) on every page
    this ``page`` loads from now on."""
    page.add_init_script(LAG_PROBE)


def collect_console(page: Any) -> list[str]:
    """The browser's console errors and warnings and page errors, as they come."""
    lines: list[str] = []
    page.on(
        "console",
        lambda m: lines.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda e: lines.append(f"pageerror: {e}"))
    return lines


def shot(target: Any, name: str) -> Path:
    """Screenshot a page or locator; retried, since outputs may be re-rendered meanwhile."""
    from playwright.sync_api import Error as PlaywrightError

    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page = getattr(target, "page", target)
    for attempt in range(5):
        try:
            target.screenshot(path=str(path), timeout=10_000)
            return path
        except PlaywrightError:
            if attempt == 4:
                raise
            page.wait_for_timeout(300)
    return path


def page_errors(page: Any, scope: str = "") -> str:
    """Error outputs of the notebook(s) under the CSS selector ``scope``, for failure messages."""
    selector = f'{scope} [data-mime-type="application/vnd.jupyter.error"]'.strip()
    texts = page.locator(selector).all_inner_texts()
    return "\n---\n".join(t[-2000:] for t in texts) or "(no error output in the notebook)"


def wait_or_fail(
    page: Any, js: str, arg: Any, what: str, console: list[str], lab: Lab, timeout: int
) -> Any:
    """``page.wait_for_function(js, arg)``'s value; on timeout the test fails with ``what``,
    the notebook's errors, the console's last lines and the server's log."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        return page.wait_for_function(js, arg=arg, timeout=timeout).json_value()
    except PlaywrightTimeout:
        pytest.fail(
            f"{what}\nnotebook errors:\n{page_errors(page)}\nconsole:\n"
            + "\n".join(console[-20:])
            + f"\nserver log:\n{lab.log_tail(2000)}"
        )
