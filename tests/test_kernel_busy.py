"""A model training in the background is busy; interrupts never leave a run hanging.

docs/reference.md#busy-models (``--wait``), #principles (work is never lost) and
#runs-and-the-store (the store keeps every run's end); each test drives a real kernel.
"""

from __future__ import annotations

import pytest
from kernel import Kernel

MLP = """
keras.Sequential([
    keras.Input((8, 8, 1)),
    keras.layers.Flatten(),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
"""

# Events per run id, heard like any view: the tests count the ``end`` events.
SPY = """
import collections, time, nbml
from nbml.core.registry import REGISTRY
_events = collections.defaultdict(list)
_spy = REGISTRY.subscribe(lambda e: _events[e.run.id].append(e.kind))
def _ends(run):
    return _events[run.id].count("end")
"""


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = Kernel(str(tmp_path_factory.mktemp("busy")))
    k.ok("%load_ext nbml\nimport keras, numpy as np")
    k.ok(SPY)
    yield k
    k.shutdown()


def usage_error(k: Kernel, code: str) -> str:
    res = k.execute(code, timeout=120)
    assert res.error is None, f"{res.error['ename']}: {res.error['evalue']}"
    assert "Traceback" not in res.text, res.text
    assert res.stderr.startswith("UsageError: "), res.text
    message = res.stderr[len("UsageError: ") :].strip()
    assert "\n" not in message, message
    return message


def start_slow(k: Kernel, name: str) -> None:
    """``name`` trains in the background for far longer than the test takes."""
    k.ok(f"%%train {name} --data sklearn:digits --epochs 5000 --batch-size 8 --background{MLP}")
    k.ok(
        f"while nbml.models()[[m.name for m in nbml.models()].index('{name}')].epoch < 1:\n"
        "    time.sleep(0.05)"
    )


BUSY_CASES = [
    ("%evaluate slow", "evaluate it"),
    ("%predict slow x[:2]", "predict with it"),
    ("%save slow", "save it"),
    ("%train slow --epochs 1", "train it"),
    ("%%train twin --data sklearn:digits --epochs 1\nslow", "train it"),
]


def test_a_busy_model_says_so_and_its_run_goes_on(kernel):
    k = kernel
    k.ok("from sklearn.datasets import load_digits\nx = load_digits().images[..., None]")
    start_slow(k, "slow")
    k.ok("_slow_run = slow_run = nbml.runs('slow')[-1]")
    for code, action in BUSY_CASES:
        message = usage_error(k, code)
        assert f"to {action} now would read weights that are changing" in message, message
        assert "%stop slow" in message and "--wait" in message, message
        if "twin" in code:
            assert message.startswith("twin is the same model as slow"), message
    # nothing of that touched the run: it is still training, and twin was never made
    assert k.value("(_slow_run.status, nbml.models()[0].status)") == ("running", "training")
    assert k.value("'twin' in [m.name for m in nbml.models()]") is False
    # --wait waits for the run to end, then does the work
    k.ok("%stop slow")
    res = k.ok("_ev = %evaluate slow --wait\nprint(_slow_run.status, 0 <= _ev.accuracy <= 1)")
    assert res.stdout.split()[-2:] == ["stopped", "True"], res.text
    assert k.value("_ends(_slow_run)") == 1


def test_wait_with_each_magic(kernel):
    k = kernel
    k.ok(f"%%train quick --data sklearn:digits --epochs 2 --background{MLP}")
    res = k.ok("p = %predict quick x[:3] --wait\nprint(nbml.runs('quick')[-1].status, len(p))")
    assert res.stdout.split()[-2:] == ["finished", "3"], res.text
    k.ok("%train quick --epochs 1 --background")
    res = k.ok("%save quick saved/quick.keras --wait")
    assert "Saved quick to saved/quick.keras" in res.stdout
    assert k.value("nbml.runs('quick')[-1].status") == "finished"
    k.ok("%train quick --epochs 1 --background")
    res = k.ok("r = %train quick --epochs 1 --wait --no-widget\nprint(r.status, r.epoch)")
    assert res.stdout.split()[-2:] == ["finished", "1"], res.text
    assert k.value("[_ends(r) for r in nbml.runs('quick')]") == [1, 1, 1, 1]


