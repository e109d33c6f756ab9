"""The kernel's setup for the catalogue of mistakes (tests/test_kernel_errors.py): models,
data of every awkward shape, files, streams, and helpers to write cases."""

from __future__ import annotations

import pytest

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

HEALTHY = (True, True, "idle", "sklearn:iris")

SIGMOID_MODEL = """
keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
"""

REGRESSION_MODEL = """
keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
"""

TAGS_MODEL = """
keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="sigmoid")])
"""

LINEAR3_MODEL = """
keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
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
xy_binary = (x_iris[:100], y_iris[:100])
xy_fractions = (x_iris, x_iris[:, 0])
xy_2d_labels = (x_iris, np.stack([y_iris, y_iris], axis=1))
xy_unknown_class = (x_iris, np.full(150, 5))
named = (x_iris, names[y_iris])
onehot = (x_iris, np.eye(3, dtype="float32")[y_iris])
onehot4 = (x_iris, np.eye(4, dtype="float32")[y_iris])
import scipy.sparse
xy_sparse = (scipy.sparse.csr_matrix(x_iris), y_iris)
keyed = (x_iris, np.array(["accuracy", "macro avg", "weighted avg"])[y_iris])

# label encodings: multi-hot rows, one-hot with an all-zero row, soft labels, whole-number floats
from sklearn.datasets import make_multilabel_classification
_xt, _yt = make_multilabel_classification(150, n_features=4, n_classes=3, random_state=0)
xy_tags = (_xt.astype("float32"), _yt)
onehot_gap = (x_iris, np.eye(3, dtype="float32")[y_iris])
onehot_gap[1][7] = 0
xy_soft = (x_iris, (np.eye(3) * 0.9 + 0.1 / 3)[y_iris].astype("float32"))
xy_int_floats = (x_iris, y_iris.astype("float64"))

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
with open("header_only.csv", "w") as f:
    f.write("a,b,c,d,species\\n")
iris_gap = iris_df.astype({"species": "Int64"})
iris_gap.loc[7, "species"] = pd.NA
iris_gap.to_csv("iris_gap.csv", index=False)  # pandas writes the gap as an empty field
iris_df.to_csv("iris_semicolons.csv", index=False, sep=";")
_shuffled = iris_df.sample(frac=1, random_state=0)
xy_misaligned = (_shuffled.drop(columns="species"), iris_df["species"])
xy_no_features = (np.zeros((150, 0), "float32"), y_iris)
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


def cell(line: str, body: str = IRIS_MODEL) -> str:
    return f"%%train {line}{body}"


def case(id: str, code: str, words: list[str], before: str = "") -> object:
    """One user mistake: the magic to run (after ``before``, run as a cell of its own) and the
    key words its message must contain."""
    return pytest.param(before, code, words, id=id)


def legit(
    id: str, code: str, expr: str, expected: object, before: str = "", out: tuple = ()
) -> object:
    """A legitimate edge input: ``code`` runs without error, showing the words ``out``, then
    ``expr`` equals ``expected``."""
    return pytest.param(before, code, expr, expected, out, id=id)


def one(name: str, what: str) -> str:
    """An expression for attribute ``what`` of model ``name``'s record."""
    return f"[m for m in nbml.models() if m.name == {name!r}][0].{what}"


NAME_HINT = ["No model named 'tinny'", "Did you mean 'tiny'"]
STALE_MODEL = f"model = {IRIS_MODEL.strip()}"
