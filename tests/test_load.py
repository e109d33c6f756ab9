"""Loading is cheap, idempotent and reversible (docs/reference.md#loading-and-settings)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import sys
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
ip.run_line_magic("load_ext", "nbml")
assert "keras" not in sys.modules, "load_ext imported keras"
assert "jax" not in sys.modules and "tensorflow" not in sys.modules
import os
assert os.environ["KERAS_BACKEND"] == "jax"
ip.run_line_magic("load_ext", "nbml")
import nbml
nbml.load_ipython_extension(ip)  # a second direct load is harmless too
magics = ip.magics_manager.magics
assert {"train", "evaluate", "predict", "models", "devices", "stop", "save", "runs"} <= set(magics["line"])
assert "train" in magics["cell"]
assert sum(type(c).__name__ == "NbmlMagics" for c in ip.configurables) == 1
ip.run_line_magic("config", "NbmlMagics.default_epochs = 3")
assert [c for c in ip.configurables if type(c).__name__ == "NbmlMagics"][0].default_epochs == 3
ip.run_line_magic("unload_ext", "nbml")
assert "train" not in magics["line"] and "train" not in magics["cell"]
assert "save" in magics["line"] and magics["line"]["save"].__self__.__class__.__name__ != "NbmlMagics"
print("ok")
"""


def test_load_ext_is_cheap_idempotent_and_unloads():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_respects_a_chosen_backend():
    code = "import os; os.environ['KERAS_BACKEND']='numpy'; import nbml; print(os.environ['KERAS_BACKEND'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "numpy"
