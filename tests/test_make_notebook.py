"""`make notebook` serves Jupyter Notebook 7 on the example notebooks, with nbml's labextension
and its server extension (``/nbml/kernels``) enabled by the installed package."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from test_make_lab import free_port

ROOT = Path(__file__).resolve().parent.parent


def test_make_notebook_serves_the_examples_with_both_extensions(tmp_path):
    port, token = free_port(), "nbml-make-notebook"
    args = (
        f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --ServerApp.token={token}"
    )
    # the user's own config dir is left out, so only the installed package enables nbml.server
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "notebook", f"NOTEBOOK_ARGS={args}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def get(path: str):
        url = f"http://127.0.0.1:{port}{path}"
        req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
        return json.load(urllib.request.urlopen(req, timeout=10))

    try:
        listing, deadline = None, time.monotonic() + 180
        while time.monotonic() < deadline and listing is None:
            try:
                listing = get("/api/contents")
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
                time.sleep(0.5)
        assert listing is not None, "Notebook 7 did not answer within 180 s"
        names = {item["name"] for item in listing["content"]}
        assert {"01_quickstart.ipynb", "05_metrics_by_hand.ipynb"} <= names
        page = urllib.request.urlopen(
            f"http://127.0.0.1:{port}/tree?token={token}", timeout=10
        ).read()
        assert b"jupyter-config-data" in page and b'"appName": "Jupyter Notebook"' in page
        found = re.search(rb'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S)
        assert found, page[:2000]
        config = json.loads(found.group(1))
        assert any(e["name"] == "nbml" for e in config["federated_extensions"]), config
        assert get("/nbml/kernels") == {"version": 1, "kernels": []}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
