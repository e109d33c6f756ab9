"""Kernels report their models to the Jupyter server (``/nbml/kernels``), for a panel that has no
document of them: a real JupyterLab server with nbml's server extension, real kernels it started
(sessions made through its REST API, as a notebook tab makes them), driven over their own
connection files; the endpoint read with urllib (docs/notebook7.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import Lab, jupyter_lab
from jupyter_client import BlockingKernelClient
from kernel import Kernel
from test_generated_ts import conforms

from nbml.core import presence, protocol

APPEAR_BUDGET = 2.0  # s from a run's start to its model in /nbml/kernels (issue 14)
TRAIN = (
    "%%train {name} --data sklearn:digits --epochs 3000 --batch-size 16 --background --no-widget\n"
    "import keras\n"
    "keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(16, activation='relu'),"
    " keras.layers.Dense(10, activation='softmax')])"
)


class Attached(Kernel):
    """A client of a kernel the server started (its own connection; no comms)."""

    def __init__(self, connection_file: Path) -> None:
        self.kc = BlockingKernelClient(connection_file=str(connection_file))
        self.kc.load_connection_file()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)

    def shutdown(self) -> None:
        self.kc.stop_channels()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Lab]:
    # without KERAS_BACKEND: the server imports nbml, which must not choose jax for its kernels
    with jupyter_lab(tmp_path_factory.mktemp("presence"), environ={"KERAS_BACKEND": None}) as lab:
        yield lab


def call(server: Lab, path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"{server.url}{path}",
        data=data,
        method=method,
        headers={"Authorization": f"token {server.token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            text = res.read()
            return res.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def kernels(server: Lab) -> dict[str, dict[str, Any]]:
    status, listing = call(server, "/nbml/kernels")
    assert status == 200, (status, listing, server.log_tail())
    assert listing["version"] == 1
    conforms(listing, protocol.KernelListing)  # the shape labextension/src/protocol.ts declares
    return {k["id"]: k for k in listing["kernels"]}


def open_session(server: Lab, path: str) -> tuple[str, str, Attached]:
    """A notebook session (as a tab opens one): its id, its kernel's id, a client of it."""
    status, session = call(
        server,
        "/api/sessions",
        "POST",
        {"path": path, "name": path, "type": "notebook", "kernel": {"name": "python3"}},
    )
    assert status == 201, (status, session)
    kid = session["kernel"]["id"]
    return session["id"], kid, Attached(server.root.parent / "runtime" / f"kernel-{kid}.json")


