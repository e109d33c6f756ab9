"""Evaluation results computed with scikit-learn's own metric functions.

:class:`Evaluation` holds the true and predicted classes (or values) and the metrics; it is a
pure result. The views layer draws it (:mod:`nbml.views.evaluations`, registered as IPython
formatters: a confusion-matrix widget, and HTML that reads the same in JupyterLab, nbconvert and
GitHub).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core.errors import NbmlError

AVERAGES = ("macro", "weighted", "micro")


def check_average(average: str) -> str:
    """``--average``: how precision, recall and F1 average over classes."""
    if average not in AVERAGES:
        raise NbmlError(f"--average must be macro, weighted or micro, not '{average}'.")
    return average


#: Keys of a classification report that are not classes.
SUMMARY_KEYS = ("accuracy", "macro avg", "weighted avg", "micro avg")


def report_names(
    labels: list[Any], y_true: np.ndarray, y_pred: np.ndarray
) -> tuple[list[str], list[int]]:
    """The names of the report's rows (and of the matrix's rows and columns), and the class
    indices they stand for.

    Every class is listed, in order. A model with more output units than classes can predict a
    unit that is no class: each such unit it predicted gets a column ``output i`` after the
    classes, so that the prediction counts as wrong, as scikit-learn counts it. A class whose
    name is a summary key (``accuracy``, ``macro avg``, ...) or repeats another is listed as
    ``NAME (class)`` (``NAME (class 2)``, ...), so that no row of the report overwrites another.
    """
    names = [str(lab) for lab in labels]
    seen = np.unique(np.concatenate([np.ravel(y_true), np.ravel(y_pred)]).astype("int64"))
    if not names:  # no labels given: the indices are the names
        names = [str(i) for i in range(int(seen.max()) + 1 if seen.size else 0)]
    values = list(range(len(names)))
    for v in seen.tolist():
        if v >= len(names):
            values.append(v)
            names.append(f"output {v}")
    out: list[str] = []
    for name in names:
        key, n = name, 1
        while key in SUMMARY_KEYS or key in out:
            n += 1
            key = f"{name} (class)" if n == 2 else f"{name} (class {n - 1})"
        out.append(key)
    return out, values


class Evaluation:
    """Metrics of a model on one dataset.

    Classification: ``accuracy``, ``precision``/``recall``/``f1`` (averaged as ``average``
    says), ``support``, ``confusion_matrix`` (rows = true, columns = predicted), ``labels``,
    ``report`` (shaped like ``classification_report(output_dict=True)``) and
    :meth:`misclassified`. Regression: ``mse``, ``rmse``, ``mae``, ``r2``.

    Example:
        >>> ev = nbml.evaluate("mlp")
        >>> ev.accuracy, ev.confusion_matrix[0]
    """

    def __init__(
        self,
        name: str,
        task: str,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        *,
        labels: list[str] | None = None,
        average: str = "macro",
        data: str = "",
    ) -> None:
        check_average(average)
        self.name, self.task, self.average, self.data = name, task, average, data
        self.y_true, self.y_pred = y_true, y_pred
        if task == "classification":
            self.labels, self._values = report_names(list(labels or []), y_true, y_pred)
        else:
            self.labels = list(labels or [])
        if task == "classification":
            self._classification()
        else:
            self._regression()

    def _classification(self) -> None:
        from sklearn.metrics import classification_report, confusion_matrix

        if np.size(self.y_pred) and int(np.min(self.y_pred)) < 0:
            raise NbmlError("Predicted class indices must be 0 or more.")
        # every class, and every output unit the model predicted (see report_names)
        idx = self._values
        self.confusion_matrix = confusion_matrix(self.y_true, self.y_pred, labels=idx)
        self.report: dict[str, Any] = classification_report(
            self.y_true,
            self.y_pred,
            labels=idx,
            target_names=[str(lab) for lab in self.labels],
            output_dict=True,
            zero_division=0,
        )
        total = int(self.confusion_matrix.sum())
        self.accuracy = float(np.trace(self.confusion_matrix) / total) if total else 0.0
        self.support = self.confusion_matrix.sum(axis=1)
        if self.average == "micro":
            from sklearn.metrics import precision_recall_fscore_support

            p, r, f, _ = precision_recall_fscore_support(
                self.y_true, self.y_pred, labels=idx, average="micro", zero_division=0
            )
        else:
            avg = self.report[f"{self.average} avg"]
            p, r, f = avg["precision"], avg["recall"], avg["f1-score"]
        self.precision, self.recall, self.f1 = float(p), float(r), float(f)

    def _regression(self) -> None:
        from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

        bad = int(np.size(self.y_pred) - np.isfinite(self.y_pred).sum())
        if bad:
            raise NbmlError(
                f"{self.name} predicted NaN or infinite values for {bad} of "
                f"{np.size(self.y_pred)} targets: its weights have diverged. Train it again from "
                f"fresh weights (%train {self.name} --reset) with a lower --lr, e.g. --lr 0.0001."
            )

        self.mse = float(mean_squared_error(self.y_true, self.y_pred))
        self.rmse = math.sqrt(self.mse)
        self.mae = float(mean_absolute_error(self.y_true, self.y_pred))
        self.r2 = float(r2_score(self.y_true, self.y_pred))

    def misclassified(self, true: Any, pred: Any) -> np.ndarray:
        """Indices (into the evaluated data) of samples of class ``true`` predicted as ``pred``."""
        if self.task != "classification":
            raise NbmlError("misclassified() is for classifiers; this evaluation is a regression.")
        t, p = self._index(true), self._index(pred)
        return np.flatnonzero((self.y_true == t) & (self.y_pred == p))

    def _index(self, label: Any) -> int:
        """The class index of a label name, or of a row/column position of the matrix."""
        names = [str(lab) for lab in self.labels]
        if str(label) in names:
            return self._values[names.index(str(label))]
        if isinstance(label, (int, np.integer)) and 0 <= label < len(names):
            return self._values[int(label)]
        raise NbmlError(f"Unknown class {label!r}; the classes are {names}.")

    @property
    def metrics(self) -> dict[str, float]:
        """The headline numbers as a flat dict."""
        if self.task == "classification":
            return {
                "accuracy": self.accuracy,
                "precision": self.precision,
                "recall": self.recall,
                "f1": self.f1,
            }
        return {"mse": self.mse, "rmse": self.rmse, "mae": self.mae, "r2": self.r2}

    # ------------------------------------------------------------ display

    def __repr__(self) -> str:
        head = ", ".join(f"{k} {v:.4f}" for k, v in self.metrics.items())
        return f"<Evaluation {self.name} on {self.data or 'test set'} ({len(self.y_true)} samples): {head}>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text())

    def text(self) -> str:
        """A plain-text report."""
        lines = [f"{self.name} on {self.data or 'its test set'}: {len(self.y_true)} samples"]
        if self.task != "classification":
            lines += [f"  {k:<5} {v:.4f}" for k, v in self.metrics.items()]
            return "\n".join(lines)
        lines.append(f"  accuracy {self.accuracy:.4f}")
        lines.append(f"  {'class':<12} precision  recall      f1  support")
        for lab in self.labels:
            row = self.report[str(lab)]
            lines.append(
                f"  {str(lab)[:12]:<12} {row['precision']:9.4f} {row['recall']:7.4f} "
                f"{row['f1-score']:7.4f} {int(row['support']):8d}"
            )
        lines.append(
            f"  {self.average + ' avg':<12} {self.precision:9.4f} {self.recall:7.4f} {self.f1:7.4f}"
        )
        lines.append("  confusion matrix (rows = true, columns = predicted):")
        width = max(3, max(len(str(v)) for v in self.confusion_matrix.ravel()))
        for lab, row in zip(self.labels, self.confusion_matrix, strict=True):
            cells = " ".join(f"{v:>{width}d}" for v in row)
            lines.append(f"  {str(lab)[:12]:<12} {cells}")
        return "\n".join(lines)