SLOW_SAVE = """
import nbml.store.writer as _w
_saved = []
if not hasattr(_w, "_fast_serialise"):
    _w._fast_serialise = _w._serialise
def _slow(model):
    time.sleep(1.0)
    blob = _w._fast_serialise(model)
    _saved.append(time.time())
    return blob
_w._serialise = _slow
"""


def test_a_retrain_in_the_moment_after_the_end_waits_for_the_save(kernel):
    """The run's status flips before its model is saved; a Retrain then must not race it."""
    k = kernel
    k.ok(SLOW_SAVE)
    try:
        k.ok(f"%%train saver --data sklearn:digits --epochs 1 --background{MLP}")
        code = (
            "_first = nbml.runs('saver')[-1]\n"
            "while _first.status == 'running':\n"
            "    time.sleep(0.001)\n"
            "_again = nbml.train('saver', epochs=1, display='none')\n"
            "print(len(_saved), _again.started >= _saved[0], _again.status)"
        )
        res = k.ok(code)
        assert res.stdout.split()[-3:] == ["2", "True", "finished"], res.text
    finally:
        k.ok("_w._serialise = _w._fast_serialise")


def wait_for(marker: str):
    def seen(msg: dict) -> bool:
        return msg["msg_type"] == "stream" and marker in msg["content"].get("text", "")

    return seen


def test_an_interrupt_before_fit_starts_ends_the_run(kernel):
    """An interrupt between registering the run and fit's own handler: stopped, one end."""
    k = kernel
    k.ok(
        "import nbml.views.showing as _views\n"
        "_show = _views.show_run\n"
        "def _slow_show(*a, **kw):\n"
        "    print('SHOWING', flush=True)\n"
        "    time.sleep(2)\n"
        "    return _show(*a, **kw)\n"
        "_views.show_run = _slow_show"
    )
    try:
        res = k.execute(
            f"%%train early --data sklearn:digits --epochs 3{MLP}",
            until=wait_for("SHOWING"),
            then=k.interrupt,
        )
    finally:
        k.ok("_views.show_run = _show")
    assert res.error is None, res.text
    assert "Traceback" not in res.text, res.text
    run = "nbml.runs('early')[-1]"
    assert k.value(f"({run}.status, {run}.epoch, _ends({run}))") == ("stopped", 0, 1)
    assert k.value("[m.status for m in nbml.models() if m.name == 'early']") == ["stopped"]
    assert "before its first epoch" in k.value(f"{run}.message")
    # and the model trains again
    assert k.value("nbml.train('early', epochs=1, display='none').status") == "finished"


def test_an_interrupt_while_the_end_is_published_loses_nothing(kernel):
    """The end goes to every subscriber, the run store last: an interrupt cannot cut it off."""
    k = kernel
    k.ok(
        "def _slow_view(e):\n"
        "    if e.kind == 'end' and e.run.name == 'late':\n"
        "        print('ENDING', flush=True)\n"
        "        time.sleep(2)\n"
        "_slow_unsub = REGISTRY.subscribe(_slow_view)"
    )
    try:
        res = k.execute(
            f"%%train late --data sklearn:digits --epochs 1{MLP}",
            until=wait_for("ENDING"),
            then=k.interrupt,
        )
    finally:
        k.ok("_slow_unsub()")
    assert res.error is None, res.text
    assert "Traceback" not in res.text, res.text
    k.ok("import nbml.store\nassert nbml.store.current().flush(30)")
    stored = "nbml.store.current().run(nbml.runs('late')[-1].id)"
    status, has_model = k.value(f"({stored}.status, bool({stored}.model_path))")
    assert (status, has_model) == ("finished", True)
    assert k.value("_ends(nbml.runs('late')[-1])") == 1
