"""A catalogue of user mistakes and hostile inputs, each run in one real kernel (SPEC §5, last
paragraph).

Every mistake must show as IPython's one-line ``UsageError`` (no traceback, no iopub ``error``
message) whose words name the fix, and must change nothing: the model ``tiny`` is still bound,
idle, on its data, with its runs and their histories, no model appeared or vanished, and
``%train tiny --epochs 1`` finishes afterwards. Legitimate edge inputs (``LEGIT``) end in a
correct result instead, and leave the kernel just as healthy.

``CASES`` is the concatenation of lists by theme; more lists can be appended to it.

The kernel runs with no network (its proxies point at a closed port) and a fresh, empty
``KERAS_HOME``, so ``keras:mnist`` cannot be found in a cache nor downloaded.
"""

from __future__ import annotations

from typing import Any

import pytest
from kernel import Kernel

IRIS_MODEL = """
keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
"""

IMAGE_MODEL = """
keras.Sequential([
    keras.Input((8, 8, 1)),
    keras.layers.Flatten(),
    keras.layers.Dense(10, activation="softmax"),
])
"""

TINY_MODEL = """
keras.Sequential([
    keras.Input((4,)),
    keras.layers.Dense(8, activation="relu"),
    keras.layers.Dense(3, activation="softmax"),
])
"""

FLAT_IMAGE_MODEL = """
keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Dense(10, activation="softmax")])
"""

TWO_UNIT_MODEL = """
keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
"""

NOT_A_MODEL = """
model = None
x = 1
"""


FIVE_UNIT_MODEL = """
keras.Sequential([
    keras.Input((4,)),
    keras.layers.Dense(
        5,
        activation="softmax",
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant([0.0, 0.0, 0.0, 0.0, 50.0]),
    ),
])
"""

REGRESSION_MODEL = """
keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
"""

