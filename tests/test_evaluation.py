"""Evaluation equals scikit-learn exactly (docs/reference.md#evaluating)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    classification_report,
    confusion_matrix,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    r2_score,
)

from nbml import Evaluation, NbmlError
from nbml.views.evaluations import evaluation_html


@pytest.fixture
def preds():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 500)
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, 4, 500))
    y_pred[y_pred == 3] = 2  # class 3 never predicted: zero_division matters
    return y_true, y_pred


@pytest.mark.parametrize("average", ["macro", "weighted", "micro"])
def test_classification_equals_sklearn(preds, average):
    y_true, y_pred = preds
    ev = Evaluation("m", "classification", y_true, y_pred, labels=list("abcd"), average=average)
    assert (ev.confusion_matrix == confusion_matrix(y_true, y_pred)).all()
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
    assert (ev.precision, ev.recall, ev.f1) == (p, r, f)
    assert ev.accuracy == np.mean(y_true == y_pred)
    per = precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    for i, lab in enumerate("abcd"):
        row = ev.report[lab]
        assert (row["precision"], row["recall"], row["f1-score"]) == (
            per[0][i],
            per[1][i],
            per[2][i],
        )
        assert row["support"] == per[3][i] == ev.support[i]
    ref = classification_report(
        y_true, y_pred, target_names=list("abcd"), output_dict=True, zero_division=0
    )
    assert ev.report == ref


def test_misclassified_indexes_the_cell(preds):
    y_true, y_pred = preds
    ev = Evaluation("m", "classification", y_true, y_pred, labels=["a", "b", "c", "d"])
    idx = ev.misclassified("a", "c")
    assert len(idx) == ev.confusion_matrix[0, 2]
    assert (y_true[idx] == 0).all() and (y_pred[idx] == 2).all()
    assert (ev.misclassified(0, 2) == idx).all()
    with pytest.raises(NbmlError, match="Unknown class 'z'"):
        ev.misclassified("z", "a")


def test_regression_metrics():
    rng = np.random.default_rng(1)
    t = rng.normal(size=200)
    p = t + rng.normal(scale=0.3, size=200)
    ev = Evaluation("r", "regression", t, p)
    assert ev.mse == mean_squared_error(t, p) and ev.mae == mean_absolute_error(t, p)
    assert ev.r2 == r2_score(t, p) and ev.rmse == pytest.approx(np.sqrt(ev.mse))
    assert "<svg" in evaluation_html(ev)


def test_html_report_escapes_and_shows_matrix(preds):
    y_true, y_pred = preds
    ev = Evaluation("<b>x</b>", "classification", y_true, y_pred, labels=["<i>", "b", "c", "d"])
    html = evaluation_html(ev)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "&lt;i&gt;" in html
    assert html.count("<table") == 3  # metrics, per-class, confusion matrix
    assert f">{ev.confusion_matrix[0, 0]}</td>" in html and "rgba(31,119,180" in html
    assert "confusion matrix" in ev.text()


def test_a_predicted_unit_beyond_the_classes_counts_as_wrong():
    # labels 0..2 and a Dense(5) softmax: a prediction of 4 is a miss, listed as "output 4"
    y_true = np.array([0, 1, 2, 0, 1, 2, 0])
    y_pred = np.array([0, 4, 2, 0, 1, 4, 1])
    ev = Evaluation("m", "classification", y_true, y_pred, labels=["a", "b", "c"])
    assert ev.labels == ["a", "b", "c", "output 4"]
    assert ev.confusion_matrix.sum() == len(y_true)
    assert (ev.confusion_matrix == confusion_matrix(y_true, y_pred)).all()
    assert ev.accuracy == np.mean(y_true == y_pred) == 4 / 7
    ref = classification_report(
        y_true, y_pred, target_names=ev.labels, output_dict=True, zero_division=0
    )
    assert ev.report == ref
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    assert (ev.precision, ev.recall, ev.f1) == (p, r, f)
    assert list(ev.misclassified("c", "output 4")) == [5]
    assert "output 4" in ev.text() and "output 4" in evaluation_html(ev)


def test_class_names_that_are_report_keys_keep_their_rows():
    y_true = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    y_pred = np.array([0, 1, 2, 3, 1, 1, 2, 0])
    names = ["accuracy", "macro avg", "weighted avg", "micro avg"]
    ev = Evaluation("m", "classification", y_true, y_pred, labels=names)
    keys = [f"{n} (class)" for n in names]
    assert ev.labels == keys
    assert ev.report == classification_report(
        y_true, y_pred, target_names=keys, output_dict=True, zero_division=0
    )
    assert ev.report["accuracy"] == ev.accuracy == 0.75
    assert ev.report["accuracy (class)"]["support"] == 2
    assert "accuracy (cl" in ev.text()
    # two classes whose names read the same
    ev = Evaluation("m", "classification", y_true[:4] % 2, y_pred[:4] % 2, labels=["1", "1"])
    assert ev.labels == ["1", "1 (class)"]


def test_labels_default_to_the_indices():
    ev = Evaluation("m", "classification", np.array([0, 2, 1]), np.array([0, 2, 2]))
    assert ev.labels == ["0", "1", "2"] and ev.confusion_matrix.shape == (3, 3)


def test_regression_with_diverged_predictions_says_so():
    with pytest.raises(NbmlError, match=r"r predicted NaN or infinite values for 2 of 3 targets"):
        Evaluation("r", "regression", np.zeros(3), np.array([1.0, np.nan, np.inf]))
