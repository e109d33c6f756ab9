"""Evaluation results computed with scikit-learn's own metric functions.

:class:`Evaluation` holds the true and predicted classes (label rows for a multi-label
classifier, values for a regression) and the metrics; it is a pure result. The views layer draws it (:mod:`nbml.views.evaluations`, registered as IPython
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
SUMMARY_KEYS = ("accuracy", "macro avg", "weighted avg", "micro avg", "samples avg")


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
    return unique_names(names), values


def unique_names(names: list[str]) -> list[str]:
    """``names`` with a name that is a summary key or repeats another made distinct (see
    :func:`report_names`)."""
    out: list[str] = []
    for name in names:
        key, n = name, 1
        while key in SUMMARY_KEYS or key in out:
            n += 1
            key = f"{name} (class)" if n == 2 else f"{name} (class {n - 1})"
        out.append(key)
    return out


class Evaluation:
    """Metrics of a model on one dataset.

    Classification: ``accuracy``, ``precision``/``recall``/``f1`` (averaged as ``average``
    says), ``support``, ``confusion_matrix`` (rows = true, columns = predicted), ``labels``,
    ``report`` (shaped like ``classification_report(output_dict=True)``) and
    :meth:`misclassified`. Regression: ``mse``, ``rmse``, ``mae``, ``r2``.

    Multi-label (``task == "multilabel"``; ``y_true`` and ``y_pred`` are 0/1 rows, one column
    per label, a label predicted at probability >= 0.5): the same names, per label —
    ``accuracy`` is the subset accuracy (``accuracy_score`` on the rows: every label of a sample
    right), ``support`` the samples that have each label, ``report`` scikit-learn's
    ``classification_report`` (per label, and ``micro``/``macro``/``weighted``/``samples``
    averages), ``confusion_matrix`` its ``multilabel_confusion_matrix`` (one 2x2
    ``[[tn, fp], [fn, tp]]`` per label, shape ``(n_labels, 2, 2)``). :meth:`misclassified`
    takes a label (see there), :meth:`label_cell` any cell of a label's matrix.

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
            self._classification()
        elif task == "multilabel":
            self._multilabel(list(labels or []))
        else:
            self.labels = list(labels or [])
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

    def _multilabel(self, labels: list[Any]) -> None:
        from sklearn.metrics import accuracy_score, classification_report
        from sklearn.metrics import multilabel_confusion_matrix as label_matrices

        t, p = np.asarray(self.y_true), np.asarray(self.y_pred)
        if t.ndim != 2 or p.shape != t.shape or not np.isin(p, (0, 1)).all():
            raise NbmlError(
                f"A multi-label evaluation takes rows of 0s and 1s of one shape; got true "
                f"labels shaped {t.shape} and predictions shaped {p.shape}."
            )
        k = t.shape[1]
        names = [str(lab) for lab in labels] if len(labels) == k else [str(i) for i in range(k)]
        self.labels, self._values = unique_names(names), list(range(k))
        self.confusion_matrix = label_matrices(t, p)
        self.report = classification_report(
            t, p, labels=self._values, target_names=self.labels, output_dict=True, zero_division=0
        )
        self.accuracy = float(accuracy_score(t, p))
        self.support = self.confusion_matrix[:, 1, :].sum(axis=1)  # fn + tp: has the label
        avg = self.report[f"{self.average} avg"]
        self.precision, self.recall = float(avg["precision"]), float(avg["recall"])
        self.f1 = float(avg["f1-score"])

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

    def misclassified(self, true: Any, pred: Any = None) -> np.ndarray:
        """Indices (into the evaluated data) of samples of class ``true`` predicted as ``pred``
        (``pred`` left out: predicted as any other class).

        Multi-label: ``true`` names a label, and the samples returned are those whose
        prediction of that label is wrong: ``pred=1`` the false positives (predicted, but the
        sample does not have it), ``pred=0`` the false negatives (missed), left out both.
        """
        if self.task == "multilabel":
            i = self._index(true)
            if pred is None:
                return np.flatnonzero(self.y_true[:, i] != self.y_pred[:, i])
            p = self._bit(pred)
            return self.cell(1 - p, p, label=i)  # a label's index is its position
        if self.task != "classification":
            raise NbmlError("misclassified() is for classifiers; this evaluation is a regression.")
        t = self._index(true)
        if pred is None:
            return np.flatnonzero((self.y_true == t) & (self.y_pred != t))
        return np.flatnonzero((self.y_true == t) & (self.y_pred == self._index(pred)))

    def label_cell(self, label: Any, true: Any, pred: Any) -> np.ndarray:
        """Multi-label: indices of the samples in cell (``true``, ``pred``) of ``label``'s 2x2
        matrix (``true`` and ``pred`` 0 or 1: whether the sample has, and is predicted to have,
        the label)."""
        if self.task != "multilabel":
            raise NbmlError(
                "label_cell() is for multi-label evaluations; use misclassified(true, pred)."
            )
        return self.cell(self._bit(true), self._bit(pred), label=self._index(label))

    def cell(self, row: int, column: int, label: int | None = None) -> np.ndarray:
        """Indices of the samples in the confusion matrix's cell at (``row``, ``column``), by
        position (what a click on the widget's matrix names); multi-label: of the matrix of
        the label at position ``label``."""
        if self.task == "regression":
            raise NbmlError("A regression has no confusion matrix; see mse, mae and r2.")
        if label is None:
            t, p = self._values[row], self._values[column]
            return np.flatnonzero((self.y_true == t) & (self.y_pred == p))
        return np.flatnonzero((self.y_true[:, label] == row) & (self.y_pred[:, label] == column))

    @staticmethod
    def _bit(v: Any) -> int:
        if isinstance(v, (bool, np.bool_)) or v in (0, 1):
            return int(v)
        raise NbmlError(f"A multi-label cell is 0 (no) or 1 (yes), not {v!r}.")

    def _index(self, label: Any) -> int:
        """The class index of a label name, or of a row/column position of the matrix."""
        names = [str(lab) for lab in self.labels]
        if str(label) in names:
            return self._values[names.index(str(label))]
        if isinstance(label, (int, np.integer)) and 0 <= label < len(names):
            return self._values[int(label)]
        what = ("label", "labels") if self.task == "multilabel" else ("class", "classes")
        raise NbmlError(f"Unknown {what[0]} {label!r}; the {what[1]} are {names}.")

    @property
    def metrics(self) -> dict[str, float]:
        """The headline numbers as a flat dict."""
        if self.task in ("classification", "multilabel"):
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
        if self.task == "multilabel":
            return "\n".join(lines + self._label_lines())
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

    def shown_averages(self) -> list[str]:
        """The report's average rows a multi-label display shows: ``samples`` and ``macro``,
        and the one ``--average`` asked for."""
        keys = ["samples", "macro"] + ([self.average] if self.average != "macro" else [])
        return [f"{k} avg" for k in keys]

    def _label_lines(self) -> list[str]:
        lines = [f"  subset accuracy {self.accuracy:.4f} (every label of a sample right)"]
        lines.append(f"  {'label':<12} precision  recall      f1  support")
        for key in [*self.labels, *self.shown_averages()]:
            row = self.report[key]
            lines.append(
                f"  {key[:12]:<12} {row['precision']:9.4f} {row['recall']:7.4f} "
                f"{row['f1-score']:7.4f} {int(row['support']):8d}"
            )
        lines.append("  per label, predicted at probability >= 0.5:")
        lines.append(f"  {'label':<12} {'tn':>6} {'fp':>6} {'fn':>6} {'tp':>6}")
        for lab, m in zip(self.labels, self.confusion_matrix, strict=True):
            cells = " ".join(f"{int(v):>6d}" for v in m.ravel())
            lines.append(f"  {lab[:12]:<12} {cells}")
        return lines