SETUP = """
import os, nbml, numpy as np, pandas as pd
from sklearn.datasets import load_iris
from sklearn.metrics import accuracy_score

x_iris, y_iris = load_iris(return_X_y=True)
x_iris = x_iris.astype("float32")
iris_xy = (x_iris, y_iris)
iris_df = pd.DataFrame(
    x_iris, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"]
)
iris_df["species"] = y_iris
xy_bad = (np.zeros((10, 4), "float32"), np.zeros(9, "int64"))
xy_nan = (x_iris.copy(), y_iris)
xy_nan[0][5, 2] = np.nan
names = np.array(["setosa", "versicolor", "virginica"])

# pandas extension dtypes
iris_str = iris_df.assign(species=pd.Series(names[y_iris], dtype="string"))
iris_cat = iris_df.assign(species=pd.Series(names[y_iris], dtype="category"))
iris_na = iris_df.assign(species=pd.array(y_iris, dtype="Int64"))
iris_na.loc[7, "species"] = pd.NA
iris_color = iris_df.assign(color=pd.Series(["red", "blue"] * 75, dtype="category"))
only_target = pd.DataFrame({"y": y_iris})
iris_ids = iris_df.assign(name=[f"flower {i}" for i in range(150)])
iris_dup = pd.concat([iris_df, iris_df[["species"]]], axis=1)
iris_numbered = pd.DataFrame(x_iris).assign(**{"4": y_iris}).rename(columns={"4": 4})
iris_objects = (iris_df.drop(columns="species").astype("Float64").to_numpy(dtype=object), y_iris)

# labels
xy_none = (x_iris, [None if i == 7 else str(v) for i, v in enumerate(y_iris)])
xy_mixed_labels = (x_iris, [v if i % 2 else str(v) for i, v in enumerate(y_iris.tolist())])
xy_one_class = (x_iris, np.zeros(150, "int64"))
many_ints = (np.random.default_rng(0).random((600, 4), dtype="float32"), np.arange(600) % 500)
xy_dates = (x_iris, pd.date_range("2020-01-01", periods=150).to_numpy())
xy_fractions = (x_iris, x_iris[:, 0])
xy_2d_labels = (x_iris, np.stack([y_iris, y_iris], axis=1))
xy_unknown_class = (x_iris, np.full(150, 5))
named = (x_iris, names[y_iris])
onehot = (x_iris, np.eye(3, dtype="float32")[y_iris])
onehot4 = (x_iris, np.eye(4, dtype="float32")[y_iris])
import scipy.sparse
xy_sparse = (scipy.sparse.csr_matrix(x_iris), y_iris)
keyed = (x_iris, np.array(["accuracy", "macro avg", "weighted avg"])[y_iris])

# shapes and types
imgs_mixed = ([np.zeros((8, 8, 1)), np.zeros((9, 9, 1))] * 10, [0, 1] * 10)
xy_text = (np.array(["a b c"] * 150), y_iris)
xy_empty = (np.zeros((0, 4), "float32"), np.zeros(0, "int64"))
xy_scalars = (1, 2)
xy_three = (x_iris, y_iris, y_iris)
d_no_y = {"x": x_iris}
d_x_test_only = {"x": x_iris, "y": y_iris, "x_test": x_iris[:10]}
some_int = 3
greeting = "hello"

# files, in the kernel's folder
iris_df.to_csv("iris.csv", index=False)
iris_df.assign(color=["red", "blue"] * 75).to_csv("iris_color.csv", index=False)
open("empty.csv", "w").close()
with open("garbage.csv", "wb") as f:
    f.write(bytes([0xFF, 0xFE, 0x00, 0x81]) + b"garbage")
os.makedirs("folder.csv", exist_ok=True)
with open("text.npz", "w") as f:
    f.write("not a zip archive")
np.savez("no_xy.npz", a=np.zeros(3))
np.savez("objects.npz", x=np.array([object(), 1], dtype=object), y=np.zeros(2))
np.savez("iris.npz", x=x_iris, y=y_iris)

# streams
def batches(n=3):
    return ((x_iris[i::n], y_iris[i::n]) for i in range(n))

class NoBatches(keras.utils.PyDataset):
    def __len__(self):
        return 0

    def __getitem__(self, i):
        raise IndexError(i)

gen_empty = (b for b in [])
gen_empty_eval = (b for b in [])
gen_scalars = (i for i in range(3))
gen_x_only = (x_iris[i::3] for i in range(3))
gen_short_y = ((x_iris[:10], y_iris[:9]) for _ in range(3))
gen_str_labels = ((x_iris[i::3], names[y_iris[i::3]]) for i in range(3))
no_batches = NoBatches()
gen_for_once = batches()

def _tiny_state():
    recs = [m for m in nbml.models() if m.name == "tiny"]
    rec = recs[0] if recs else None
    return (
        isinstance(globals().get("tiny"), keras.Model) and tiny is _tiny0,
        rec is not None and rec.model is tiny,
        rec.status if rec else None,
        rec.dataset.spec if rec else None,
    )

def _kernel_state():
    # tiny's state, the length of each of its runs' histories, and every model's name
    recs = [m for m in nbml.models() if m.name == "tiny"]
    runs = recs[0].runs if recs else []
    return (
        _tiny_state(),
        [len(r.history.get("loss", [])) for r in runs],
        sorted(m.name for m in nbml.models()),
    )
"""

HEALTHY = (True, True, "idle", "sklearn:iris")


def train_tiny(k: Kernel) -> None:
    res = k.ok(f"%%train tiny --data sklearn:iris --epochs 1{TINY_MODEL}")
    assert "finished" in res.last_display_text, res.text
    k.ok("_tiny0 = tiny")


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """One kernel for the whole catalogue: nbml loaded, no network, an empty Keras cache."""
    keras_home = tmp_path_factory.mktemp("keras_home")
    env = {
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
        "KERAS_HOME": str(keras_home),
    }
    k = Kernel(str(tmp_path_factory.mktemp("kernel")), env=env)
    k.keras_home = str(keras_home)
    k.ok("%load_ext nbml\nimport keras, numpy as np")
    k.ok(SETUP)
    train_tiny(k)
    yield k
    k.shutdown()


