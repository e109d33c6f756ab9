"""Compile choices: a --loss or --metrics that cannot read the labels is refused before the model
is compiled (Keras would fail inside fit and leave the model compiled with it)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from nbml import NbmlError
from nbml.ml.compiling import check_loss, check_metrics, compile_model
from nbml.ml.tasks import Task

INDICES = Task("classification", [0, 1, 2], ["a", "b", "c"])
ONE_HOT = Task("classification", [0, 1, 2], ["a", "b", "c"], one_hot=True)
BINARY = Task("classification", [0, 1], ["no", "yes"])
REGRESSION = Task("regression")


@pytest.mark.parametrize(
    ("loss", "task", "units", "words"),
    [
        ("categorical_crossentropy", INDICES, 3, "compares the outputs with one-hot rows"),
        ("kld", INDICES, 3, "compares the outputs with one-hot rows"),
        ("binary_crossentropy", INDICES, 3, "one sigmoid output per sample, but this model has 3"),
        ("sparse_categorical_crossentropy", ONE_HOT, 3, "takes class indices, but these labels"),
        ("sparse_categorical_crossentropy", BINARY, 1, "needs one output per class"),
        ("sparse_categorical_crossentropy", REGRESSION, 1, "needs class labels; these targets"),
    ],
)
def test_loss_that_cannot_read_the_labels(loss, task, units, words):
    with pytest.raises(NbmlError, match=words):
        check_loss(loss, task, units)


@pytest.mark.parametrize(
    ("loss", "task", "units"),
    [
        ("sparse_categorical_crossentropy", INDICES, 5),
        ("SparseCategoricalCrossentropy", INDICES, 3),
        ("categorical_crossentropy", ONE_HOT, 3),
        ("binary_crossentropy", BINARY, 1),
        ("mse", REGRESSION, 1),
        ("auto", INDICES, 3),
    ],
)
def test_loss_that_fits(loss, task, units):
    check_loss(loss, task, units)


def test_metrics_that_cannot_read_the_labels():
    with pytest.raises(NbmlError, match="--metrics auc does not fit these labels .class indices"):
        check_metrics("accuracy,auc", INDICES, 3)
    with pytest.raises(
        NbmlError, match="sparse_categorical_accuracy does not fit these labels .one-hot"
    ):
        check_metrics(["sparse_categorical_accuracy"], ONE_HOT, 3)
    check_metrics("accuracy,sparse_top_k_categorical_accuracy", INDICES, 10)
    with pytest.raises(NbmlError, match="top 5 classes, but this model has 3 outputs"):
        check_metrics("accuracy,sparse_top_k_categorical_accuracy", INDICES, 3)
    check_metrics("auc,precision", BINARY, 1)
    check_metrics("mae,mse", REGRESSION, 1)


def test_a_refused_loss_leaves_the_model_as_it_was():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(NbmlError, match="one-hot rows"):
        compile_model(model, INDICES, loss="categorical_crossentropy")
    assert model.loss == "sparse_categorical_crossentropy"


def test_a_stream_has_as_many_classes_as_the_model_has_outputs():
    from nbml.ml.compiling import check_head

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="softmax")])
    seen = Task("classification", [0, 1, 2], ["0", "1", "2"])  # a first batch without 3 and 4
    check_head(model, seen, None)
    assert seen.classes == [0, 1, 2, 3, 4] and seen.encode(np.array([4])) == 4
    arrays = Task("classification", [0, 1, 2], ["0", "1", "2"])
    check_head(model, arrays, np.array([0, 1, 2]))  # arrays: all the classes
    assert arrays.classes == [0, 1, 2]


def test_lr_alone_keeps_the_models_optimizer_loss_and_metrics():
    """`%train NAME --lr X` changes the rate only: a model compiled with SGD and momentum keeps
    SGD and its momentum, its own loss and metrics (not adam and the automatic ones)."""
    import keras

    import nbml

    x = np.random.default_rng(0).random((60, 4)).astype("float32")
    y = (x[:, 0] > 0.5).astype("int64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    loss = keras.losses.SparseCategoricalCrossentropy(name="my_loss")
    model.compile(
        keras.optimizers.SGD(0.1, momentum=0.9), loss=loss, metrics=["sparse_categorical_accuracy"]
    )
    ns: dict = {}
    nbml.train("sgdm", model, (x, y), epochs=1, display="none", namespace=ns)
    nbml.train("sgdm", None, epochs=1, lr=0.01, display="none", namespace=ns)
    opt = ns["sgdm"].optimizer
    assert type(opt).__name__ == "SGD" and opt.get_config()["momentum"] == pytest.approx(0.9)
    assert float(opt.learning_rate) == pytest.approx(0.01)
    assert ns["sgdm"].loss is loss
    assert "sparse_categorical_accuracy" in nbml.runs("sgdm")[-1].history
    # auto-compiled by nbml, then --lr: the same auto loss and metrics, adam at the new rate
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    nbml.train("auto", plain, (x, y), epochs=1, display="none", namespace=ns)
    nbml.train("auto", None, epochs=1, lr=0.005, display="none", namespace=ns)
    assert type(ns["auto"].optimizer).__name__ == "Adam"
    assert float(ns["auto"].optimizer.learning_rate) == pytest.approx(0.005)
    assert "accuracy" in nbml.runs("auto")[-1].history
    # naming the optimizer still replaces it
    nbml.train("sgdm", None, epochs=1, optimizer="rmsprop", lr=0.002, display="none", namespace=ns)
    assert type(ns["sgdm"].optimizer).__name__ == "RMSprop"
