"""Data edge cases (issue #10, item 8): each a correct result or an NbmlError naming the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nbml import NbmlError
from nbml.api import load_data


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.random((60, 2)).astype("float32"), columns=["a", "b"])
    df["s"] = pd.Series(["u", "v", "w"] * 20, dtype="string")
    df["c"] = pd.Series(["u", "v", "w"] * 20, dtype="category")
    df["i"] = pd.array([0, 1, 2] * 20, dtype="Int64")
    return df


@pytest.mark.parametrize("col", ["s", "c", "i"])
def test_pandas_extension_dtype_targets_are_classes(col):
    df = _frame()
    ds = load_data(df[["a", "b", col]], target=col)
    want = [0, 1, 2] if col == "i" else ["u", "v", "w"]
    assert ds.task.kind == "classification" and ds.task.classes == want
    assert set(ds.task.decode(ds.y_train).tolist()) == set(want)


def test_nullable_int_target_with_na_stays_integer_classes_after_clean():
    df = _frame()[["a", "b", "i"]]
    df.loc[3, "i"] = pd.NA
    with pytest.raises(NbmlError, match=r"^1 labels of 'DataFrame' are missing .* Pass --clean"):
        load_data(df, target="i")
    ds = load_data(df, target="i", clean=True)
    assert ds.task.kind == "classification" and ds.task.classes == [0, 1, 2]
    assert ds.dropped == 1


def test_nullable_and_string_feature_columns():
    df = _frame()
    with pytest.raises(NbmlError, match=r"Feature columns \['s', 'c'\] of DataFrame are not"):
        load_data(df, target="i")
    num = df[["a", "i"]].assign(y=[0, 1] * 30)
    num["a"] = num["a"].astype("Float64")
    ds = load_data(num, target="y")  # Int64 and Float64 features: float32 numbers
    assert ds.x_train.dtype == np.float32 and ds.x_train.shape[1] == 2
    num.loc[5, "i"] = pd.NA
    with pytest.raises(NbmlError, match="1 rows of 'DataFrame' contain NaN .* --clean"):
        load_data(num, target="y")
    assert load_data(num, target="y", clean=True).dropped == 1
    # a DataFrame of nullable features inside a tuple
    assert load_data((num[["a", "i"]], num["y"]), clean=True).x_train.dtype == np.float32


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA])
def test_missing_labels_need_clean(missing):
    x = np.random.default_rng(0).random((30, 2))
    y = ["a", missing, "b"] * 10
    with pytest.raises(NbmlError, match="^10 labels of 'tuple' are missing"):
        load_data((x, y))
    ds = load_data((x, y), clean=True)
    assert ds.task.classes == ["a", "b"] and ds.dropped == 10


def test_labels_mixing_types_are_refused():
    with pytest.raises(NbmlError, match=r"mixes label types \(int, str\).*y.astype\(str\)"):
        load_data((np.zeros((30, 2)), ["a", 1, "b"] * 10))


def test_a_single_class_is_refused_for_training():
    with pytest.raises(NbmlError, match=r"single class \(7\): a classifier needs at least two"):
        load_data((np.zeros((30, 2)), [7] * 30))


def test_many_valued_integer_target_asks_for_the_task():
    rng = np.random.default_rng(0)
    x, y = rng.random((600, 3)), np.arange(600) % 500
    with pytest.raises(NbmlError, match="500 different whole numbers over 600 rows.*--task regr"):
        load_data((x, y))
    assert load_data((x, y), task="regression").task.kind == "regression"
    ds = load_data((x, y), task="classification", test_split=0, validation_split=0)
    assert ds.task.n_classes == 500
    # 21 classes over 600 rows: ordinary classification
    assert load_data((x, np.arange(600) % 21)).task.n_classes == 21


@pytest.mark.parametrize("seed", [-1, 2**32, 10**30, True])
def test_seed_out_of_range(seed):
    with pytest.raises(NbmlError, match=r"--seed must be a whole number from 0 to 4294967295"):
        load_data((np.zeros((20, 2)), [0, 1] * 10), seed=seed)


def test_largest_seed_works():
    assert len(load_data((np.zeros((20, 2)), [0, 1] * 10), seed=2**32 - 1).x_test) == 4


def test_images_of_mixed_shapes_and_string_features():
    imgs = [np.zeros((8, 8)), np.zeros((9, 9))] * 5
    with pytest.raises(NbmlError, match=r"different shapes \(\(8, 8\) and \(9, 9\)\).*Resize"):
        load_data((imgs, [0, 1] * 5))
    with pytest.raises(NbmlError, match="holds strings.*TextVectorization"):
        load_data((["a b", "c"] * 10, [0, 1] * 10))
    assert load_data((np.eye(20) > 0, [0, 1] * 10)).x_train.dtype == np.float32


def test_test_part_needs_both_arrays():
    with pytest.raises(NbmlError, match="has x_test without y_test; give both, or neither"):
        load_data({"x": np.zeros((20, 2)), "y": [0, 1] * 10, "x_test": np.zeros((5, 2))})


def test_dataframe_without_feature_columns():
    with pytest.raises(NbmlError, match="no columns besides the target 'y'"):
        load_data(pd.DataFrame({"y": [0, 1] * 10}), target="y")


@pytest.mark.parametrize(
    ("gen", "words"),
    [
        (lambda: (b for b in []), "yields no batches: it is empty, or a generator that an"),
        (lambda: (i for i in [1, 2]), "yields a int; it must yield"),
        (lambda: (np.zeros((4, 3)) for _ in range(2)), "yields a ndarray; it must yield"),
        (lambda: ((np.zeros((4, 3)), np.zeros(3)) for _ in range(2)), r"y shaped \(3,\)"),
        (lambda: ((np.zeros((4, 3)), np.array(list("abab"))) for _ in range(2)), "class indices"),
    ],
)
def test_odd_generators(gen, words):
    with pytest.raises(NbmlError, match=words):
        load_data(gen())


def test_generator_keeps_its_first_batch():
    batches = [(np.full((4, 3), i, "float32"), np.array([0, 1, 2, 1])) for i in range(3)]
    ds = load_data(b for b in batches)
    assert ds.task.classes == [0, 1, 2] and ds.x_train.shape == (4, 3)
    assert [int(b[0][0, 0]) for b in ds.stream] == [0, 1, 2]


def test_odd_label_dtypes():
    with pytest.raises(NbmlError, match="datetime64.*neither numbers nor classes"):
        load_data((np.zeros((20, 2)), pd.date_range("2020", periods=20).to_numpy()))


def test_decode_a_unit_that_is_no_class():
    from nbml.ml.tasks import Task

    assert Task("classification", [0, 1, 2], ["0", "1", "2"]).decode(np.array([0, 4])).tolist() == [
        0,
        4,
    ]
    t = Task("classification", ["a", "b"], ["a", "b"])
    assert t.decode(np.array([1, 0])).tolist() == ["b", "a"]
    with pytest.raises(NbmlError, match=r"output unit 3, which is none of its 2 classes"):
        t.decode(np.array([0, 3]))


def test_object_array_of_numbers_and_sparse_matrices():
    import scipy.sparse

    df = pd.DataFrame({"a": pd.array([1, None, 3] * 10, dtype="Int64"), "b": [1.0, 2.0, 3.0] * 10})
    with pytest.raises(NbmlError, match="10 rows of 'tuple' contain NaN"):
        load_data((df.values, [0, 1] * 15))  # an object array with pd.NA
    ds = load_data((df.values, [0, 1] * 15), clean=True)
    assert ds.x_train.dtype == np.float32 and ds.dropped == 10
    with pytest.raises(NbmlError, match="not a regular numeric array"):
        load_data((np.array([["a", 1]] * 30, dtype=object), [0, 1] * 15))
    with pytest.raises(NbmlError, match=r"sparse matrix; pass a dense array, x.toarray\(\)"):
        load_data((scipy.sparse.csr_matrix(np.eye(30)), [0, 1] * 15))


def test_frame_columns_that_are_numbers_or_repeat():
    df = pd.DataFrame(np.random.default_rng(0).random((30, 3)))
    df[3] = [0, 1] * 15
    assert load_data(df, target="3").task.classes == [0, 1]  # --target 3 names column 3
    dup = pd.DataFrame(np.zeros((30, 3)), columns=["a", "y", "y"])
    with pytest.raises(NbmlError, match="2 columns named 'y'"):
        load_data(dup, target="y")


def test_many_valued_string_target_is_the_wrong_column():
    x = np.zeros((100, 2))
    ids = [f"row {i}" for i in range(100)]
    with pytest.raises(NbmlError, match="100 different strings over 100 rows.*--target"):
        load_data((x, ids))
    assert load_data((x, ids), task="classification", test_split=0, validation_split=0)


def test_encode_class_names_and_one_hot_rows():
    from nbml.ml.tasks import Task

    iris = Task("classification", [0, 1, 2], ["setosa", "versicolor", "virginica"])
    assert iris.encode(np.array(["virginica", "setosa"])).tolist() == [2, 0]
    assert iris.encode(np.eye(3)[[2, 1]]).tolist() == [2, 1]
    with pytest.raises(NbmlError, match="one-hot rows of 4 columns, but the model knows 3"):
        iris.encode(np.eye(4))
    with pytest.raises(NbmlError, match="The labels contain 'rose', a class the model was not"):
        iris.encode(np.array(["rose"]))
    hot = Task("classification", [0, 1, 2], ["0", "1", "2"], one_hot=True)
    assert hot.encode(np.array([0, 2])).tolist() == [0, 2]  # indices for a one-hot model


def test_a_generator_planned_twice_keeps_its_first_batch():
    batches = [(np.full((4, 3), i, "float32"), [0, 1, 2, 1]) for i in range(3)]  # lists of y
    gen = (b for b in batches)
    with pytest.raises(NbmlError, match="--test-split"):
        load_data(gen, test_split=1.5)  # refused before the stream is read
    load_data(gen)  # a plan that read the first batch, then failed
    ds = load_data(gen)  # the same generator again: its first batch is not lost
    assert [int(b[0][0, 0]) for b in ds.stream] == [0, 1, 2]
    assert all(isinstance(b, tuple) for b in load_data(b for b in batches).stream)
    with pytest.raises(NbmlError, match="yields no batches: .* already used up"):
        load_data(gen)


def test_a_generator_feeds_one_epoch():
    from nbml.ml.data import check_stream

    ds = load_data((np.zeros((4, 3)), np.array([0, 1, 2, 1])) for _ in range(3))
    check_stream(ds, 1)
    with pytest.raises(NbmlError, match="runs once, so it can feed one epoch, not 3"):
        check_stream(ds, 3)
    list(ds.stream)  # a run read it
    with pytest.raises(NbmlError, match="was used up by an earlier run"):
        check_stream(ds, 1)
    check_stream(load_data((np.zeros((4, 3)), np.array([0, 1, 2, 1]))), 5)  # arrays: any epochs


def test_csv_integers_with_a_gap_semicolons_and_no_rows(tmp_path):
    rows = "".join(f"{i},{i * 2},{'' if i == 3 else i % 3}\n" for i in range(30))
    (tmp_path / "gap.csv").write_text("a,b,y\n" + rows)
    with pytest.raises(NbmlError, match="1 labels of .*gap.csv' are missing"):
        load_data(str(tmp_path / "gap.csv"), target="y")
    ds = load_data(str(tmp_path / "gap.csv"), target="y", clean=True)
    # read as nullable integers: still classes once the gap is dropped, not a regression
    assert (ds.task.kind, ds.task.classes, ds.dropped) == ("classification", [0, 1, 2], 1)
    (tmp_path / "semi.csv").write_text("a;b;y\n" + rows.replace(",", ";").replace(";\n", ";0\n"))
    assert load_data(str(tmp_path / "semi.csv"), target="y").task.classes == [0, 1, 2]
    (tmp_path / "head.csv").write_text("a,b,y\n")
    with pytest.raises(NbmlError, match="has a header row but no data rows"):
        load_data(str(tmp_path / "head.csv"), target="y")


def test_target_is_for_tables_only():
    with pytest.raises(NbmlError, match="--target names the label column of a DataFrame or CSV"):
        load_data((np.zeros((10, 2)), [0, 1] * 5), target="y")


def test_no_features_and_splits_that_leave_nothing():
    with pytest.raises(NbmlError, match=r"has no features: its samples have shape \(0,\)"):
        load_data((np.zeros((10, 0)), [0, 1] * 5))
    with pytest.raises(NbmlError, match="^--validation-split 0.2 of 1 rows leaves no samples"):
        load_data((np.zeros((150, 2)), [0, 1, 2] * 50), test_split=0.99)


def test_paths_with_a_home_folder_or_a_url(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    np.savez(tmp_path / "d.npz", x=np.zeros((20, 2)), y=np.arange(20) % 2)
    assert load_data("~/d.npz").task.classes == [0, 1]
    with pytest.raises(NbmlError, match="is a URL; nbml reads local files"):
        load_data("https://example.com/d.csv", target="y")


def test_pandas_x_and_y_with_different_rows_are_not_paired_by_position():
    df = pd.DataFrame({"a": np.arange(40.0), "y": [0, 1] * 20})
    shuffled = df.sample(frac=1, random_state=0)
    with pytest.raises(NbmlError, match="row indexes differ .* y = y.loc\\[x.index\\]"):
        load_data((shuffled[["a"]], df["y"]))
    ds = load_data((shuffled[["a"]], df["y"].loc[shuffled.index]), test_split=0, validation_split=0)
    assert (ds.x_train[:, 0] % 2 == ds.y_train).all()  # each row with its own label