@pytest.fixture
def tiny(kernel):
    """``tiny`` healthy before each case (rebuilt if an earlier case broke it)."""
    if tuple(kernel.value("_tiny_state()")) != HEALTHY:
        train_tiny(kernel)
    assert tuple(kernel.value("_tiny_state()")) == HEALTHY
    return kernel


def cell(line: str, body: str = IRIS_MODEL) -> str:
    return f"%%train {line}{body}"


def case(id: str, code: str, words: list[str], before: str = "") -> object:
    """One user mistake: the magic to run (after ``before``, run as a cell of its own) and the
    key words its message must contain."""
    return pytest.param(before, code, words, id=id)


NAME_HINT = ["No model named 'tinny'", "Did you mean 'tiny'"]

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


STALE_MODEL = f"model = {IRIS_MODEL.strip()}"
SPLIT = "%%train other --data sklearn:iris"

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
        ["--seed must be a whole number from 0 to 4294967295, not -1."],
    ),
    case(
        "seed-huge-line",
        "%train tiny --seed 99999999999999999999",
        ["--seed must be a whole number from 0 to 4294967295", "not 99999999999999999999"],
    ),
    case("seed-abc", "%train tiny --seed abc", ["--seed", "invalid int value: 'abc'"]),
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

DATA_CASES = [
    case("data-empty-string", cell("other --data ''"), ["Cannot read the data spec ''"]),
    case("data-sklearn-empty", cell("other --data sklearn:"), ["scikit-learn dataset ''"]),
    case("data-keras-empty", cell("other --data keras:"), ["Unknown Keras dataset ''", "mnist"]),
    case("data-prefix-uppercase", cell("other --data SKLEARN:iris"), ["sklearn:NAME"]),
    case(
        "data-unicode-variable",
        cell("other --data donn\u00e9es"),
        ["No variable named 'donn\u00e9es'"],
    ),
    case("data-keyword", cell("other --data lambda"), ["Cannot read the data spec 'lambda'"]),
    case(
        "data-single-array",
        cell("other --data x_iris"),
        ["'x_iris' is a ndarray (a single array has no labels)", "(x, y)"],
    ),
    case("data-an-int", cell("other --data some_int"), ["'some_int' is a int", "(x, y)"]),
    case("data-a-string", cell("other --data greeting"), ["'greeting' is a str"]),
    case("data-three-items", cell("other --data xy_three"), ["'xy_three' is a tuple"]),
    case("data-dict-without-y", cell("other --data d_no_y"), ["keys ['x']", "'x' and 'y'"]),
    case(
        "data-dict-x-test-only",
        cell("other --data d_x_test_only"),
        ["has x_test without y_test", "give both, or neither"],
    ),
    case("data-scalars", cell("other --data xy_scalars"), ["is a scalar", "one row per sample"]),
    case("data-no-rows", cell("other --data xy_empty"), ["'xy_empty' has no samples"]),
    case(
        "images-of-mixed-shapes",
        cell("other --data imgs_mixed", IMAGE_MODEL),
        ["different shapes ((8, 8, 1) and (9, 9, 1))", "Resize images to one size"],
    ),
    case("text-features", cell("other --data xy_text"), ["holds strings", "TextVectorization"]),
    case(
        "feature-column-category",
        cell("other --data iris_color --target species"),
        ["Feature columns ['color']", "pandas.get_dummies"],
    ),
    case(
        "frame-of-the-target-only",
        cell("other --data only_target --target y"),
        ["no columns besides the target 'y'"],
    ),
    case("csv-without-target", cell("other --data iris.csv"), ["--target", "species"]),
    case(
        "csv-string-feature",
        cell("other --data iris_color.csv --target species"),
        ["Feature columns ['color']"],
    ),
    case(
        "csv-empty",
        cell("other --data empty.csv --target y"),
        ["Could not read empty.csv as a CSV table", "header row"],
    ),
    case(
        "csv-not-text",
        cell("other --data garbage.csv --target y"),
        ["Could not read garbage.csv as a CSV table", "utf-8"],
    ),
    case("csv-is-a-folder", cell("other --data folder.csv --target y"), ["is a folder"]),
    case("npz-missing", cell("other --data nope.npz"), ["No file 'nope.npz'", "Check the path"]),
    case(
        "npz-not-an-archive",
        cell("other --data text.npz"),
        ["Could not read text.npz as an npz file", "np.savez"],
    ),
    case("npz-without-x-y", cell("other --data no_xy.npz"), ["arrays ['a']", "'x' and 'y'"]),
    case(
        "npz-of-objects",
        cell("other --data objects.npz"),
        ["Could not read objects.npz", "no Python objects"],
    ),
]

