"""A catalogue of user mistakes, each run in one real kernel (SPEC §5, last paragraph).

Every mistake must show as IPython's one-line ``UsageError`` (no traceback, no iopub ``error``
message) whose words name the fix, and must leave the kernel able to train: the model ``tiny``
is still bound, idle, and ``%train tiny --epochs 1`` finishes afterwards.

The kernel runs with no network (its proxies point at a closed port) and a fresh, empty
``KERAS_HOME``, so ``keras:mnist`` cannot be found in a cache nor downloaded.
"""

from __future__ import annotations

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


SETUP = """
import os, nbml, numpy as np, pandas as pd
from sklearn.datasets import load_iris

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

def _tiny_state():
    recs = [m for m in nbml.models() if m.name == "tiny"]
    rec = recs[0] if recs else None
    return (
        isinstance(globals().get("tiny"), keras.Model) and tiny is _tiny0,
        rec is not None and rec.model is tiny,
        rec.status if rec else None,
        rec.dataset.spec if rec else None,
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


def case(id: str, code: str, words: list[str]) -> object:
    """One user mistake: the magic to run and the key words its message must contain."""
    return pytest.param(code, words, id=id)


NAME_HINT = ["No model named 'tinny'", "Did you mean 'tiny'"]

CASES = [
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


@pytest.mark.parametrize(("code", "words"), CASES)
def test_mistake_is_a_usage_error_and_the_kernel_still_trains(tiny, code, words):
    kernel = tiny
    res = kernel.execute(code, timeout=120)
    assert res.error is None, f"{res.error['ename']}: {res.error['evalue']}"
    assert "Traceback" not in res.text, res.text
    assert res.stderr.startswith("UsageError: "), res.text
    message = res.stderr[len("UsageError: ") :].strip()
    assert "\n" not in message, message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    if "keras:mnist" in code:
        assert kernel.keras_home in message, message

    # the mistake changed nothing: tiny is still bound, idle, on its data
    assert tuple(kernel.value("_tiny_state()")) == HEALTHY
    # and the kernel still trains
    res = kernel.ok("_run = %train tiny --epochs 1")
    assert "finished" in res.last_display_text, res.text
    assert kernel.value("(_run.status, _run.epoch)") == ("finished", 1)
    assert tuple(kernel.value("_tiny_state()")) == HEALTHY


def test_catalogue_is_large_enough():
    assert len(CASES) >= 24
