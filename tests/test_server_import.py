"""The Jupyter server imports nbml (to find its extension points) and ``nbml.server``: that
imports nothing of the kernel side and chooses no backend, while a kernel still gets ``jax``
from ``import nbml`` and the views at the API's first use (nbml/__init__.py, docs/architecture.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from kernel import Kernel

KERNEL_SIDE = ("IPython", "ipykernel", "keras", "jax", "nbml.views", "nbml.api", "nbml.magics")


def _run(code: str) -> dict:
    """Run ``code`` in a fresh Python without KERAS_BACKEND; it prints one JSON line last."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


REPORT = (
    "import json, os\n"
    f"print(json.dumps({{'loaded': [m for m in {KERNEL_SIDE!r} if m in sys.modules],"
    " 'backend': os.environ.get('KERAS_BACKEND')}))\n"
)


def test_importing_the_server_extension_imports_nothing_of_the_kernel():
    got = _run("import sys, nbml.server, nbml.server.handlers\n" + REPORT)
    assert got["loaded"] == [], got


def test_a_jupyter_server_finds_the_extension_and_chooses_no_backend():
    # the server's own discovery: it imports the package `nbml`, then the module it names
    code = (
        "import sys\n"
        "from jupyter_server.serverapp import ServerApp\n"
        "from jupyter_server.extension.utils import get_metadata\n"
        "module, points = get_metadata('nbml')\n"
        "assert points == [{'module': 'nbml.server'}], points\n"
        "__import__(points[0]['module'])\n" + REPORT
    )
    got = _run(code)
    assert got == {"loaded": [], "backend": None}, got


def test_a_kernel_importing_nbml_then_keras_trains_on_jax():
    got = _run(
        "import sys, nbml\n"
        "views = 'nbml.views' in sys.modules\n"
        "import keras\n"
        "import json\n"
        "print(json.dumps({'views': views, 'backend': keras.backend.backend()}))\n"
    )
    assert got == {"views": False, "backend": "jax"}, got


SHELL = r"""
import json, sys
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
import nbml
before = "nbml.views" in sys.modules
{use}
import nbml.views
printers = ip.display_formatter.mimebundle_formatter.deferred_printers
print(json.dumps({{"before": before, "installed": nbml.views._installed,
    "formatted": ("nbml.ml.evaluation", "Evaluation") in printers}}))
"""


def test_the_views_are_installed_at_the_first_use_of_the_api():
    uses = {
        "nbml.evaluate": "nbml.evaluate",
        "from nbml import LiveMonitor": "from nbml import LiveMonitor",
        "from nbml.api import train": "from nbml.api import train",
        "import nbml.api.sweep": "import nbml.api.sweep",
        "%load_ext nbml": "ip.run_line_magic('load_ext', 'nbml')",
    }
    for what, use in uses.items():
        got = _run(SHELL.format(use=use))
        assert got == {"before": False, "installed": True, "formatted": True}, (what, got)


FIT = """
import numpy as np, keras
from nbml.training.callbacks import LiveMonitor
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)], name="direct")
model.compile("sgd", "mse")
model.fit(np.ones((8, 3)), np.ones(8), epochs=1, verbose=0,
          callbacks=[LiveMonitor(display="text")])
"""


def test_a_kernel_shows_a_live_monitor_imported_from_its_module(tmp_path):
    k = Kernel(str(tmp_path))
    try:
        k.ok("import nbml")
        assert k.value("'nbml.views' in __import__('sys').modules") is False
        res = k.ok(FIT)
        assert "direct" in res.text and "finished" in res.text, res.text
        assert k.value("__import__('nbml.views').views._installed") is True
    finally:
        k.shutdown()