LABEL_CASES = [
    case(
        "labels-missing-none",
        cell("other --data xy_none"),
        ["1 labels of 'xy_none' are missing", "--clean"],
    ),
    case(
        "labels-missing-pd-na",
        cell("other --data iris_na --target species"),
        ["1 labels of 'iris_na' are missing (None, NaN or pd.NA)", "--clean"],
    ),
    case(
        "labels-mixed-types",
        cell("other --data xy_mixed_labels"),
        ["mixes label types (int, str)", "astype"],
    ),
    case(
        "labels-one-class",
        cell("other --data xy_one_class"),
        ["a single class (0)", "at least two"],
    ),
    case(
        "labels-many-integers",
        cell("other --data many_ints"),
        ["500 different whole numbers over 600 rows", "--task regression"],
    ),
    case(
        "labels-that-are-names",
        cell("other --data iris_ids --target name"),
        ["150 different strings over 150 rows", "Check that --target names the label column"],
    ),
    case(
        "frame-two-target-columns",
        cell("other --data iris_dup --target species"),
        ["2 columns named 'species'", "Rename them"],
    ),
    case(
        "sparse-features",
        cell("other --data xy_sparse"),
        ["sparse matrix", "x.toarray()"],
    ),
    case(
        "labels-datetimes",
        cell("other --data xy_dates"),
        ["datetime64", "neither numbers nor classes"],
    ),
    case(
        "labels-two-columns",
        cell("other --data xy_2d_labels"),
        ["one per sample or one-hot rows", "--task regression"],
    ),
    case(
        "regression-on-strings",
        cell("other --data iris_str --target species --task regression"),
        ["--task regression needs numeric labels"],
    ),
    case(
        "classification-of-fractions",
        cell("other --data xy_fractions --task classification"),
        ["fractions", "--task regression"],
    ),
]

STREAM_CASES = [
    case("stream-empty", cell("other --data gen_empty"), ["yields no batches", "used up"]),
    case(
        "stream-used-up",
        cell("other --data used"),
        ["'used' yields no batches", "a generator runs once"],
        before="used = batches()\n_ = list(used)",
    ),
    case("stream-of-ints", cell("other --data gen_scalars"), ["yields a int", "(x, y)"]),
    case("stream-of-x-only", cell("other --data gen_x_only"), ["yields a ndarray", "(x, y)"]),
    case(
        "stream-short-labels",
        cell("other --data gen_short_y"),
        ["x shaped (10, 4) with y shaped (9,)", "one label per sample"],
    ),
    case(
        "stream-string-labels",
        cell("other --data gen_str_labels"),
        ["class indices (0, 1, ...)", "Encode them in the stream"],
    ),
    case(
        "generator-for-several-epochs",
        cell("other --data fresh --epochs 2"),
        ["'fresh' is a generator: it runs once, so it can feed one epoch, not 2", "--epochs 1"],
        before="fresh = batches()",
    ),
    case(
        "train-again-on-a-used-generator",
        "%train gen_once --epochs 1",
        ["was used up by an earlier run", "fresh one with --data"],
        before=f"%%train gen_once --data gen_for_once --epochs 1{IRIS_MODEL}",
    ),
    case("pydataset-without-batches", cell("other --data no_batches"), ["yields no batches"]),
    case(
        "stream-with-normalize",
        cell("other --data fresh --normalize minmax"),
        ["--normalize and --augment need array data"],
        before="fresh = batches()",
    ),
]

