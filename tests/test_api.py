"""The public Python API, in-process: train, evaluate, predict on tiny data."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

import nbml
from nbml import NbmlError
from nbml.core.registry import REGISTRY


@pytest.fixture(autouse=True)
def fresh_registry():
    for name in REGISTRY.names():
        REGISTRY.remove(name)
    yield


def mlp(classes=10, activation="softmax"):
    return keras.Sequential(
        [
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(classes, activation=activation),
        ]
    )


def test_digits_mlp_reaches_90_percent_and_evaluate_equals_sklearn():
    ns = {}
    run = nbml.train("m", mlp(), "sklearn:digits", epochs=12, namespace=ns, display=False)
    assert run.status == "finished" and run.epoch == 12 and len(run.history["loss"]) == 12
    assert set(run.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert ns["m"] is nbml.models()[0].model
    ev = nbml.evaluate("m")
    ds = nbml.models()[0].dataset
    pred = np.argmax(ns["m"].predict(ds.x_test, verbose=0), axis=1)
    assert (ev.confusion_matrix == confusion_matrix(ds.y_test, pred, labels=range(10))).all()
    assert (ev.precision, ev.recall, ev.f1) == precision_recall_fscore_support(
        ds.y_test, pred, average="macro", zero_division=0
    )[:3]
    assert ev.accuracy >= 0.9


def test_preprocessing_travels_inside_the_model(tmp_path):
    ns = {}
    nbml.train("m", mlp(), "sklearn:digits", epochs=2, namespace=ns, display=False)
    model, ds = ns["m"], nbml.models()[0].dataset
    norm = model.get_layer("nbml_minmax")
    # fitted on the training part only
    assert float(np.asarray(norm.mean).ravel()[0]) == ds.x_train.min()
    raw = ds.x_test[:50]
    assert raw.max() == 16  # raw pixel values go in
    labels = nbml.predict("m", raw)
    assert (labels == np.argmax(model.predict(raw, verbose=0), axis=1)).all()
    path = nbml.save("m", str(tmp_path / "m.keras"))
    again = keras.saving.load_model(path)
    assert np.allclose(again.predict(raw, verbose=0), model.predict(raw, verbose=0), atol=1e-6)


def test_string_labels_are_encoded_and_decoded():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2)).astype("float32")
    y = np.where(x[:, 0] > 0, "right", "left")
    nbml.train(
        "s",
        keras.Sequential([keras.layers.Dense(2, activation="softmax")]),
        (x, y),
        epochs=30,
        lr=0.05,
        namespace={},
        display=False,
    )
    assert set(nbml.predict("s", x[:20]).tolist()) <= {"left", "right"}
    ev = nbml.evaluate("s")
    assert ev.labels == ["left", "right"] and ev.accuracy > 0.9
    assert set(ev.report) >= {"left", "right", "macro avg"}


def test_binary_sigmoid_uses_binary_crossentropy():
    x = nbml.load_data("sklearn:breast_cancer").x_train
    ns = {}
    keras.utils.set_random_seed(0)  # the accuracy check below must not depend on luck
    model = keras.Sequential(
        [keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1, activation="sigmoid")]
    )
    nbml.train(
        "b",
        model,
        "sklearn:breast_cancer",
        epochs=15,
        normalize="standard",
        namespace=ns,
        display=False,
    )
    assert isinstance(ns["b"].loss, keras.losses.BinaryCrossentropy)
    assert nbml.evaluate("b").accuracy > 0.85
    assert set(nbml.predict("b", x[:10]).tolist()) <= {0, 1}


def test_logits_output_gets_from_logits_loss_and_probabilities():
    ns = {}
    nbml.train("l", mlp(activation=None), "sklearn:digits", epochs=3, namespace=ns, display=False)
    assert ns["l"].loss.from_logits
    p = nbml.predict("l", nbml.models()[0].dataset.x_test[:5], proba=True)
    assert np.allclose(p.sum(axis=1), 1, atol=1e-5)


def test_one_hot_labels_use_categorical_crossentropy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 3)).astype("float32")
    y = np.eye(3, dtype="float32")[np.argmax(x, axis=1)]
    ns = {}
    nbml.train(
        "o",
        keras.Sequential([keras.layers.Dense(3, activation="softmax")]),
        (x, y),
        epochs=20,
        lr=0.05,
        namespace=ns,
        display=False,
    )
    assert isinstance(ns["o"].loss, keras.losses.CategoricalCrossentropy)
    ev = nbml.evaluate("o")
    assert ev.confusion_matrix.sum() == len(nbml.models()[0].dataset.x_test)


def test_a_model_the_user_compiled_is_respected_through_preprocessing():
    model = mlp()
    model.compile(
        optimizer=keras.optimizers.SGD(0.05),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    ns = {}
    run = nbml.train("c", model, "sklearn:digits", epochs=2, namespace=ns, display=False)
    assert isinstance(ns["c"].optimizer, keras.optimizers.SGD)
    assert run.params["optimizer"] == "sgd" and run.params["lr"] == pytest.approx(0.05)


def test_retrain_continues_or_resets():
    ns = {}
    nbml.train("r", mlp(), "sklearn:digits", epochs=3, namespace=ns, display=False)
    w = ns["r"].get_weights()
    run = nbml.train("r", epochs=1, namespace=ns, display=False)
    assert run.status == "finished" and len(nbml.runs("r")) == 2
    assert run.history["loss"][0] < nbml.runs("r")[0].history["loss"][0]  # continued
    nbml.train("r", epochs=1, reset=True, namespace=ns, display=False)
    first = nbml.runs("r")[2].history["loss"][0]
    assert first > run.history["loss"][0]  # fresh weights start worse
    assert not np.allclose(ns["r"].get_weights()[-2], w[-2])


def test_augment_layers_train_only():
    ns = {}
    model = keras.Sequential(
        [
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    nbml.train(
        "a",
        model,
        "sklearn:digits",
        epochs=1,
        augment="rotate,zoom,shift,flip",
        namespace=ns,
        display=False,
    )
    names = [layer.name for layer in ns["a"].layers]
    assert {"nbml_rotate", "nbml_zoom", "nbml_shift", "nbml_flip"} <= set(names)
    x = nbml.models()[0].dataset.x_test[:8]
    assert np.array_equal(ns["a"].predict(x, verbose=0), ns["a"].predict(x, verbose=0))


def test_early_stopping():
    run = nbml.train(
        "e",
        mlp(),
        "sklearn:digits",
        epochs=200,
        early_stopping=0,
        lr=0.05,
        namespace={},
        display=False,
    )
    assert run.status == "finished" and run.epoch < 200


def test_pydataset_and_generator_streams():
    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            rng = np.random.default_rng(i)
            x = rng.normal(size=(16, 4)).astype("float32")
            return x, (x[:, 0] > 0).astype("int64")

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    run = nbml.train("p", model, Batches(), epochs=2, namespace={}, display=False)
    assert run.status == "finished" and run.epoch == 2
    with pytest.raises(NbmlError, match="no held-out test set"):
        nbml.evaluate("p")
    assert nbml.evaluate("p", Batches()).confusion_matrix.sum() == 160

    def gen():
        for i in range(6):
            x = np.random.default_rng(i).normal(size=(8, 4)).astype("float32")
            yield x, (x[:, 0] > 0).astype("int64")

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    assert nbml.train("g", model, gen(), epochs=1, namespace={}, display=False).epoch == 1


def test_nan_loss_fails_and_keeps_last_finite_weights():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(256, 4)) * 50).astype("float32")
    y = (x @ rng.normal(size=4) * 100).astype("float32")
    ns = {}
    run = nbml.train(
        "n",
        keras.Sequential([keras.layers.Dense(8), keras.layers.Dense(1)]),
        (x, y),
        optimizer="sgd",
        lr=10.0,
        epochs=10,
        namespace=ns,
        display=False,
    )
    assert run.status == "failed" and "lower learning rate" in run.message
    assert nbml.models()[0].status == "failed"
    assert all(np.isfinite(w).all() for w in ns["n"].get_weights())
    assert all(np.isfinite(v) for v in run.history.get("loss", []))


def test_regression_evaluate_and_predict_shapes():
    ns = {}
    model = keras.Sequential([keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    nbml.train(
        "d", model, "sklearn:diabetes", epochs=3, normalize="standard", namespace=ns, display=False
    )
    ev = nbml.evaluate("d")
    assert ev.task == "regression" and ev.mse > 0 and ev.rmse == pytest.approx(ev.mse**0.5)
    assert nbml.predict("d", nbml.models()[0].dataset.x_test[:4]).shape == (4,)


def test_the_training_thread_runs_nbml_code_only_when_there_is_work(monkeypatch):
    """No nbml code runs on the training thread per batch (docs/reference.md#steps-per-execution).
    Every Python call on the training thread into nbml's package is counted (a profiler): a few per
    epoch and per publish, not one per batch; no thread-pool task is made per batch either."""
    import os
    import sys

    from nbml.training import batches

    root = os.path.dirname(nbml.__file__)
    calls, lists = [], []
    original_begin = batches.LeanCallbacks.on_train_begin

    def seen(self, logs=None):
        lists.append(self)
        return original_begin(self, logs)

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(root):
            calls.append(frame.f_code.co_name)

    monkeypatch.setattr(batches.LeanCallbacks, "on_train_begin", seen)
    published = []
    unsubscribe = REGISTRY.subscribe(lambda e: published.append(e.kind))
    sys.setprofile(profile)
    try:
        run = nbml.train(
            "quiet",
            mlp(),
            "sklearn:digits",
            epochs=2,
            batch_size=8,
            display="none",
            namespace={},
            update_interval=3600,
            steps_per_execution=1,
            inspect="off",
        )  # fmt: skip  (the inspector's per-epoch work: tests/test_inspector.py)
    finally:
        sys.setprofile(None)
        unsubscribe()
    n_batches = 2 * run.steps
    assert run.status == "finished" and run.epoch == 2 and n_batches > 200
    assert [type(c) for c in lists] == [batches.LeanCallbacks]
    assert lists[0]._executor is None and not lists[0]._futures  # no pool task was made
    during = calls[calls.index("on_train_begin") : len(calls) - calls[::-1].index("on_train_end")]
    assert len(during) < n_batches / 4, (len(during), sorted(set(during)))
    assert 1 <= during.count("tick") <= 4 and published.count("batch") == 1


def test_a_callback_with_batch_hooks_gets_keras_own_list():
    """A callback of the user's that has a batch hook is called by Keras's own list, per batch,
    with the logs as floats; the publisher then runs on Keras's callback thread pool."""
    from nbml.training import batches, callbacks

    class Counter(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.losses = []

        def on_train_batch_end(self, batch, logs=None):
            self.losses.append(logs["loss"])

    publisher = callbacks.TrainingPublisher(nbml.Run("r", "n", {}, "d", 1))
    assert isinstance(batches.lean(publisher, [], epochs=1), batches.LeanCallbacks)
    assert isinstance(batches.lean(publisher, [keras.callbacks.EarlyStopping()], epochs=1),
                      batches.LeanCallbacks)  # fmt: skip
    counter = Counter()
    assert batches.lean(publisher, [counter], epochs=1) == [publisher, counter]
    run = nbml.train(
        "hooked", mlp(), "sklearn:digits", epochs=1, batch_size=64, display="none",
        namespace={}, callbacks=[counter], steps_per_execution=1,
    )  # fmt: skip
    assert run.status == "finished" and len(counter.losses) == run.steps
    assert all(isinstance(v, float) for v in counter.losses)


class _NanAfter(keras.layers.Layer):
    """Multiplies by NaN from the training batch numbered ``k`` (0-based) on."""

    def __init__(self, k: int, **kwargs):
        super().__init__(**kwargs)
        self.k = k

    def build(self, shape):
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="n")

    def call(self, x, training=False):
        if training:
            self.count.assign_add(1.0)
        return x * keras.ops.where(self.count > self.k, float("nan"), 1.0)

    def get_config(self):
        return {**super().get_config(), "k": self.k}


@pytest.mark.parametrize("interval", [0.1, 3600])
def test_a_nan_loss_is_found_at_its_first_batch(interval):
    """nbml reads the logs only now and then; the batch it names is still the first whose loss
    is not finite (found back among the batches since the last read)."""
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(16), _NanAfter(100),
                              keras.layers.Dense(10, activation="softmax")])  # fmt: skip
    before = [w.copy() for w in model.get_weights()]
    run = nbml.train(
        f"nan{interval}".replace(".", "_"), model, "sklearn:digits", epochs=2, batch_size=8,
        display="none", namespace={}, update_interval=interval, steps_per_execution=1,
    )  # fmt: skip
    assert run.status == "failed" and run.epoch == 0, run.message
    assert "at epoch 1, batch 101:" in run.message, run.message
    after = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before[:2], after[:2], strict=False))
