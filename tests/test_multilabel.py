"""Multi-label classification (README.md, "Data and tasks"): rows of 0s and 1s where a sample may
have several labels train with one sigmoid output per label and ``binary_crossentropy``, and
``%evaluate`` gives scikit-learn's multi-label metrics exactly, with one 2x2 matrix per label in
the widget and the static HTML."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
from sklearn.datasets import make_multilabel_classification
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
)

import nbml
from nbml import NbmlError
from nbml.ml import compiling
from nbml.ml.tasks import detect_task, make_task
from nbml.views.evaluations import evaluation_html
from nbml.views.widgets import confusion

WIDGET = "application/vnd.jupyter.widget-view+json"
NAMES = ["sports", "politics", "tech", "art"]


@pytest.fixture(scope="module")
def tags():
    """300 samples of 10 features with 4 labels, about 2 per sample (some with none)."""
    x, y = make_multilabel_classification(
        n_samples=300, n_features=10, n_classes=4, n_labels=2, random_state=0
    )
    assert (y.sum(axis=1) > 1).any() and (y.sum(axis=1) == 0).any()
    return x.astype("float32"), y


def mlp(units=4, activation="sigmoid"):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((10,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(units, activation=activation),
        ]
    )


@pytest.fixture(scope="module")
def trained(tags):
    """A multi-label model trained 4 epochs by nbml, and its evaluation."""
    ns: dict = {}
    run = nbml.train("tagger", mlp(), {"x": tags[0], "y": tags[1]}, epochs=4, namespace=ns,
                     display="none")  # fmt: skip
    assert run.status == "finished"
    return ns["tagger"], nbml.evaluate("tagger")


# ------------------------------------------------------------------ detection


def test_detection_rules_in_order():
    hot = np.eye(3, dtype="int64")[[0, 1, 2, 1]]
    multi = hot.copy()
    multi[0, 2] = 1  # one row with two 1s is enough
    assert detect_task(multi) == "multilabel"
    assert detect_task(multi.astype("float32")) == "multilabel"
    assert detect_task(multi.astype(bool)) == "multilabel"
    assert detect_task(hot) == "classification"
    assert detect_task(hot.astype("float32")) == "classification"
    assert detect_task(np.array([0, 1, 2])) == "classification"
    assert detect_task(np.array([0.0, 1.0, 2.0])) == "regression"  # whole-number floats
    soft = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]], dtype="float32")
    assert detect_task(soft) == "regression"  # soft labels: floats, not 0/1
    late = np.vstack([np.eye(3)[np.arange(30_000) % 3], [[1, 1, 0]]])
    assert detect_task(late) == "multilabel"  # a multi-label row after the first 10,000


def test_one_hot_with_an_all_zero_row_is_refused_naming_the_choices():
    y = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    y[2] = 0
    with pytest.raises(NbmlError, match=r"1 of the 4 rows are all zeros \(row 2 first\)") as e:
        detect_task(y)
    assert "--task multilabel" in str(e.value) and "--task regression" in str(e.value)
    assert detect_task(y, "multilabel") == "multilabel"
    assert make_task(y, "multilabel", None).class_names == ["0", "1", "2"]


def test_forced_tasks_and_their_refusals():
    multi = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]])
    with pytest.raises(NbmlError, match="--task multilabel for rows of 0s and 1s"):
        make_task(multi, "classification", None)
    with pytest.raises(NbmlError, match="--task multilabel needs one row of 0s and 1s"):
        make_task(np.array([0, 1, 1]), "multilabel", None)
    with pytest.raises(NbmlError, match="needs labels of 0s and 1s"):
        make_task(np.array([[0, 2], [1, 0]]), "multilabel", None)
    task = make_task(multi, "multilabel", NAMES[:3])
    assert (task.kind, task.classes, task.class_names) == ("multilabel", [0, 1, 2], NAMES[:3])
    with pytest.raises(NbmlError, match="rows of 3 0s and 1s"):
        task.encode(np.array([[1, 0], [0, 1]]))


def test_multi_hot_data_is_split_as_multilabel_and_forced_by_task(tags):
    x, y = tags
    ds = nbml.load_data((x, y))
    assert ds.task.kind == "multilabel" and ds.task.n_classes == 4
    assert ds.y_train.dtype == np.float32 and ds.y_train.shape[1] == 4
    hot = np.eye(4, dtype="int64")[np.arange(300) % 4]
    assert nbml.load_data((x, hot)).task.kind == "classification"
    forced = nbml.load_data((x, hot), task="multilabel")
    assert forced.task.kind == "multilabel" and forced.y_test.shape == (60, 4)


# ------------------------------------------------------------------ training


def test_a_stream_of_label_rows_trains_as_multilabel(tags):
    x, y = tags
    ns: dict = {}
    batches = ((x[i : i + 100], y[i : i + 100]) for i in (0, 100, 200))
    run = nbml.train("streamed", mlp(), batches, epochs=1, namespace=ns, display="none")
    assert run.status == "finished" and ns["streamed"].loss.name == "binary_crossentropy"
    assert [m.task.kind for m in nbml.models() if m.name == "streamed"] == ["multilabel"]
    ev = nbml.evaluate("streamed", data=(x[:50], y[:50]))
    assert ev.confusion_matrix.shape == (4, 2, 2)


def test_training_compiles_sigmoid_outputs_with_binary_crossentropy(trained):
    model, _ = trained
    assert isinstance(model.loss, keras.losses.BinaryCrossentropy)
    assert not model.loss.get_config()["from_logits"]
    assert compiling.final_activation(model) == "sigmoid" and model.output_shape == (None, 4)
    rec = nbml.models()[[m.name for m in nbml.models()].index("tagger")]
    assert rec.task.kind == "multilabel" and rec.run.params["task"] == "multilabel"
    assert set(rec.history) == {"loss", "val_loss", "binary_accuracy", "val_binary_accuracy"}


def test_a_logits_head_trains_from_logits_and_predicts_at_zero(tags):
    x, y = tags
    ns: dict = {}
    nbml.train("logits", mlp(activation=None), (x, y), epochs=1, namespace=ns, display="none")
    model = ns["logits"]
    assert model.loss.get_config()["from_logits"]
    raw = model.predict(x[:50], verbose=0)
    assert (nbml.predict("logits", x[:50]) == (raw >= 0).astype("int64")).all()
    assert np.allclose(nbml.predict("logits", x[:50], proba=True), 1 / (1 + np.exp(-raw)))


@pytest.mark.parametrize(
    ("model", "options", "words"),
    [
        (lambda: mlp(activation="softmax"), {}, "ends with a softmax"),
        (lambda: mlp(units=3), {}, "outputs 3 values per sample but the multi-label rows have 4"),
        (mlp, {"loss": "sparse_categorical_crossentropy"}, "Use --loss auto (binary_crossentro"),
        (mlp, {"loss": "categorical_crossentropy"}, "one class per sample"),
        (mlp, {"metrics": "accuracy"}, "Use --metrics binary_accuracy"),
    ],
)
def test_heads_losses_and_metrics_that_cannot_fit_multilabel_rows_are_refused(
    tags, model, options, words
):
    with pytest.raises(NbmlError) as e:
        nbml.train("bad", model(), tags, epochs=1, namespace={}, display="none", **options)
    assert words in str(e.value)


# ------------------------------------------------------------------ evaluation


def held_out(tags):
    ds = nbml.load_data(tags)
    return ds.x_test, ds.y_test.astype("int64")


def test_evaluation_equals_scikit_learn_exactly(tags, trained):
    model, ev = trained
    x_test, y_test = held_out(tags)
    y_pred = (model.predict(x_test, verbose=0) >= 0.5).astype("int64")
    assert ev.task == "multilabel" and (ev.y_true == y_test).all() and (ev.y_pred == y_pred).all()
    assert ev.accuracy == accuracy_score(y_test, y_pred)
    assert ev.confusion_matrix.shape == (4, 2, 2)
    assert (ev.confusion_matrix == multilabel_confusion_matrix(y_test, y_pred)).all()
    names = ["0", "1", "2", "3"]
    assert ev.labels == names
    assert ev.report == classification_report(
        y_test, y_pred, target_names=names, output_dict=True, zero_division=0
    )
    p, r, f, s = precision_recall_fscore_support(y_test, y_pred, zero_division=0)
    for i, name in enumerate(names):
        row = ev.report[name]
        assert (row["precision"], row["recall"], row["f1-score"]) == (p[i], r[i], f[i])
    assert (ev.support == s).all() and ev.support.sum() == y_test.sum()
    for average in ("macro", "samples"):
        want = precision_recall_fscore_support(y_test, y_pred, average=average, zero_division=0)
        avg = ev.report[f"{average} avg"]
        assert (avg["precision"], avg["recall"], avg["f1-score"]) == want[:3]
    assert (ev.precision, ev.recall, ev.f1) == precision_recall_fscore_support(
        y_test, y_pred, average="macro", zero_division=0
    )[:3]


@pytest.mark.parametrize("average", ["micro", "weighted"])
def test_average_option_chooses_the_headline_numbers(trained, tags, average):
    model, _ = trained
    ev = nbml.evaluate("tagger", average=average)
    x_test, y_test = held_out(tags)
    want = precision_recall_fscore_support(y_test, ev.y_pred, average=average, zero_division=0)[:3]
    assert (ev.precision, ev.recall, ev.f1) == want
    assert ev.metrics == {"accuracy": ev.accuracy, "precision": want[0], "recall": want[1],
                          "f1": want[2]}  # fmt: skip
    assert ev.shown_averages() == ["samples avg", "macro avg", f"{average} avg"]


def test_evaluate_on_given_data_and_names_of_labels(trained, tags):
    x, y = tags
    ev = nbml.evaluate("tagger", data=(x[:40], y[:40]))
    y_pred = (trained[0].predict(x[:40], verbose=0) >= 0.5).astype("int64")
    assert (ev.confusion_matrix == multilabel_confusion_matrix(y[:40], y_pred)).all()
    with pytest.raises(NbmlError, match="multi-label classifier of 4 labels"):
        nbml.evaluate("tagger", data=(x[:40], y[:40, :3]))
    named = nbml.Evaluation("m", "multilabel", y[:40], y_pred, labels=NAMES)
    assert named.labels == NAMES and named.report["tech"] == ev.report["2"]


def test_misclassified_is_per_label(trained):
    _, ev = trained
    t, p = ev.y_true[:, 1], ev.y_pred[:, 1]
    assert (ev.misclassified("1") == np.flatnonzero(t != p)).all()
    assert (ev.misclassified("1", 1) == np.flatnonzero((t == 0) & (p == 1))).all()  # extra
    assert (ev.misclassified("1", 0) == np.flatnonzero((t == 1) & (p == 0))).all()  # missed
    assert len(ev.misclassified("1", 0)) == ev.confusion_matrix[1, 1, 0]
    assert (ev.label_cell("1", 1, 1) == np.flatnonzero((t == 1) & (p == 1))).all()
    with pytest.raises(NbmlError, match="Unknown label 'z'; the labels are"):
        ev.misclassified("z")
    with pytest.raises(NbmlError, match="0 \\(no\\) or 1 \\(yes\\), not 2"):
        ev.misclassified("1", 2)


def test_predict_gives_label_rows_and_probabilities(trained, tags):
    model, _ = trained
    x = tags[0][:20]
    proba = nbml.predict("tagger", x, proba=True)
    assert np.array_equal(proba, model.predict(x, verbose=0))
    rows = nbml.predict("tagger", x)
    assert rows.shape == (20, 4) and rows.dtype == np.int64
    assert (rows == (proba >= 0.5)).all()


# ------------------------------------------------------------------ views


def test_widget_state_is_one_2x2_matrix_per_label_and_a_click_names_the_label(trained):
    _, ev = trained
    w = confusion.ConfusionMatrix(ev)
    assert w.task == "multilabel" and w.labels == ev.labels
    assert w.matrix == ev.confusion_matrix.tolist() and np.shape(w.matrix) == (4, 2, 2)
    assert w.accuracy == ev.accuracy
    assert [r["label"] for r in w.per_class] == ev.labels
    assert [r["support"] for r in w.per_class] == ev.support.tolist()
    assert [r["label"] for r in w.averages] == ["samples avg", "macro avg"]
    assert w.averages[0]["f1"] == ev.report["samples avg"]["f1-score"]
    sent: list = []
    w.send = lambda content, buffers=None: sent.append(content)
    w._on_msg(w, {"type": "cell", "label": 2, "true": 1, "pred": 0, "page": 0}, [])
    assert w.notice == "" and sent[-1]["label"] == 2
    assert sent[-1]["total"] == ev.confusion_matrix[2, 1, 0]
    assert [i["index"] for i in sent[-1]["items"]] == ev.misclassified("2", 0)[:24].tolist()
    for bad in (
        {"type": "cell", "true": 1, "pred": 0},  # no label
        {"type": "cell", "label": 4, "true": 1, "pred": 0},
        {"type": "cell", "label": 0, "true": 2, "pred": 0},
    ):
        before = len(sent)
        w._on_msg(w, bad, [])
        assert w.notice.startswith("Refused: ") and len(sent) == before, bad


def test_a_classifier_click_names_cells_by_position():
    # classes 1, 2, 3: the cell at row 1 is class 2, not the class named "1"
    y_true = np.array([1, 2, 2, 3, 3, 3])
    y_pred = np.array([1, 2, 3, 3, 3, 1])
    ev = nbml.Evaluation("m", "classification", y_true - 1, y_pred - 1, labels=["1", "2", "3"])
    w = confusion.ConfusionMatrix(ev)
    sent: list = []
    w.send = lambda content, buffers=None: sent.append(content)
    w._on_msg(w, {"type": "cell", "true": 1, "pred": 2}, [])
    assert sent[-1]["total"] == ev.confusion_matrix[1, 2] == 1
    assert [i["index"] for i in sent[-1]["items"]] == [2]
    w._on_msg(w, {"type": "cell", "label": 0, "true": 1, "pred": 2}, [])
    assert w.notice.startswith("Refused: ")


def test_static_html_shows_a_matrix_per_label_and_the_averages(trained):
    _, ev = trained
    html = evaluation_html(ev)
    assert html.count("class='nbml-label-matrix'") == 4
    for lab, m in zip(ev.labels, ev.confusion_matrix, strict=True):
        caption = f"<caption style='font-weight:600'>{lab}</caption>"
        table = html[html.index(caption) :].split("</table>")[0]
        counts = [int(v) for v in re.findall(r"'>(\d+)</td>", table)]
        assert counts == m.ravel().tolist()
    assert "subset accuracy" in html and ">samples avg<" in html and ">macro avg<" in html
    assert ">micro avg<" not in html
    assert ">micro avg<" in evaluation_html(nbml.evaluate("tagger", average="micro"))
    assert "true positives" in html
    text = ev.text()
    assert "subset accuracy" in text and "samples avg" in text
    tn, fp, fn, tp = ev.confusion_matrix[0].ravel()
    assert re.search(rf"\n  0 +{tn} +{fp} +{fn} +{tp}\n", text)


# ------------------------------------------------------------------ kernel


def test_kernel_trains_evaluates_and_predicts_multilabel(kernel):
    kernel.ok(
        "from sklearn.datasets import make_multilabel_classification\n"
        "x_tags, y_tags = make_multilabel_classification(n_samples=200, n_features=10, "
        "n_classes=3, n_labels=2, random_state=1)\ntags_xy = (x_tags.astype('float32'), y_tags)"
    )
    res = kernel.ok(
        "%%train tags --data tags_xy --epochs 2\n"
        "keras.Sequential([keras.Input((10,)), keras.layers.Dense(3, activation='sigmoid')])"
    )
    assert "finished" in res.last_display_text, res.text
    shape = kernel.value("(tags.loss.name, tags.output_shape)")
    assert shape == ("binary_crossentropy", (None, 3))
    res = kernel.ok("%evaluate tags")
    data = res.result
    assert WIDGET in data and data["text/html"].count("class='nbml-label-matrix'") == 3
    assert "subset accuracy" in data["text/plain"]
    same = (
        "(lambda ev: (ev.task, ev.confusion_matrix.tolist() == __import__('sklearn.metrics')"
        ".metrics.multilabel_confusion_matrix(ev.y_true, ev.y_pred).tolist()))"
        "(__import__('nbml').evaluate('tags'))"
    )
    assert kernel.value(same) == ("multilabel", True)
    kernel.ok("_rows = %predict tags x_tags[:5]")
    assert kernel.value("(_rows.shape, set(_rows.ravel().tolist()) <= {0, 1})") == ((5, 3), True)
    kernel.ok("_p = %predict tags x_tags[:5] --proba")
    assert kernel.value("bool(((_p >= 0.5) == _rows).all() and _p.dtype.kind == 'f')")
    res = kernel.execute(
        "%%train tags2 --data tags_xy --task classification\n"
        "keras.Sequential([keras.Input((10,)), keras.layers.Dense(3, activation='softmax')])"
    )
    assert res.stderr.startswith("UsageError: ") and "--task multilabel" in res.stderr


# ------------------------------------------------------------------ browser

NOTEBOOK = [
    "%load_ext nbml\nimport keras\nfrom sklearn.datasets import make_multilabel_classification",
    "x, y = make_multilabel_classification(n_samples=200, n_features=10, n_classes=3, "
    "random_state=1)\ntags_xy = (x.astype('float32'), y)",
    "%%train tags --data tags_xy --epochs 2 --no-widget\n"
    "keras.Sequential([keras.Input((10,)), keras.layers.Dense(3, activation='sigmoid')])",
    "import nbml\nev = nbml.evaluate('tags')\nev",
]
CONFUSION = '[data-testid="nbml-confusion"]'


@pytest.mark.timeout(420)
def test_browser_draws_a_matrix_per_label_and_a_click_lists_its_samples(tmp_path):
    """The widget in a real JupyterLab and Chromium: three captioned 2x2 matrices with the
    kernel's counts, and a click on a cell lists that cell's samples."""
    from browser import (
        chromium_page,
        jupyter_lab,
        kernel_value,
        open_lab,
        page_errors,
        run_all,
        shot,
        write_notebook,
    )

    with jupyter_lab(tmp_path) as lab, chromium_page() as page:
        open_lab(page, lab, write_notebook(lab.root / "tags.ipynb", NOTEBOOK))
        run_all(page)
        figures = page.locator(f'{CONFUSION} [data-testid="nbml-label-matrix"]')
        try:
            figures.nth(2).wait_for(state="visible", timeout=240_000)  # a cold, busy machine
        except Exception:
            pytest.fail(f"no label matrices\n{page_errors(page)}\n{lab.log_tail(2000)}")
        cms = kernel_value(page, "ev.confusion_matrix.tolist()")
        assert figures.count() == 3
        for k in range(3):
            fig = figures.nth(k)
            assert fig.locator("figcaption").inner_text() == str(k)
            cells = fig.locator("td.nbml-cm-cell").evaluate_all(
                "els => els.map(e => [Number(e.dataset.label), Number(e.dataset.true), "
                "Number(e.dataset.pred), Number(e.textContent)])"
            )
            assert cells == [[k, i, j, cms[k][i][j]] for i in (0, 1) for j in (0, 1)]
        widget = page.locator(CONFUSION).first
        assert widget.locator(".nbml-cm-accuracy").inner_text().startswith("subset accuracy ")
        rows = widget.locator(".nbml-cm-table tr th").all_inner_texts()
        assert rows[0] == "label" and rows[-2:] == ["samples avg", "macro avg"]
        # the fullest cell of label 1 (more than one sample, whatever training gave)
        i, j = max(((i, j) for i in (0, 1) for j in (0, 1)), key=lambda c: cms[1][c[0]][c[1]])
        count = cms[1][i][j]
        assert count > 1
        figures.nth(1).locator(f'td[data-true="{i}"][data-pred="{j}"]').click()
        samples = widget.locator('[data-testid="nbml-samples"]')
        page.wait_for_function(
            f"""() => document.querySelector('{CONFUSION} [data-testid="nbml-samples"]')
                ?.dataset.total === '{count}'"""
        )
        assert samples.locator('[data-testid="nbml-sample"]').count() == min(count, 24)
        title = samples.locator(".nbml-cm-title").inner_text()
        assert title.startswith("1: ") and title.endswith(
            f"(true {i}, predicted {j}): {count} samples"
        )
        selected = widget.locator("td.nbml-cm-cell.nbml-selected")
        assert selected.count() == 1 and selected.get_attribute("data-label") == "1"
        shot(widget, "multilabel_confusion.png")