def wait_for(what: str, check, timeout: float = 60, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(every)


def model(server: Lab, kid: str, name: str) -> dict[str, Any] | None:
    snap = kernels(server).get(kid, {}).get("nbml") or {}
    return next((m for m in snap.get("models", []) if m["name"] == name), None)


@pytest.mark.timeout(300)
def test_a_training_kernel_appears_is_stopped_and_goes(server):
    sid, kid, k = open_session(server, "train.ipynb")
    try:
        listed = wait_for("the new kernel in the list", lambda: kernels(server).get(kid))
        # a kernel without nbml: listed, with its notebook, and nothing from nbml
        assert listed["nbml"] is None, listed
        assert [s["path"] for s in listed["sessions"]] == ["train.ipynb"], listed
        assert listed["name"] == "python3"
        # the server's import of nbml left this kernel Keras's own default backend
        assert k.value("__import__('os').environ.get('KERAS_BACKEND')") is None

        k.ok("%load_ext nbml")
        snap = wait_for("nbml's snapshot once loaded", lambda: kernels(server)[kid]["nbml"], 5)
        assert snap["models"] == [] and snap["kernel"] == kid and snap["nbml"], snap
        assert snap["pid"] == k.value("__import__('os').getpid()"), snap

        k.ok(TRAIN.format(name="net"))
        seen = wait_for(
            "net training in /nbml/kernels",
            lambda: (m := model(server, kid, "net")) and m["status"] == "training" and m,
        )
        seen_at = time.time()
        started = seen["started"]
        print(f"net listed {seen_at - started:.2f}s after its run started")
        assert started and seen_at - started <= APPEAR_BUDGET, (
            f"net showed {seen_at - started:.2f}s after its run started"
        )
        assert seen["epochs"] == 3000 and seen["run_status"] == "running", seen
        later = wait_for(
            "net's progress to advance",
            lambda: (m := model(server, kid, "net")) and m["progress"] > seen["progress"] and m,
            timeout=10,
        )
        assert later["epoch"] >= seen["epoch"] and set(later["metrics"]) >= {"loss"}, later

        # Stop through the endpoint: the kernel's reporter calls nbml.stop
        status, reply = call(server, f"/nbml/kernels/{kid}/stop", "POST", {"model": "net"})
        assert status == 202 and reply["model"] == "net", (status, reply)
        stopped = wait_for(
            "net stopped",
            lambda: (m := model(server, kid, "net")) and m["status"] == "stopped" and m,
            timeout=20,
        )
        assert 0 < stopped["epoch"] < 3000, stopped
        answers = kernels(server)[kid]["nbml"]["answers"]
        answer = next(a for a in answers if a["token"] == reply["request"])
        assert answer["message"].startswith("Stopping net at the next batch boundary"), answer
        assert k.value("__import__('nbml').models()[0].status") == "stopped"

        # unload: the snapshot goes, the kernel stays listed
        k.ok("%unload_ext nbml")
        wait_for("no snapshot after %unload_ext", lambda: kernels(server)[kid]["nbml"] is None, 5)
        k.ok("%load_ext nbml")
        wait_for("a snapshot again", lambda: kernels(server)[kid]["nbml"] is not None, 5)
    finally:
        k.shutdown()
    # the notebook's session ends and its kernel shuts down: gone from the list, file removed
    status, _ = call(server, f"/api/sessions/{sid}", "DELETE")
    assert status == 204
    wait_for("the kernel to leave the list", lambda: kid not in kernels(server), 30)
    runtime = server.root.parent / "runtime"
    wait_for(
        "the snapshot file removed at kernel exit",
        lambda: not Path(presence.snapshot_path(str(runtime), kid)).exists(),
        10,
    )


@pytest.mark.timeout(240)
def test_bad_stop_requests_and_a_killed_kernel(server):
    sid, kid, k = open_session(server, "other.ipynb")
    runtime = server.root.parent / "runtime"
    try:
        # no nbml in the kernel: nothing to ask
        status, text = call(server, f"/nbml/kernels/{kid}/stop", "POST", {"model": "x"})
        assert status == 409 and "does not have nbml loaded" in text, (status, text)
        k.ok("%load_ext nbml")
        wait_for("the snapshot", lambda: kernels(server)[kid]["nbml"], 5)
        for body in ({}, {"model": ""}, {"model": 3}, ["net"], {"model": "x" * 201}):
            status, text = call(server, f"/nbml/kernels/{kid}/stop", "POST", body)
            assert status == 400 and "the body must be" in text, (body, status, text)
        status, text = call(server, "/nbml/kernels/no-such-kernel/stop", "POST", {"model": "x"})
        assert status == 404, (status, text)
        status, text = call(server, f"/nbml/kernels/{kid}/stop", "POST", body={"model": "x"})
        assert status == 202, (status, text)
        # a file that is no request (written by hand into the folder) is answered, not obeyed
        junk = Path(presence.folder(str(runtime))) / f"{kid}.stop-junk.json"
        junk.write_text('{"type": "run", "code": "import os"}')
        snap = wait_for(
            "both answers",
            lambda: len((s := kernels(server)[kid]["nbml"])["answers"]) >= 2 and s,
            10,
        )
        errors = {a["token"]: a.get("error") for a in snap["answers"]}
        assert errors["junk"] == "not a valid stop request", errors
        assert "no model named 'x' in this kernel" in errors[text["request"]], errors
        assert not junk.exists()

        # a kernel killed outright leaves its file; the server's restarter starts a new process
        # under the same id, which has no nbml yet: its old snapshot is not served
        pid = snap["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_for(
            "the restarted kernel listed without nbml",
            lambda: (e := kernels(server).get(kid)) and e["nbml"] is None,
            60,
        )
        assert not Path(presence.snapshot_path(str(runtime), kid)).exists()
    finally:
        k.shutdown()
        call(server, f"/api/sessions/{sid}", "DELETE")


def test_the_endpoint_needs_the_token(server):
    req = urllib.request.Request(f"{server.url}/nbml/kernels")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 403


def test_the_server_extension_imports_no_keras():
    code = (
        "import sys, nbml.server, nbml.server.handlers, nbml\n"
        "print(sorted(m for m in ('keras', 'jax', 'nbml.api', 'nbml.views.comm') "
        "if m in sys.modules))\n"
        "print(nbml._jupyter_server_extension_points())"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[]", "[{'module': 'nbml.server'}]"], out.stdout


def test_the_server_extension_may_not_import_the_training_code(tmp_path):
    from test_layers import copy_of_nbml, lint

    root = copy_of_nbml(tmp_path)
    handlers = root / "nbml" / "server" / "handlers.py"
    handlers.write_text(handlers.read_text() + "\n\ndef _up():\n    from ..views import comm\n")
    res = lint(root)
    assert res.returncode == 1, res.stdout
    assert "nbml.server is not allowed to import nbml.views" in res.stdout, res.stdout[-2000:]
