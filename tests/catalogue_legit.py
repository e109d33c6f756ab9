"""Legitimate edge inputs: each ends in a correct result, checked by an expression."""

from __future__ import annotations

from catalogue import (
    FIVE_UNIT_MODEL,
    IRIS_MODEL,
    LINEAR3_MODEL,
    REGRESSION_MODEL,
    STALE_MODEL,
    TAGS_MODEL,
    cell,
    legit,
    one,
)

FIVE_EVAL = (
    "(lambda ev: (ev.labels[-1], int(ev.confusion_matrix[:, -1].sum()), ev.accuracy, "
    "ev.accuracy == accuracy_score(ev.y_true, ev.y_pred), "
    "nbml.predict('five', x_iris[:2]).tolist()))(nbml.evaluate('five'))"
)

HELP = [
    legit(f"help-{magic.split()[0]}", f"%{magic}", "1", 1, out=words)
    for magic, words in [
        ("train --help", ("Train a Keras model", "--data SPEC", "--seed")),
        ("evaluate --help", ("Evaluate a model", "--average")),
        ("predict tiny --help", ("Predict with a model", "--proba")),
        ("save --help", ("Save a model", "--format")),
        ("stop --help", ("Stop a background training",)),
        ("runs --help", ("Runs from the store", "--compare")),
    ]
]

