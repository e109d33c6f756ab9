"""Mistakes with options, names and cell bodies: each a one-line UsageError naming the fix."""

from __future__ import annotations

from catalogue import (
    FLAT_IMAGE_MODEL,
    IMAGE_MODEL,
    NAME_HINT,
    NOT_A_MODEL,
    REGRESSION_MODEL,
    SIGMOID_MODEL,
    STALE_MODEL,
    TWO_UNIT_MODEL,
    case,
    cell,
)

BASIC_CASES = [
    # ---- bad or out-of-range options
    case("epochs-0", "%train tiny --epochs 0", ["--epochs", "at least 1", "not 0"]),
    case("epochs-abc", "%train tiny --epochs abc", ["--epochs", "invalid int value: 'abc'"]),
    case("batch-size-neg", "%train tiny --batch-size -1", ["--batch-size", "at least 1", "not -1"]),
    case("lr-neg", "%train tiny --lr -1", ["--lr must be a positive number", "0.001"]),
    case("lr-0", "%train tiny --lr 0", ["--lr must be a positive number", "0.001"]),
    case("lr-nan", "%train tiny --lr nan", ["--lr must be a positive number"]),
    case(
        "test-split-1.5-cell",
        cell("other --data sklearn:iris --test-split 1.5"),
        ["--test-split", "below 1", "1.5"],
    ),
    case("test-split-1.5-line", "%train tiny --test-split 1.5", ["--test-split", "below 1", "1.5"]),
    case(
        "validation-split-neg",
        cell("other --data sklearn:iris --validation-split -0.1"),
        ["--validation-split", "at least 0"],
    ),
    case(
        "normalize-bogus-cell",
        cell("other --data sklearn:iris --normalize bogus"),
        ["--normalize", "minmax", "standard"],
    ),
    case(
        "normalize-bogus-line",
        "%train tiny --normalize bogus",
        ["--normalize", "minmax", "standard"],
    ),
    case(
        "task-bogus",
        cell("other --data sklearn:iris --task bogus"),
        ["--task", "classification", "regression"],
    ),
    case(
        "augment-misspelled",
        cell("other --data sklearn:digits --augment flipp", IMAGE_MODEL),
        ["Did you mean 'flip'", "--augment"],
    ),
    case(
        "average-bogus", "%evaluate tiny --average bogus", ["--average", "macro, weighted or micro"]
    ),
    case("unknown-option", "%train tiny --foo", ["unrecognized arguments: --foo"]),
    case(
        "early-stopping-neg", "%train tiny --early-stopping -2", ["--early-stopping", "0 or more"]
    ),
    case("no-data", cell("other"), ["Say what to train other on", "--data sklearn:digits"]),
    case("name-not-identifier", cell("1bad --data sklearn:iris"), ["Python identifier"]),
    # ---- unknown model names
    case("evaluate-unknown-model", "%evaluate tinny", NAME_HINT),
    case("train-line-unknown-model", "%train tinny --epochs 1", NAME_HINT),
    case("predict-unknown-model", "%predict tinny x_iris[:2]", NAME_HINT),
    case("save-unknown-model", "%save tinny", NAME_HINT),
    case("stop-unknown-model", "%stop tinny", NAME_HINT),
    case("runs-unknown-model", "%runs tinny", NAME_HINT),
    # ---- unknown datasets, variables and Keras names
    case(
        "sklearn-dataset-misspelled",
        cell("other --data sklearn:digts", IMAGE_MODEL),
        ["scikit-learn dataset 'digts'", "Did you mean 'digits'"],
    ),
    case(
        "keras-dataset-misspelled",
        cell("other --data keras:mnsit"),
        ["Keras dataset 'mnsit'", "Did you mean 'mnist'"],
    ),
    case(
        "data-variable-misspelled",
        cell("other --data iris_yx"),
        ["No variable named 'iris_yx'", "Did you mean 'iris_xy'"],
    ),
    case(
        "optimizer-misspelled",
        "%train tiny --optimizer adma",
        ["Unknown optimizer 'adma'", "Did you mean", "'adam'"],
    ),
    case(
        "loss-misspelled",
        "%train tiny --loss categorical_crossentopy",
        ["Unknown loss", "Did you mean 'categorical_crossentropy'"],
    ),
    case(
        "loss-unknown",
        "%train tiny --loss bogus",
        ["Unknown loss 'bogus'", "sparse_categorical_crossentropy"],
    ),
    case(
        "metric-unknown",
        "%train tiny --metrics bogus",
        ["Unknown metric 'bogus'", "--metrics accuracy"],
    ),
    case(
        "metric-misspelled",
        "%train tiny --metrics acuracy",
        ["Unknown metric 'acuracy'", "Did you mean 'accuracy'"],
    ),
    # ---- the model and the data do not fit
    case(
        "cell-yields-no-model",
        cell("other --data sklearn:iris", NOT_A_MODEL),
        ["no Keras model", "`model`"],
    ),
    case("input-shape-mismatch", cell("other --data sklearn:digits"), ["(8, 8, 1)", "(4,)"]),
    # an image model without Flatten: the input fits, its output (8, 8, 10) per sample does not
    case(
        "image-model-without-flatten",
        cell("other --data sklearn:digits", FLAT_IMAGE_MODEL),
        ["(None, 8, 8, 10)", "Flatten"],
    ),
    case(
        "train-line-data-shape-mismatch",
        "%train tiny --epochs 1 --data sklearn:wine",
        ["(13,)", "(4,)"],
    ),
    case("evaluate-data-shape-mismatch", "%evaluate tiny --data sklearn:wine", ["(13,)", "(4,)"]),
    case("predict-shape-mismatch", "%predict tiny np.zeros((2, 5))", ["(5,)", "(4,)"]),
    case("nan-rows-without-clean", cell("other --data xy_nan"), ["1 rows", "NaN", "--clean"]),
    case(
        "loss-does-not-fit-labels",
        cell("other --data sklearn:iris --loss mse"),
        ["mse", "sparse_categorical_crossentropy"],
    ),
    case(
        "x-y-different-lengths",
        cell("other --data xy_bad"),
        ["different lengths", "10 samples but 9 labels"],
    ),
    case("dataframe-without-target", cell("other --data iris_df"), ["--target", "species"]),
    case(
        "dataframe-target-misspelled",
        cell("other --data iris_df --target specis"),
        ["no column 'specis'", "Did you mean 'species'"],
    ),
    case(
        "csv-missing",
        cell("other --data no_such_file.csv --target species"),
        ["No file 'no_such_file.csv'", "Check the path"],
    ),
    case("save-not-keras-path", "%save tiny tiny.h5", ["tiny.h5", ".keras"]),
    case(
        "output-units-vs-classes",
        cell("other --data sklearn:iris", TWO_UNIT_MODEL),
        ["outputs 2 values", "3 classes", "Dense(3, activation='softmax')"],
    ),
    case(
        "augment-non-image",
        cell("other --data sklearn:iris --augment flip"),
        ["--augment needs image data", "(samples, height, width, channels)"],
    ),
    case(
        "predict-unknown-variable",
        "%predict tiny x_irs[:2]",
        ["No variable named 'x_irs'", "Did you mean 'x_iris'"],
    ),
    case("predict-no-expr", "%predict tiny", ["%predict NAME EXPR"]),
    case(
        "keras-dataset-offline",
        cell("other --data keras:mnist", IMAGE_MODEL),
        ["keras:mnist", "could not be downloaded", "datasets"],
    ),
]

