"""Data specs, splits, task detection (docs/reference.md#data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nbml import NbmlError
from nbml.api import load_data
from nbml.ml.data import detect_task


def test_sklearn_digits_is_image_shaped_with_whole_values():
    ds = load_data("sklearn:digits")
    assert ds.x_train.shape[1:] == (8, 8, 1)
    assert ds.x_train.dtype == np.float32
    assert ds.x_train.min() == 0 and ds.x_train.max() == 16
    assert ds.task.kind == "classification" and ds.task.classes == list(range(10))
    n = len(ds.x_train) + len(ds.x_val) + len(ds.x_test)
    assert n == 1797
    assert len(ds.x_test) == int(np.ceil(0.2 * 1797))


@pytest.mark.parametrize(
    ("name", "kind", "classes"),
    [
        ("iris", "classification", 3),
        ("wine", "classification", 3),
        ("breast_cancer", "classification", 2),
        ("diabetes", "regression", 0),
    ],
)
def test_sklearn_tabular(name, kind, classes):
    ds = load_data(f"sklearn:{name}")
    assert ds.task.kind == kind and ds.task.n_classes == classes
    assert ds.x_train.ndim == 2


def test_iris_class_names_come_from_sklearn():
    assert load_data("sklearn:iris").task.class_names == ["setosa", "versicolor", "virginica"]


def test_test_split_is_stratified_and_seeded():
    a = load_data("sklearn:digits", seed=3)
    b = load_data("sklearn:digits", seed=3)
    c = load_data("sklearn:digits", seed=4)
    assert np.array_equal(a.x_test, b.x_test) and not np.array_equal(a.x_test, c.x_test)
    counts = np.bincount(a.y_test, minlength=10)
    assert counts.max() - counts.min() <= 2  # stratified: ~36 of each digit


def test_validation_split_is_random_not_the_last_rows():
    # sorted labels: Keras's "last fraction" would validate on class 2 only
    x = np.arange(300, dtype="float32").reshape(100, 3)
    y = np.repeat([0, 1, 2], [34, 33, 33])
    ds = load_data((x, y), test_split=0, validation_split=0.3)
    assert set(ds.y_val.tolist()) == {0, 1, 2}
    assert len(ds.x_val) == 30 and len(ds.x_train) == 70 and ds.x_test is None


def test_train_test_tuple_keeps_given_test_set():
    x, y = np.random.rand(50, 4).astype("float32"), np.arange(50) % 2
    ds = load_data(((x[:40], y[:40]), (x[40:], y[40:])), validation_split=0)
    assert np.array_equal(ds.x_test, x[40:]) and len(ds.x_train) == 40


def test_dict_and_variables_by_name():
    ns = {
        "d": {
            "x": np.zeros((20, 2)),
            "y": np.arange(20) % 2,
            "x_test": np.ones((5, 2)),
            "y_test": np.arange(5) % 2,
        }
    }
    ds = load_data("d", namespace=ns, validation_split=0)
    assert len(ds.x_test) == 5 and ds.x_train.dtype == np.float32


def test_dataframe_and_csv_need_target(tmp_path):
    df = pd.DataFrame(
        {"a": np.arange(40.0), "b": np.arange(40.0) * 2, "label": ["cat", "dog"] * 20}
    )
    with pytest.raises(NbmlError, match="--target"):
        load_data(df)
    with pytest.raises(NbmlError, match="Did you mean 'label'"):
        load_data(df, target="lable")
    ds = load_data(df, target="label")
    assert ds.task.classes == ["cat", "dog"] and ds.x_train.shape[1] == 2
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    assert load_data(str(path), target="label").task.kind == "classification"


def test_npz(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.random.rand(30, 3), y=np.random.rand(30))
    ds = load_data(str(path))
    assert ds.task.kind == "regression"
    np.savez(tmp_path / "bad.npz", a=np.zeros(3))
    with pytest.raises(NbmlError, match="'x' and 'y'"):
        load_data(str(tmp_path / "bad.npz"))


def test_task_detection_rules():
    assert detect_task(np.eye(3)[[0, 1, 2, 1]]) == "classification"  # one-hot
    assert detect_task(np.array([0, 1, 2])) == "classification"
    assert detect_task(np.array([True, False])) == "classification"
    assert detect_task(np.array(["a", "b"])) == "classification"
    assert detect_task(np.array([1.0, 2.0, 3.0])) == "regression"  # whole floats: regression
    assert detect_task(np.array([1.0, 2.0]), "classification") == "classification"


def test_one_hot_labels_keep_their_shape_for_categorical_crossentropy():
    y = np.eye(3, dtype="float32")[np.arange(60) % 3]
    ds = load_data((np.random.rand(60, 4), y))
    assert ds.task.one_hot and ds.y_train.shape[1] == 3


def test_clean_drops_nan_rows_and_reports_how_many():
    x = np.random.rand(100, 3)
    x[[3, 7, 11]] = np.nan
    with pytest.raises(NbmlError, match="3 rows .* --clean"):
        load_data((x, np.arange(100) % 2))
    ds = load_data((x, np.arange(100) % 2), clean=True)
    assert ds.dropped == 3
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 97


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("sklearn:digit", "Did you mean 'digits'"),
        ("keras:mnsit", "Did you mean 'mnist'"),
        ("x_trian", "Did you mean 'x_train'"),
        ("missing.csv", "No file 'missing.csv'"),
        ("1 + 2", "Cannot read the data spec"),
    ],
)
def test_spec_errors_name_the_fix(spec, words):
    with pytest.raises(NbmlError, match=words):
        load_data(spec, namespace={"x_train": 1})


def test_length_mismatch_and_bad_splits():
    with pytest.raises(NbmlError, match="100 samples but 99 labels"):
        load_data((np.zeros((100, 2)), np.zeros(99)))
    with pytest.raises(NbmlError, match="--test-split"):
        load_data((np.zeros((10, 2)), np.zeros(10)), test_split=1.0)


def test_keras_dataset_offline_names_the_cache(monkeypatch, tmp_path):
    import keras

    from nbml.ml import sources

    monkeypatch.setattr(sources, "keras_cache_dir", lambda: str(tmp_path / "datasets"))

    def offline():
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(NbmlError, match=f"not cached in {tmp_path}/datasets"):
        load_data("keras:mnist")


def test_splitting_the_same_data_again_reuses_the_split_and_sees_changes():
    x = np.random.default_rng(0).random((200, 3), dtype="float32")
    y = np.arange(200) % 2
    a, b = load_data((x, y)), load_data((x, y))
    assert a.x_train is b.x_train and a is not b  # no second copy of the arrays
    assert load_data((x, y), seed=1).x_train is not a.x_train
    x[5, 0] += 1.0  # changed in place: split afresh
    c = load_data((x, y))
    assert c.x_train is not a.x_train
    assert np.isin(x[5], np.concatenate([c.x_train, c.x_val, c.x_test])).all()
    y2 = y.copy()
    y2[0] = 1 - y2[0]
    assert load_data((x, y2)).y_train is not c.y_train


def test_inside_unchanged_the_same_arrays_are_split_without_a_fingerprint(monkeypatch):
    """A sweep's trials split one data: no pass over every element per trial."""
    from nbml.ml import data as _data

    x = np.random.default_rng(1).random((300, 4), dtype="float32")
    y = np.arange(300) % 3
    passes = []
    fingerprint = _data._fingerprint
    monkeypatch.setattr(_data, "_fingerprint", lambda a: passes.append(1) or fingerprint(a))
    with _data.unchanged():
        a = load_data((x, y), seed=7)
        first = len(passes)
        b = load_data((x, y), seed=7)
        assert len(passes) == first  # the second trial read no element
        assert b.x_train is a.x_train and b is not a
        c = load_data((x, y), seed=8)  # other options: another split, fingerprinted
        assert len(passes) > first and not np.array_equal(c.x_train, a.x_train)
    x[0, 0] += 1.0  # after the block, a change is seen again
    d = load_data((x, y), seed=7)
    assert d.x_train is not a.x_train