JUDGE_CASES = [
    case("evaluate-without-name", "%evaluate", ["required: name"]),
    case("evaluate-frame-without-target", "%evaluate tiny --data iris_df", ["--target", "species"]),
    case("evaluate-lengths-differ", "%evaluate tiny --data xy_bad", ["10 samples but 9 labels"]),
    case(
        "evaluate-unknown-class",
        "%evaluate tiny --data xy_unknown_class",
        ["The labels contain 5, a class the model was not trained on"],
    ),
    case(
        "evaluate-nan-features",
        "%evaluate tiny --data xy_nan",
        ["1 rows of 'xy_nan' contain NaN", "Drop or fill in those rows first"],
    ),
    case(
        "evaluate-missing-labels",
        "%evaluate tiny --data xy_none",
        ["1 labels of 'xy_none' are missing", "Drop or fill in"],
    ),
    case(
        "evaluate-one-hot-of-other-width",
        "%evaluate tiny --data onehot4",
        ["one-hot rows of 4 columns, but the model knows 3 classes"],
    ),
    case("evaluate-empty-stream", "%evaluate tiny --data gen_empty_eval", ["yields no batches"]),
    case("evaluate-bogus-option", "%evaluate tiny --proba", ["unrecognized arguments: --proba"]),
    case(
        "predict-one-sample",
        "%predict tiny x_iris[0]",
        ["shape ()", "(4,)", "If it is one sample of shape (4,), pass a batch of one: x[None]"],
    ),
    case("predict-frame-with-target", "%predict tiny iris_df", ["(5,)", "(4,)"]),
    case("predict-3d", "%predict tiny np.zeros((2, 2, 2))", ["(2, 2)", "(4,)"]),
    case("predict-proba-without-expr", "%predict tiny --proba", ["%predict NAME EXPR"]),
    case(
        "predict-unicode-variable",
        "%predict tiny donn\u00e9es",
        ["No variable named 'donn\u00e9es'"],
    ),
    case("save-without-name", "%save", ["required: name"]),
    case("save-format-bogus", "%save tiny --format bogus", ["--format", "keras, saved_model"]),
    case("runs-compare-unknown", "%runs tiny --compare nosuch", ["No run 'nosuch'", "%runs"]),
    case(
        "evaluate-regression-targets-on-a-classifier",
        "%evaluate tiny --data sklearn:diabetes",
        ["The labels contain 151.0, a class the model was not trained on"],
    ),
    case("stop-without-name", "%stop", ["required: name"]),
    case("stop-two-names", "%stop tiny other", ["unrecognized arguments: other"]),
    case("runs-bogus-option", "%runs --bogus", ["unrecognized arguments: --bogus"]),
]

#: Every list of mistakes; append more lists here.
CASES = [
    *BASIC_CASES,
    *OPTION_CASES,
    *NAME_CASES,
    *DATA_CASES,
    *LABEL_CASES,
    *STREAM_CASES,
    *JUDGE_CASES,
]


def legit(id: str, code: str, expr: str, expected: object, before: str = "") -> object:
    """A legitimate edge input: ``code`` runs without error, then ``expr`` equals ``expected``."""
    return pytest.param(before, code, expr, expected, id=id)


def _one(name: str, what: str) -> str:
    return f"[m for m in nbml.models() if m.name == {name!r}][0].{what}"


FIVE_EVAL = (
    "(lambda ev: (ev.labels[-1], int(ev.confusion_matrix[:, -1].sum()), ev.accuracy, "
    "ev.accuracy == accuracy_score(ev.y_true, ev.y_pred), "
    "nbml.predict('five', x_iris[:2]).tolist()))(nbml.evaluate('five'))"
)