OPTION_CASES = [
    case("epochs-negative", "%train tiny --epochs -5", ["--epochs", "at least 1", "not -5"]),
    case("epochs-float", "%train tiny --epochs 1.5", ["--epochs", "invalid int value: '1.5'"]),
    case("batch-size-0", "%train tiny --batch-size 0", ["--batch-size", "at least 1", "not 0"]),
    case("batch-size-abc", "%train tiny --batch-size abc", ["invalid int value: 'abc'"]),
    case("lr-abc", "%train tiny --lr abc", ["--lr", "invalid float value: 'abc'"]),
    case("lr-inf", "%train tiny --lr inf", ["--lr must be a positive number", "0.001"]),
    case(
        "validation-split-1",
        cell("other --data sklearn:iris --validation-split 1"),
        ["--validation-split", "below 1", "not 1.0"],
    ),
    case("validation-split-abc", "%train tiny --validation-split abc", ["invalid float value"]),
    case(
        "test-split-nan",
        cell("other --data sklearn:iris --test-split nan"),
        ["--test-split", "below 1", "nan"],
    ),
    case(
        "seed-negative",
        cell("other --data sklearn:iris --seed -1"),
        ["--seed must be a whole number from 0 to 4294967295, or none", "not -1."],
    ),
    case(
        "seed-huge-line",
        "%train tiny --seed 99999999999999999999",
        ["--seed must be a whole number from 0 to 4294967295", "not 99999999999999999999"],
    ),
    case(
        "seed-abc",
        "%train tiny --seed abc",
        ["--seed must be a whole number from 0 to 4294967295, or none", "not 'abc'"],
    ),
    case("early-stopping-abc", "%train tiny --early-stopping x", ["--early-stopping", "'x'"]),
    case("optimizer-empty", "%train tiny --optimizer ''", ["Unknown optimizer ''", "adam"]),
    case("loss-empty", "%train tiny --loss ''", ["Unknown loss ''", "auto"]),
    case("task-empty", cell("other --data sklearn:iris --task ''"), ["--task", "regression"]),
    case("normalize-empty", "%train tiny --normalize ''", ["--normalize", "minmax, standard"]),
    case(
        "augment-empty-item",
        cell("other --data sklearn:digits --augment flip,,rotate", IMAGE_MODEL),
        ["Unknown augmentation ''", "flip, rotate, zoom, shift"],
    ),
    case(
        "from-run-with-a-cell",
        cell("other --data sklearn:iris --from-run abc"),
        ["--from-run", "line form", "%train other --from-run abc"],
    ),
    case(
        "target-without-data-line",
        "%train tiny --target species",
        ["--target", "reuses tiny's data", "--data SPEC"],
    ),
    case("clean-without-data-line", "%train tiny --clean", ["--clean", "apply when data is"]),
    case(
        "normalize-after-training-line",
        "%train tiny --normalize standard",
        ["preprocessing of tiny", "travels inside the model"],
    ),
    case(
        "line-data-with-other-classes",
        "%train tiny --data sklearn:breast_cancer",
        ["differ from what tiny was trained on", "%%train"],
    ),
    case(
        "loss-for-one-hot-on-indices",
        "%train tiny --loss categorical_crossentropy",
        ["--loss categorical_crossentropy compares the outputs with one-hot rows", "auto"],
    ),
    case(
        "loss-binary-for-three-outputs",
        "%train tiny --loss binary_crossentropy",
        ["one sigmoid output per sample, but this model has 3 outputs"],
    ),
    case("loss-kl-on-indices", "%train tiny --loss kld", ["--loss kld compares the outputs"]),
    case(
        "metric-auc-on-indices",
        "%train tiny --metrics auc",
        ["--metrics auc does not fit these labels", "--metrics accuracy"],
    ),
    case(
        "loss-sparse-for-one-hot",
        cell("other --data onehot --loss sparse_categorical_crossentropy"),
        ["takes class indices, but these labels are one-hot rows", "categorical_crossentropy"],
    ),
    case(
        "loss-sparse-for-one-sigmoid",
        cell("other --data xy_binary --loss sparse_categorical_crossentropy", SIGMOID_MODEL),
        ["needs one output per class; this model has one output", "binary_crossentropy"],
    ),
    case(
        "loss-sparse-for-regression",
        cell("other --data xy_fractions --loss sparse_categorical_crossentropy", REGRESSION_MODEL),
        ["needs class labels; these targets are numbers", "--loss auto (mse)"],
    ),
    case("train-without-name", "%train --epochs 1", ["required: name"]),
    case("metrics-only-commas", "%train tiny --metrics ,", ["Unknown metric ''", "--metrics"]),
    case("distribute-bogus", "%train tiny --distribute bogus", ["--distribute", "none, data"]),
    case(
        "devices-without-distribute",
        "%train tiny --devices cpu:0",
        ["--devices", "--distribute data"],
    ),
    case("from-run-unknown", "%train tiny --from-run nosuch", ["No run 'nosuch'", "%runs"]),
]

