"""`make lab` serves JupyterLab on the example notebooks (the README's first set-up command)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_lab_serves_the_examples_with_the_extension(tmp_path):
    port, token = free_port(), "nbml-make-lab"
    args = (
        f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} "
        f"--ServerApp.token={token} --LabApp.news_url=None --LabApp.check_for_updates_class="
        "jupyterlab.NeverCheckForUpdate"
    )
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "LAB_ARGS": args}
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_ARGS={args}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        listing, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline and listing is None:
            try:
                url = f"http://127.0.0.1:{port}/api/contents?token={token}"
                listing = json.load(urllib.request.urlopen(url, timeout=2))
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
                time.sleep(0.5)
        assert listing is not None, "JupyterLab did not answer within 120 s"
        names = {item["name"] for item in listing["content"]}
        assert {"01_quickstart.ipynb", "05_metrics_by_hand.ipynb"} <= names
        url = f"http://127.0.0.1:{port}/lab/api/extensions?token={token}"
        extensions = json.load(urllib.request.urlopen(url, timeout=10))
        nbml = [e for e in extensions if e["name"] == "nbml"]
        assert nbml and nbml[0]["enabled"] and nbml[0]["installed"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
