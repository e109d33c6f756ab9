"""%%lr_find and %lr_find end to end in a real kernel (docs/reference.md#the-learning-rate-finder),
on the backend the suite runs (``make test-backends`` runs this module on TensorFlow and torch too).

- The cell form on the digits shows the chart once and suggests a rate in [1e-4, 1e-1]; ``%train
  NAME --lr <suggestion> --epochs 10`` then needs no ``--data`` and reaches >= 0.9 test accuracy.
- The line form on a trained model returns the finding and puts every variable of the model,
  its optimizer and metrics back bit for bit (and the optimizer's rate variable, iterations,
  train function and steps per call).
- Data with fewer batches than ``--steps`` is cycled; a model that diverges at once still gives
  a finding that says so; a NaN loss is no crash.
- Mistakes are one-line UsageErrors naming the fix (more in tests/catalogue_lr_find.py).
"""

from __future__ import annotations

import re
import time

import pytest

MLP = """
keras.Sequential([
    keras.layers.Flatten(),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
"""

IRIS = """
keras.Sequential([
    keras.Input((4,)),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(3, activation="softmax"),
])
"""

STATE = (
    "[np.array(v.numpy()) for v in "
    "[*{0}.variables, *{0}.optimizer.variables, *{0}.metrics_variables]]"
)