NAME_CASES = [
    case("name-keyword", cell("for --data sklearn:iris"), ["'for' is a Python keyword"]),
    case("name-emoji", cell("\N{ROBOT FACE} --data sklearn:iris"), ["Python identifier"]),
    case(
        "name-is-a-module",
        cell("np --data sklearn:iris"),
        ["'np' is the module numpy", "e.g. np_model"],
    ),
    case(
        "name-is-a-builtin",
        cell("print --data sklearn:iris"),
        ["'print' is a Python built-in", "print_model"],
    ),
    case(
        "name-is-the-data-variable",
        cell("iris_xy --data iris_xy"),
        ["would replace the data variable iris_xy", "%%train iris_xy_model --data iris_xy"],
    ),
    case(
        "name-is-the-data-frame-line",
        "%train iris_df --data iris_df --target species",
        ["would replace the data variable iris_df"],
    ),
    case(
        "stale-model-not-taken",
        cell("other --data sklearn:iris", "\nx_unused = 1\n"),
        ["no Keras model", "does not assign the variable `model`", "earlier cell is not taken"],
        before=STALE_MODEL,
    ),
    case(
        "stale-model-compiled-by-body",
        cell("other --data sklearn:iris", "\nmodel.compile('adam', 'mse')\n"),
        ["its last expression is a NoneType", "earlier cell is not taken"],
        before=STALE_MODEL,
    ),
    case(
        "body-yields-a-layer",
        cell("other --data sklearn:iris", "\nkeras.layers.Dense(3)\n"),
        ["its last expression is a Dense"],
    ),
    case(
        "body-yields-the-model-class",
        cell("other --data sklearn:iris", "\nkeras.Sequential\n"),
        ["its last expression is a type"],
    ),
    case(
        "body-empty",
        cell("other --data sklearn:iris", "\n"),
        ["the cell body is empty", "line magic %train"],
    ),
    case(
        "body-without-final-expression",
        cell("other --data sklearn:iris", "\nx_unused = 2\n"),
        ["it has no expression at the end", "does not assign the variable `model`"],
    ),
]
