"""The run store is attached on the API's first use, not only by %load_ext
(docs/reference.md#runs-and-the-store)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

TRAIN = """
import keras, nbml
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
run = nbml.train("plain", model, "sklearn:iris", epochs=2, display="none")
print(run.id)
"""

LIST = """
import json, nbml
print(json.dumps([(r.id, r.name, r.status, r.epoch) for r in nbml.runs()]))
"""


def python(code: str, cwd, **env: str) -> str:
    full = {k: v for k, v in os.environ.items() if k != "NBML_STORE_PATH"}
    full.update(KERAS_BACKEND="jax", **env)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=full, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def test_a_plain_import_stores_its_run_and_a_new_process_lists_it(tmp_path):
    run_id = python(TRAIN, tmp_path)
    assert (tmp_path / ".nbml" / "runs.sqlite").exists()
    assert (tmp_path / ".nbml" / "models" / f"{run_id}.keras").exists()
    listed = json.loads(python(LIST, tmp_path))
    assert listed == [[run_id, "plain", "finished", 2]]


def test_nbml_store_path_chooses_the_folder_or_none(tmp_path):
    elsewhere = tmp_path / "runs-here"
    run_id = python(TRAIN, tmp_path, NBML_STORE_PATH=str(elsewhere))
    assert json.loads(python(LIST, tmp_path, NBML_STORE_PATH=str(elsewhere)))[0][0] == run_id
    assert not (tmp_path / ".nbml").exists()
    python(TRAIN, tmp_path, NBML_STORE_PATH="")
    assert not (tmp_path / ".nbml").exists()