LEGIT = [
    *HELP,
    legit("stop-an-idle-model", "%stop tiny", "1", 1, out=("tiny is not training",)),
    legit("models-table", "%models", "1", 1, out=("tiny", "idle")),
    legit("devices-table", "%devices", "1", 1, out=("cpu", "host:")),
    legit("runs-of-tiny", "%runs tiny", "1", 1, out=("tiny",)),
    legit(
        "more-units-than-classes",
        cell("five --data iris_xy --test-split 0.2 --epochs 1 --lr 1e-9", FIVE_UNIT_MODEL),
        FIVE_EVAL,
        ("output 4", 30, 0.0, True, [4, 4]),
    ),
    legit(
        "class-names-that-are-report-keys",
        cell("keyed_m --data keyed --epochs 1"),
        "(lambda ev: (ev.labels, ev.report['accuracy'] == ev.accuracy))(nbml.evaluate('keyed_m'))",
        (["accuracy (class)", "macro avg (class)", "weighted avg (class)"], True),
    ),
    legit(
        "string-dtype-target",
        cell("str_m --data iris_str --target species --epochs 1"),
        "sorted(set(nbml.predict('str_m', x_iris).tolist()) | set(names.tolist()))",
        ["setosa", "versicolor", "virginica"],
    ),
    legit(
        "category-target",
        cell("cat_m --data iris_cat --target species --epochs 1"),
        "nbml.evaluate('cat_m').labels",
        ["setosa", "versicolor", "virginica"],
    ),
    legit(
        "nullable-int-target-with-na-cleaned",
        cell("na_m --data iris_na --target species --clean --epochs 1"),
        f"({one('na_m', 'dataset.dropped')}, {one('na_m', 'task.classes')})",
        (1, [0, 1, 2]),
    ),
    legit(
        "missing-labels-cleaned",
        cell("none_m --data xy_none --clean --epochs 1"),
        f"({one('none_m', 'dataset.dropped')}, {one('none_m', 'task.classes')})",
        (1, ["0", "1", "2"]),
    ),
    legit(
        "many-integers-as-regression",
        cell("many_m --data many_ints --task regression --epochs 1", REGRESSION_MODEL),
        one("many_m", "task.kind"),
        "regression",
    ),
    legit(
        "largest-seed",
        cell("seed_m --data sklearn:iris --seed 4294967295 --epochs 1"),
        one("seed_m", "run.params['seed']"),
        4294967295,
    ),
    legit(
        "unicode-model-name",
        cell("mod\u00e8le --data sklearn:iris --epochs 1"),
        "(type(mod\u00e8le).__name__, nbml.evaluate('mod\u00e8le').labels[0])",
        ("Sequential", "setosa"),
    ),
    legit(
        "generator",
        cell("gen_m --data fresh --epochs 1"),
        f"({one('gen_m', 'status')}, {one('gen_m', 'task.classes')})",
        ("idle", [0, 1, 2]),
        before="fresh = batches()",
    ),
    legit(
        "generator-whose-first-batch-misses-a-class",
        cell("sorted_m --data sorted_batches --epochs 1"),
        "(nbml.evaluate('sorted_m', data=iris_xy).labels, int(nbml.evaluate('sorted_m', "
        "data=iris_xy).confusion_matrix.sum()))",
        (["0", "1", "2"], 150),
        before="sorted_batches = ((x_iris[i:i + 50], y_iris[i:i + 50]) for i in (0, 50, 100))",
    ),
    legit(
        "body-rebinds-model-to-itself",
        cell("self_m --data sklearn:iris --epochs 1", "\nmodel = model\n"),
        "self_m is model",
        True,
        before=STALE_MODEL,
    ),
    legit(
        "body-assigns-model-and-ends-with-compile",
        cell(
            "fresh_m --data sklearn:iris --epochs 1",
            f"\nmodel = {IRIS_MODEL.strip()}\nmodel.compile('adam', 'sparse_categorical_crossentropy')\n",
        ),
        "fresh_m is model and fresh_m is not _stale",
        True,
        before=f"{STALE_MODEL}\n_stale = model",
    ),
    legit(
        "csv-integer-labels-with-a-gap",
        cell("gap_m --data iris_gap.csv --target species --clean --epochs 1"),
        f"({one('gap_m', 'task.kind')}, {one('gap_m', 'task.classes')})",
        ("classification", [0, 1, 2]),
    ),
    legit(
        "csv-with-semicolons",
        cell("semi_m --data iris_semicolons.csv --target species --epochs 1"),
        one("semi_m", "task.classes"),
        [0, 1, 2],
    ),
    legit("csv-file", cell("csv_m --data iris.csv --target species --epochs 1"), "1", 1),
    legit("npz-file", cell("npz_m --data iris.npz --epochs 1"), one("npz_m", "status"), "idle"),
    legit(
        "predict-a-frame-of-features",
        "_p = %predict tiny iris_df.drop(columns='species')",
        "(len(_p), set(_p.tolist()) <= {0, 1, 2})",
        (150, True),
    ),
    legit(
        "evaluate-a-frame",
        "_e = %evaluate tiny --data iris_df --target species --average weighted",
        "(int(_e.confusion_matrix.sum()), _e.average)",
        (150, "weighted"),
    ),
    legit(
        "evaluate-with-class-names-as-labels",
        "_e = %evaluate tiny --data named",
        "(_e.labels, int(_e.confusion_matrix.sum()), _e.accuracy == "
        "nbml.evaluate('tiny', data=iris_xy).accuracy)",
        (["setosa", "versicolor", "virginica"], 150, True),
    ),
    legit(
        "one-hot-model-evaluated-on-indices",
        cell("hot_m --data onehot --epochs 1"),
        "(lambda a, b: (a.accuracy == b.accuracy, a.confusion_matrix.tolist() == "
        "b.confusion_matrix.tolist()))(nbml.evaluate('hot_m', data=iris_xy), "
        "nbml.evaluate('hot_m', data=onehot))",
        (True, True),
    ),
    legit(
        "frame-with-a-numbered-target-column",
        cell("num_m --data iris_numbered --target 4 --epochs 1"),
        one("num_m", "task.classes"),
        [0, 1, 2],
    ),
    legit(
        "object-array-of-numbers",
        cell("obj_m --data iris_objects --epochs 1"),
        one("obj_m", "dataset.x_train.dtype.name"),
        "float32",
    ),
    legit(
        "loss-and-metrics-by-class-name",
        "_r = %train tiny --epochs 1 --loss SparseCategoricalCrossentropy "
        "--metrics sparse_categorical_accuracy,accuracy",
        "(_r.status, 'sparse_categorical_accuracy' in _r.history)",
        ("finished", True),
    ),
    legit("predict-proba", "_p = %predict tiny x_iris[:3] --proba", "_p.shape", (3, 3)),
    # ---- label encodings (README.md, "Data and tasks")
    legit(
        "multi-hot-labels-train-as-multilabel",
        cell("tags_m --data xy_tags --epochs 1", TAGS_MODEL),
        f"({one('tags_m', 'task.kind')}, tags_m.loss.name, nbml.predict('tags_m', "
        "xy_tags[0][:2]).tolist() == (tags_m.predict(xy_tags[0][:2], verbose=0) >= 0.5)"
        ".astype(int).tolist(), nbml.evaluate('tags_m').confusion_matrix.shape)",
        ("multilabel", "binary_crossentropy", True, (3, 2, 2)),
    ),
    legit(
        "one-hot-with-an-all-zero-row-as-multilabel",
        cell("gap_ml --data onehot_gap --task multilabel --epochs 1", TAGS_MODEL),
        f"({one('gap_ml', 'task.kind')}, {one('gap_ml', 'task.class_names')})",
        ("multilabel", ["0", "1", "2"]),
    ),
    legit(
        "soft-labels-are-a-regression",
        cell("soft_m --data xy_soft --epochs 1", LINEAR3_MODEL),
        f"({one('soft_m', 'task.kind')}, soft_m.loss, hasattr(nbml.evaluate('soft_m'), 'mse'))",
        ("regression", "mse", True),
    ),
    legit(
        "soft-labels-with-the-body's-own-loss",
        cell(
            "soft_cc --data xy_soft --epochs 1",
            "\nmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, "
            "activation='softmax')])\nmodel.compile('adam', 'categorical_crossentropy')\n",
        ),
        f"({one('soft_cc', 'task.kind')}, soft_cc.loss)",
        ("regression", "categorical_crossentropy"),
    ),
    legit(
        "whole-number-floats-are-a-regression",
        cell("float_m --data xy_int_floats --epochs 1", REGRESSION_MODEL),
        f"({one('float_m', 'task.kind')}, float_m.loss, hasattr(nbml.evaluate('float_m'), 'r2'))",
        ("regression", "mse", True),
    ),
    legit(
        "huge-batch-size",
        "_r = %train tiny --epochs 1 --batch-size 99999999999999999999",
        "(_r.status, _r.epoch)",
        ("finished", 1),
    ),
]
