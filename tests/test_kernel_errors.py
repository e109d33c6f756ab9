"""A catalogue of user mistakes and hostile inputs, each run in one real kernel
(docs/reference.md#user-mistakes).

Every mistake must show as IPython's one-line ``UsageError`` (no traceback, no iopub ``error``
message) whose words name the fix, and must change nothing: the model ``tiny`` is still bound,
idle, on its data, with its runs and their histories, no model appeared or vanished, and
``%train tiny --epochs 1`` finishes afterwards. Legitimate edge inputs (``LEGIT``) end in a
correct result instead, and leave the kernel just as healthy.

The cases live in ``catalogue_mistakes.py``, ``catalogue_data.py`` and ``catalogue_legit.py``
(the kernel's setup in ``catalogue.py``); ``CASES`` concatenates the lists by theme, and more
lists can be appended to it.

The kernel runs with no network (its proxies point at a closed port) and a fresh, empty
``KERAS_HOME``, so ``keras:mnist`` cannot be found in a cache nor downloaded.
"""

from __future__ import annotations

from typing import Any

import pytest
from catalogue import HEALTHY, SETUP, TINY_MODEL
from catalogue_busy import BUSY_CASES, INPUT_CASES
from catalogue_data import DATA_CASES, JUDGE_CASES, LABEL_CASES, STREAM_CASES
from catalogue_inspect import INSPECT_CASES, INSPECT_LEGIT
from catalogue_legit import LEGIT
from catalogue_lr_find import LR_FIND_CASES, LR_FIND_LEGIT
from catalogue_mistakes import BASIC_CASES, NAME_CASES, OPTION_CASES
from catalogue_sweep import LR_FIND_COMBINATIONS, SWEEP_CASES
from kernel import Kernel


def train_tiny(k: Kernel) -> None:
    res = k.ok(f"%%train tiny --data sklearn:iris --epochs 1{TINY_MODEL}")
    assert "finished" in res.last_display_text, res.text
    k.ok("_tiny0 = tiny")


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """One kernel for the whole catalogue: nbml loaded, no network, an empty Keras cache."""
    keras_home = tmp_path_factory.mktemp("keras_home")
    env = {
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
        "KERAS_HOME": str(keras_home),
    }
    k = Kernel(str(tmp_path_factory.mktemp("kernel")), env=env)
    k.keras_home = str(keras_home)
    k.ok("%load_ext nbml\nimport keras, numpy as np")
    k.ok(SETUP)
    train_tiny(k)
    yield k
    k.shutdown()


@pytest.fixture
def tiny(kernel):
    """``tiny`` healthy before each case (rebuilt if an earlier case broke it)."""
    if tuple(kernel.value("_tiny_state()")) != HEALTHY:
        train_tiny(kernel)
    assert tuple(kernel.value("_tiny_state()")) == HEALTHY
    return kernel


#: Every list of mistakes; append more lists here.
CASES = [
    *BASIC_CASES,
    *OPTION_CASES,
    *NAME_CASES,
    *DATA_CASES,
    *LABEL_CASES,
    *STREAM_CASES,
    *JUDGE_CASES,
    *BUSY_CASES,
    *INPUT_CASES,
    *LR_FIND_CASES,
    *LR_FIND_COMBINATIONS,
    *SWEEP_CASES,
    *INSPECT_CASES,
]


def _clean(res: Any) -> None:
    assert res.error is None, f"{res.error['ename']}: {res.error['evalue']}"
    assert "Traceback" not in res.text, res.text


def _still_trains(kernel: Kernel) -> None:
    res = kernel.ok("_run = %train tiny --epochs 1")
    assert "finished" in res.last_display_text, res.text
    assert kernel.value("(_run.status, _run.epoch)") == ("finished", 1)
    assert tuple(kernel.value("_tiny_state()")) == HEALTHY


@pytest.mark.parametrize(("before", "code", "words"), CASES)
def test_mistake_is_a_usage_error_and_the_kernel_still_trains(tiny, before, code, words):
    kernel = tiny
    if before:
        kernel.ok(before)
    state = kernel.value("_kernel_state()")
    res = kernel.execute(code, timeout=120)
    _clean(res)
    assert res.stderr.startswith("UsageError: "), res.text
    message = res.stderr[len("UsageError: ") :].strip()
    assert "\n" not in message, message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    if "keras:mnist" in code:
        assert kernel.keras_home in message, message

    # the mistake changed nothing: tiny is still bound, idle, on its data, with its runs'
    # histories; no model appeared or vanished
    assert kernel.value("_kernel_state()") == state
    assert tuple(state[0]) == HEALTHY
    _still_trains(kernel)


@pytest.mark.parametrize(
    ("before", "code", "expr", "expected", "out"), [*LEGIT, *LR_FIND_LEGIT, *INSPECT_LEGIT]
)
def test_legitimate_edge_input_gives_the_right_result(tiny, before, code, expr, expected, out):
    kernel = tiny
    if before:
        kernel.ok(before)
    res = kernel.execute(code, timeout=120)
    _clean(res)
    assert "UsageError" not in res.stderr, res.text
    for word in out:
        assert word in res.text, f"{word!r} not in {res.text!r}"
    assert kernel.value(expr) == expected
    assert tuple(kernel.value("_tiny_state()")) == HEALTHY
    _still_trains(kernel)


def test_catalogue_is_large_enough():
    assert len(CASES) >= 100
    assert len(CASES) + len(LEGIT) >= 120