LEGIT = [
    legit("stop-an-idle-model", "_ = %stop tiny", "1", 1),
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
        f"({_one('na_m', 'dataset.dropped')}, {_one('na_m', 'task.classes')})",
        (1, [0, 1, 2]),
    ),
    legit(
        "missing-labels-cleaned",
        cell("none_m --data xy_none --clean --epochs 1"),
        f"({_one('none_m', 'dataset.dropped')}, {_one('none_m', 'task.classes')})",
        (1, ["0", "1", "2"]),
    ),
    legit(
        "many-integers-as-regression",
        cell("many_m --data many_ints --task regression --epochs 1", REGRESSION_MODEL),
        _one("many_m", "task.kind"),
        "regression",
    ),
    legit(
        "largest-seed",
        cell("seed_m --data sklearn:iris --seed 4294967295 --epochs 1"),
        _one("seed_m", "run.params['seed']"),
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
        f"({_one('gen_m', 'status')}, {_one('gen_m', 'task.classes')})",
        ("idle", [0, 1, 2]),
        before="fresh = batches()",
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
    legit("csv-file", cell("csv_m --data iris.csv --target species --epochs 1"), "1", 1),
    legit("npz-file", cell("npz_m --data iris.npz --epochs 1"), _one("npz_m", "status"), "idle"),
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
        _one("num_m", "task.classes"),
        [0, 1, 2],
    ),
    legit(
        "object-array-of-numbers",
        cell("obj_m --data iris_objects --epochs 1"),
        _one("obj_m", "dataset.x_train.dtype.name"),
        "float32",
    ),
    legit("predict-proba", "_p = %predict tiny x_iris[:3] --proba", "_p.shape", (3, 3)),
    legit(
        "huge-batch-size",
        "_r = %train tiny --epochs 1 --batch-size 1000000",
        "(_r.status, _r.epoch)",
        ("finished", 1),
    ),
]


def _clean(res: Any) -> None:
    assert res.error is None, f"{res.error['ename']}: {res.error['evalue']}"
    assert "Traceback" not in res.text, res.text


def _still_trains(kernel: Kernel) -> None:
    res = kernel.ok("_run = %train tiny --epochs 1")
    assert "finished" in res.last_display_text, res.text
    assert kernel.value("(_run.status, _run.epoch)") == ("finished", 1)
    assert tuple(kernel.value("_tiny_state()")) == HEALTHY


@pytest.mark.parametrize(("before", "code", "words"), CASES)
def test_mistake_is_a_usage_error_and_the_kernel_still_trains(tiny, before, code, words):
    kernel = tiny
    if before:
        kernel.ok(before)
    state = kernel.value("_kernel_state()")
    res = kernel.execute(code, timeout=120)
    _clean(res)
    assert res.stderr.startswith("UsageError: "), res.text
    message = res.stderr[len("UsageError: ") :].strip()
    assert "\n" not in message, message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    if "keras:mnist" in code:
        assert kernel.keras_home in message, message

    # the mistake changed nothing: tiny is still bound, idle, on its data, with its runs'
    # histories; no model appeared or vanished
    assert kernel.value("_kernel_state()") == state
    assert tuple(state[0]) == HEALTHY
    _still_trains(kernel)


@pytest.mark.parametrize(("before", "code", "expr", "expected"), LEGIT)
def test_legitimate_edge_input_gives_the_right_result(tiny, before, code, expr, expected):
    kernel = tiny
    if before:
        kernel.ok(before)
    res = kernel.execute(code, timeout=120)
    _clean(res)
    assert "UsageError" not in res.stderr, res.text
    assert kernel.value(expr) == expected
    assert tuple(kernel.value("_tiny_state()")) == HEALTHY
    _still_trains(kernel)


def test_catalogue_is_large_enough():
    assert len(CASES) >= 100
    assert len(CASES) + len(LEGIT) >= 120