def test_cell_form_shows_the_chart_suggests_a_rate_that_trains_the_digits(kernel):
    kernel.ok("keras.utils.set_random_seed(0)")
    res = kernel.ok(f"%%lr_find mlp --data sklearn:digits{MLP}")
    assert res.result is None and "UsageError" not in res.stderr
    assert len(res.displays) == 1, res.text
    data = res.displays[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" in data  # the chart widget
    assert "<svg" in data["text/html"] and "nbml-lr-marker" in data["text/html"]  # static too
    text = data["text/plain"]
    assert text.startswith("mlp: learning-rate finder"), text
    suggestion = float(re.search(r"suggestion ([0-9.e+-]+) \(", text).group(1))
    assert 1e-4 <= suggestion <= 1e-1, text
    # NAME is the untrained model, registered with its split, and no run was stored
    assert kernel.value("[m.name for m in __import__('nbml').models()]") == ["mlp"]
    assert kernel.value("__import__('nbml').models()[0].runs") == []
    assert kernel.value("int(mlp.optimizer.iterations.numpy())") == 0
    # the suggestion trains it, without --data
    res = kernel.ok(f"%train mlp --lr {suggestion} --epochs 10")
    assert "finished" in res.last_display_text, res.text
    assert kernel.value("__import__('nbml').models()[0].runs[-1].params['lr']") == pytest.approx(
        suggestion, rel=1e-6
    )
    kernel.ok("_ev = %evaluate mlp")
    assert kernel.value("float(_ev.accuracy)") >= 0.9


def test_line_form_returns_the_finding_and_puts_the_model_back_exactly(kernel):
    kernel.ok(
        "_before = " + STATE.format("mlp") + "\n"
        "_rate, _fn = mlp.optimizer._learning_rate, mlp.train_function\n"
        "_spe, _lr = mlp.steps_per_execution, float(np.asarray(mlp.optimizer.learning_rate))\n"
        "_it = int(mlp.optimizer.iterations.numpy())\n"
        "_rng = np.random.get_state()[1].copy()"
    )
    assert kernel.value("_it") > 0  # trained: its Adam moments are not zeros
    res = kernel.ok("f = %lr_find mlp --steps 60")
    assert res.result is None and not res.displays
    kernel.ok(
        "_after = " + STATE.format("mlp") + "\n"
        "assert len(_after) == len(_before)\n"
        "for a, b in zip(_after, _before):\n"
        "    assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)\n"
        "assert mlp.optimizer._learning_rate is _rate and mlp.train_function is _fn\n"
        "assert mlp.steps_per_execution == _spe\n"
        "assert float(np.asarray(mlp.optimizer.learning_rate)) == _lr\n"
        "assert int(mlp.optimizer.iterations.numpy()) == _it\n"
        "assert np.array_equal(np.random.get_state()[1], _rng)"
    )
    assert kernel.value("type(f).__name__") == "LRFinding"
    assert kernel.value("len(f.lrs) == len(f.losses) and 2 <= len(f.lrs) <= 60")
    assert kernel.value("sorted(f.suggestions)") == ["minimum", "steep", "valley"]
    # the growing rate reached the compiled step: the trained model's loss blew up past 4x its
    # best before the last batch (at a fixed rate it would have stayed low)
    assert kernel.value("(f.stopped, f.lrs[-1] > 1e-3, max(f.losses) > 4 * min(f.losses))") == (
        "diverged",
        True,
        True,
    )
    # shown on its own, it is the chart
    res = kernel.ok("f")
    assert "application/vnd.jupyter.widget-view+json" in res.result, res.result.keys()
    # and the model trains on from where it was
    res = kernel.ok("%train mlp --epochs 1")
    assert "finished" in res.last_display_text, res.text


def test_data_with_fewer_batches_than_steps_is_cycled(kernel):
    kernel.ok(
        "import nbml\n"
        "f = nbml.lr_find('small', " + IRIS.strip() + ", 'sklearn:iris', steps=40, end=0.01)"
    )
    # 150 rows: 96 to train on, 3 batches of 32 per pass; 40 batches were still trained
    assert (
        kernel.value("len([m for m in nbml.models() if m.name == 'small'][0].dataset.x_train)")
        == 96
    )
    assert kernel.value("(len(f.lrs), f.stopped)") == (40, "finished")
    assert kernel.value("f.suggestion is not None and all(np.isfinite(f.losses))")


def test_a_model_that_diverges_at_once_still_gives_a_finding_that_says_so(kernel):
    res = kernel.ok(f"%%lr_find wild --data sklearn:digits --start 10 --end 10000{MLP}")
    text = res.displays[0]["data"]["text/plain"]
    assert "no suggestion" in text and "diverged at once" in text, text
    assert "lower --start" in text
    # put back: untrained and finite
    kernel.ok(
        "assert int(wild.optimizer.iterations.numpy()) == 0\n"
        "assert all(np.isfinite(np.asarray(v.numpy())).all() for v in wild.variables)"
    )


def test_a_nan_loss_is_a_finding_not_a_crash(kernel):
    kernel.ok(
        "_x = np.random.default_rng(0).random((200, 4)).astype('float32')\n"
        "_y = (_x[:, 0] * 3).astype('int64')\n"
        "_w = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation='softmax')])\n"
        "_w.build((None, 4))\n"
        "_w.layers[0].kernel.assign(np.full((4, 3), np.nan, 'float32'))\n"
        "f = nbml.lr_find('nanny', _w, (_x, _y))"
    )
    assert kernel.value("(f.suggestion, f.stopped, len(f.lrs))") == (None, "diverged", 1)
    assert "very first batch" in kernel.value("f.message")


def test_no_widget_shows_the_static_chart_only(kernel):
    res = kernel.ok(f"%%lr_find plain --data sklearn:iris --steps 20 --no-widget{IRIS}")
    (shown,) = res.displays
    assert "application/vnd.jupyter.widget-view+json" not in shown["data"], shown["data"].keys()
    assert "<svg" in shown["data"]["text/html"], shown["data"]["text/html"][:300]


def test_an_interrupt_stops_the_finder_with_its_curve_so_far_and_the_model_back(kernel):
    kernel.ok(
        "_big = (np.random.default_rng(0).random((4000, 64), dtype='float32'), "
        "np.random.default_rng(1).integers(0, 10, 4000))\n"
        "_slow = keras.Sequential([keras.Input((64,)), keras.layers.Dense(512, activation='relu'),"
        " keras.layers.Dense(10, activation='softmax')])"
    )

    def started(msg):
        return msg["msg_type"] == "stream" and "finding" in msg["content"]["text"]

    def interrupt_soon():
        time.sleep(4)  # past the data split and the compile: the finder is training
        kernel.interrupt()

    res = kernel.execute(
        "print('finding', flush=True)\n"
        "f = nbml.lr_find('slow', _slow, _big, steps=10000, end=0.001, batch_size=8)",
        until=started,
        then=interrupt_soon,
    )
    assert res.error is None and "Traceback" not in res.text, res.text
    stopped, n, message = kernel.value("(f.stopped, len(f.lrs), f.message)")
    assert stopped == "interrupted" and 1 <= n < 10000, (stopped, n)
    assert "Stopped by an interrupt" in message
    kernel.ok(
        "assert int(slow.optimizer.iterations.numpy()) == 0\nassert slow is nbml.models()[-1].model"
    )
    res = kernel.ok("%train slow --epochs 1")  # the kernel and the model carry on
    assert "finished" in res.last_display_text, res.text


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("%lr_find mlp --epochs 5", ["--epochs does not apply to %lr_find", "--steps N"]),
        ("%lr_find mlp --start 1 --end 0.1", ["--end (0.1) must be above --start (1)"]),
        ("%lr_find mlp --steps 3", ["--steps must be from 10 to 10,000", "not 3"]),
        (f"%%lr_find other{MLP}", ["Say what to train other on", "--data sklearn:digits"]),
        ("%%lr_find other --data sklearn:digits\n_z = 1", ["The %%lr_find cell yields no"]),
    ],
)
def test_mistakes_are_one_line_usage_errors_naming_the_fix(kernel, code, words):
    before = kernel.value("sorted(m.name for m in nbml.models())")
    res = kernel.execute(code)
    assert res.error is None and res.stderr.startswith("UsageError: "), res.text
    message = res.stderr[len("UsageError: ") :].strip()
    assert "\n" not in message, message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert kernel.value("sorted(m.name for m in nbml.models())") == before


def test_help_lists_the_finders_options_and_the_training_ones(kernel):
    res = kernel.ok("%lr_find --help")
    for flag in ("--start", "--end", "--steps", "--data", "--batch-size", "--optimizer"):
        assert flag in res.stdout, res.stdout
