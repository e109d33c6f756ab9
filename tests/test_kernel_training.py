"""%%train, %evaluate and friends end to end in a real kernel."""

from __future__ import annotations

import re

MLP = """
keras.Sequential([
    keras.layers.Flatten(),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
"""


def test_train_digits_binds_model_and_shows_one_progress_display(kernel):
    res = kernel.ok(f"%%train mlp --data sklearn:digits --epochs 12{MLP}")
    # one display, updated in place; no other output
    assert len(res.displays) == 1
    display_id = res.displays[0]["transient"]["display_id"]
    assert all(u["transient"]["display_id"] == display_id for u in res.updates)
    assert res.result is None and res.stdout == "" and res.stderr == ""
    final = res.last_display_text
    assert final.startswith("mlp · finished · 12/12 epochs"), final
    assert "val_loss" in final and "accuracy" in final
    assert "text/html" in res.displays[0]["data"]
    assert kernel.value("type(mlp).__name__") in ("Functional", "Model")
    assert kernel.value("[m.name for m in __import__('nbml').models()]") == ["mlp"]
    assert kernel.value("__import__('nbml').models()[0].epoch") == 12
    assert kernel.value("len(__import__('nbml').models()[0].history['loss'])") == 12


def test_evaluate_matches_sklearn_and_displays_once(kernel):
    res = kernel.ok("%evaluate mlp")
    assert res.result is not None and "text/html" in res.result
    assert "<table" in res.result["text/html"] and "confusion matrix" in res.result["text/html"]
    res = kernel.ok("ev = %evaluate mlp")
    assert res.result is None and not res.displays
    kernel.ok(
        """
import numpy as np, nbml
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, accuracy_score
rec = nbml.models()[0]
x, y = rec.dataset.x_test, rec.dataset.y_test
pred = np.argmax(mlp.predict(x, verbose=0), axis=1)
assert (ev.confusion_matrix == confusion_matrix(y, pred, labels=range(10))).all()
assert ev.accuracy == accuracy_score(y, pred)
p, r, f, s = precision_recall_fscore_support(y, pred, average="macro", zero_division=0)
assert (ev.precision, ev.recall, ev.f1) == (p, r, f)
assert ev.accuracy >= 0.9, ev.accuracy
"""
    )


def test_line_train_returns_run_and_continues_from_weights(kernel):
    kernel.ok(
        "import nbml\ntest_xy = (nbml.models()[0].dataset.x_test, nbml.models()[0].dataset.y_test)"
    )
    before = kernel.value("float(mlp.evaluate(*test_xy, verbose=0)[0])")
    res = kernel.ok(
        "run = %train mlp --epochs 2\nprint(run.status, run.epoch, len(nbml.runs('mlp')))"
    )
    assert res.stdout.split() == ["finished", "2", "2"]
    after = kernel.value("float(mlp.evaluate(*test_xy, verbose=0)[0])")
    assert after < before * 1.5  # continued from trained weights, not from scratch (loss ~2.3)
    assert after < 1.0


def test_models_devices_predict_save_runs(kernel, tmp_path):
    out = kernel.ok("%models").result["text/plain"]
    assert re.search(r"mlp\s+idle\s+2/2", out), out
    assert "steps/call" in out.splitlines()[0], out  # the N --steps-per-execution used
    spe = kernel.value("nbml.models()[0].run.params['steps_per_execution']")
    assert re.search(rf"cpu\S*\s+{spe}\s", out), out
    out = kernel.ok("%devices").result["text/plain"]
    assert "cpu" in out and "host:" in out and "CPUs" in out
    out = kernel.ok("%predict mlp nbml.models()[0].dataset.x_test[:3]").result["text/plain"]
    assert out.startswith("array([")
    out = kernel.ok(
        "p = %predict mlp nbml.models()[0].dataset.x_test[:3] --proba\nprint(p.shape, abs(p.sum(axis=1) - 1).max() < 1e-4)"
    )
    assert out.stdout.strip() == "(3, 10) True"
    path = tmp_path / "m.keras"
    res = kernel.ok(f"%save mlp {path}")
    assert path.exists() and "Saved mlp" in res.stdout
    kernel.ok(
        f"""
m2 = keras.saving.load_model({str(path)!r})
x = nbml.models()[0].dataset.x_test[:20]
assert np.allclose(m2.predict(x, verbose=0), mlp.predict(x, verbose=0), atol=1e-5)
"""
    )
    out = kernel.ok("%runs mlp").result["text/plain"]
    assert out.count("mlp") >= 2 and "finished" in out
    res = kernel.ok("%stop mlp")
    assert "not training" in res.stdout


def test_help_text(kernel):
    res = kernel.ok("%train --help")
    assert "--data" in res.stdout and "--epochs" in res.stdout
    res = kernel.ok("%evaluate --help")
    assert "--average" in res.stdout


def test_interrupt_stops_gracefully_keeping_weights_and_history(kernel):
    kernel.ok("import nbml")
    big = "((np.random.default_rng(0).random((20000, 64), dtype='float32'), np.random.default_rng(1).integers(0, 10, 20000)))"
    kernel.ok(f"big = {big}")

    def after_two_epochs(msg):
        if msg["msg_type"] in ("update_display_data", "display_data"):
            m = re.search(r"epoch (\d+)/", msg["content"]["data"].get("text/plain", ""))
            if m and int(m.group(1)) >= 3:
                return True
        return False

    res = kernel.execute(
        "%%train slow --data big --epochs 200 --batch-size 16 --no-widget\n"
        "keras.Sequential([keras.layers.Dense(256, activation='relu'), keras.layers.Dense(10, activation='softmax')])",
        until=after_two_epochs,
        then=kernel.interrupt,
    )
    assert res.error is None, res.error
    assert "Traceback" not in res.text
    final = res.last_display_text
    assert "stopped" in final and "interrupt" in final, final
    status, epoch, hist = kernel.value(
        "(nbml.models()[-1].status, nbml.models()[-1].epoch, len(nbml.models()[-1].history['loss']))"
    )
    assert status == "stopped"
    assert 2 <= epoch < 200 and hist == epoch
    assert kernel.value("type(slow).__name__") in ("Sequential", "Functional")
    # the kernel still trains
    kernel.ok("%train slow --epochs 1")
    assert kernel.value("nbml.models()[-1].status") == "idle"


def test_nan_loss_fails_and_restores_last_finite_weights(kernel):
    kernel.ok(
        "rng = np.random.default_rng(0)\n"
        "xr = rng.normal(size=(512, 8)).astype('float32') * 50\n"
        "yr = (xr @ rng.normal(size=8) * 100).astype('float32')\n"
        "explode = (xr, yr)"
    )
    res = kernel.ok(
        "%%train boom --data explode --optimizer sgd --lr 10 --epochs 20 --normalize none\n"
        "keras.Sequential([keras.layers.Dense(16), keras.layers.Dense(1)])"
    )
    final = res.last_display_text
    assert "failed" in final and "lower learning rate" in final, final
    assert re.search(r"at epoch \d+, batch \d+", final), final
    status, epoch, finite = kernel.value(
        "(nbml.models()[-1].status, nbml.models()[-1].epoch,"
        " all(np.isfinite(w).all() for w in boom.get_weights()))"
    )
    assert status == "failed" and finite
    assert kernel.value("all(np.isfinite(v) for v in nbml.models()[-1].history.get('loss', []))")
