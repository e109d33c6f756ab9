"""Memory that grows like the data (docs/reference.md#data, README "Promises"): a split holds one
copy of the rows (its parts are views of it, the test set for ``%evaluate`` too), made chunk by
chunk with no float64 or other whole-array temporaries, the rows each part holds are the ones
the seed chose, and the user's arrays are never modified. Memory-mapped arrays are split by
index and never read whole (their training in a real kernel: tests/test_mmap.py)."""

from __future__ import annotations

import gc
import math
import mmap
import time
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from nbml.api import load_data
from nbml.core.errors import NbmlError
from nbml.ml import mapped, preprocessing, rows


def chosen_rows(y: np.ndarray, test: float = 0.2, val: float = 0.2, seed: int = 0):
    """The rows of (train, validation, test) as the seed chooses them: a stratified test split,
    then a stratified validation split of the rest, each part in the data's order."""
    idx = np.arange(len(y))
    keep, out = train_test_split(
        idx, test_size=math.ceil(test * len(y)), random_state=seed, stratify=y
    )
    keep, out = np.sort(keep), np.sort(out)
    k2, o2 = train_test_split(
        np.arange(len(keep)),
        test_size=math.ceil(val * len(keep)),
        random_state=seed,
        stratify=y[keep],
    )
    return keep[np.sort(k2)], keep[np.sort(o2)], out


def numbered(n: int, features: int = 6, dtype: str = "float32", seed: int = 0):
    """``x`` whose first column numbers its rows, and 3 balanced classes shuffled."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, features)).astype(dtype)
    x[:, 0] = np.arange(n)
    y = rng.permutation(np.arange(n) % 3)
    return x, y


def ids(part) -> np.ndarray:
    return np.asarray(part[:, 0]).astype("int64") if len(part) else np.zeros(0, "int64")


def assert_chosen(ds, y, seed):
    train, val, test = chosen_rows(y, seed=seed)
    for part, want in ((ds.x_train, train), (ds.x_val, val), (ds.x_test, test)):
        np.testing.assert_array_equal(ids(part), want)
    np.testing.assert_array_equal(ds.y_train, y[train])
    np.testing.assert_array_equal(ds.y_test, y[test])
    every = np.concatenate([ids(ds.x_train), ids(ds.x_val), ids(ds.x_test)])
    assert np.array_equal(np.sort(every), np.arange(len(y)))  # nothing duplicated or lost
    assert_one_copy(ds)


def assert_one_copy(ds):
    """The parts are views of one copy (rows of the file, for a mapped array)."""
    parts = (ds.x_train, ds.x_val, ds.x_test)
    if ds.mapped:
        assert all(isinstance(p, mapped.Rows) and p.source is ds.x_train.source for p in parts)
        return
    base = ds.x_train.base
    assert base is not None and all(p.base is base for p in parts)
    assert base.nbytes == sum(p.nbytes for p in parts)


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("form", ["float32", "float64", "frame", "mapped", "npz"])
def test_each_part_holds_the_rows_the_seed_chose(tmp_path, form, seed):
    x, y = numbered(3_001, dtype="float64" if form == "float64" else "float32", seed=seed)
    before = x.copy()
    if form == "frame":
        df = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])]).assign(label=y)
        ds = load_data(df, target="label", seed=seed)
    elif form == "mapped":
        np.save(tmp_path / "x.npy", x)
        ds = load_data((np.load(tmp_path / "x.npy", mmap_mode="r"), y), seed=seed)
        assert ds.mapped and isinstance(ds.x_test, mapped.Rows)
    elif form == "npz":
        np.savez(tmp_path / "d.npz", x=x, y=y)
        ds = load_data(str(tmp_path / "d.npz"), seed=seed)
        assert ds.mapped  # x stored uncompressed: mapped from the file
    else:
        ds = load_data((x, y), seed=seed)
    assert_chosen(ds, y, seed)
    assert ds.x_train.dtype == np.float32
    np.testing.assert_array_equal(x, before)  # the user's array is never modified


def test_npy_with_a_labels_file_is_mapped(tmp_path):
    x, y = numbered(500)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    ds = load_data(str(tmp_path / "x.npy"), target=str(tmp_path / "y.npy"))
    assert ds.mapped and rows.is_mapped(ds.x_train.source)
    assert_chosen(ds, y, 0)


def test_the_parts_are_views_of_one_copy_not_the_users_array():
    x, y = numbered(2_000)
    ds = load_data((x, y), seed=5)
    base = ds.x_train.base
    assert base is not None and ds.x_val.base is base and ds.x_test.base is base
    assert base.nbytes == x.nbytes  # one copy of every row, the test set for %evaluate in it
    assert not np.shares_memory(base, x)
    ds.x_train[:] = -1  # nbml's copy, not the user's array
    assert x.min() >= 0


def traced_peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_split_holds_one_copy_at_its_peak():
    x, y = numbered(100_000, features=128)  # 51 MB
    peak = traced_peak(lambda: load_data((x, y), seed=11))
    assert peak < 1.12 * x.nbytes, peak / x.nbytes  # the copy, and index arrays


def test_float64_and_dataframes_are_converted_a_chunk_at_a_time():
    x, y = numbered(200_000, features=64, dtype="float64")  # 102 MB; 51 MB as float32
    peak = traced_peak(lambda: load_data((x, y), seed=2))
    assert peak < 0.5 * x.nbytes + 3 * rows.CHUNK_BYTES, peak / x.nbytes
    df = pd.DataFrame(x[:, :32].astype("float32")).assign(label=y)
    one = 200_000 * 32 * 4
    peak = traced_peak(lambda: load_data(df, target="label", seed=2))
    assert peak < one + 3 * rows.CHUNK_BYTES, peak / one


def test_normalisation_statistics_need_no_float_copy_of_the_images():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(20_000, 28, 28, 1), dtype=np.uint8)  # 15.7 MB; 63 as float32
    x[0, 0, 0, 0], x[1, 0, 0, 0] = 0, 255
    layers = []
    peak = traced_peak(lambda: layers.extend(preprocessing.build_layers(x, "minmax", [])))
    assert peak < 2 * x.nbytes, peak / x.nbytes
    cfg = layers[0].get_config()
    assert np.allclose(cfg["mean"], 0.0) and np.allclose(cfg["variance"], 255.0**2)


def test_streamed_statistics_match_numpy_on_a_table():
    x = np.random.default_rng(4).normal(3.0, 2.0, size=(70_000, 5)).astype("float32")
    mean, var = rows.statistics(x, "standard", (0,))
    np.testing.assert_allclose(mean, x.astype("float64").mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(var, x.astype("float64").var(axis=0), rtol=1e-5)
    lo, span2 = rows.statistics(x, "minmax", (0,))
    np.testing.assert_array_equal(lo, x.min(axis=0))
    np.testing.assert_allclose(span2, (x.max(axis=0) - x.min(axis=0)) ** 2, rtol=1e-6)


def test_a_mapped_array_is_never_read_whole(tmp_path, monkeypatch):
    """The split, the checks and the statistics read at most a chunk of rows at a time."""
    x, y = numbered(40_000, features=64)
    np.save(tmp_path / "x.npy", x)
    xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    reads = []
    read = rows.read
    monkeypatch.setattr(rows, "read", lambda a, w, d=None: reads.append(w) or read(a, w, d))
    ds = load_data((xm, y), seed=1)
    preprocessing.build_layers(ds.x_train, "standard", [])
    most = max(len(range(len(xm))[w]) if isinstance(w, slice) else len(w) for w in reads)
    assert most <= rows.chunk_rows(xm) < len(xm)
    assert isinstance(ds.x_train, mapped.Rows) and len(ds.x_train) == len(chosen_rows(y)[0])


def test_clean_keeps_the_complete_rows_in_the_seeds_parts():
    x, y = numbered(1_200)
    x[[10, 500, 900], 2] = np.nan
    before = x.copy()
    ds = load_data((x, y), clean=True, seed=4)
    assert ds.dropped == 3
    complete = np.setdiff1d(np.arange(1_200), [10, 500, 900])
    train, val, test = chosen_rows(y[complete], seed=4)
    np.testing.assert_array_equal(ids(ds.x_train), complete[train])
    np.testing.assert_array_equal(ids(ds.x_test), complete[test])
    np.testing.assert_array_equal(x, before, strict=True)
    assert_one_copy(ds)


def test_batches_of_a_mapped_file_are_its_own_pages_and_read_at_most_a_few_ahead(
    tmp_path, monkeypatch
):
    """A training batch read from a mapped file lives in a mapping of its own, page-aligned (JAX
    on a CPU uses it without a copy) and given back once let go; reading waits while ``limit``
    batches are still held, and holds one more rather than wait a second time."""
    x, y = numbered(5_120, features=512)  # 5 batches of 1,024 rows, 2 MB each
    monkeypatch.setattr(mapped, "AHEAD_BYTES", 4 << 20)  # 2 batches ahead: 3 held at most
    np.save(tmp_path / "x.npy", x)
    part = mapped.Rows(np.load(tmp_path / "x.npy", mmap_mode="r"))
    ds = mapped.batches(part, y, 1_024, shuffle=True, seed=0)
    limit = ds.held.limit
    assert limit == 3
    held = [ds[i] for i in range(limit)]
    assert ds.held.count == limit
    assert all(b[0].ctypes.data % mmap.PAGESIZE == 0 for b in held)
    first = held[0][0]
    assert np.all(np.diff(ids(first)) > 0)  # a shuffled batch's rows, read in file order
    np.testing.assert_array_equal(first, x[ids(first)])
    del first
    start = time.perf_counter()
    held.append(ds[limit % len(ds)])  # none let go: waits, then holds one more
    assert time.perf_counter() - start >= mapped.Held.WAIT * 0.9
    assert ds.held.limit == limit + 1 and ds.held.count == limit + 1
    del held[:2]
    gc.collect()
    assert ds.held.count == limit - 1
    start = time.perf_counter()
    ds[0]
    assert time.perf_counter() - start < mapped.Held.WAIT / 2


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_variables_test_rows_are_read_from_it_not_copied(dtype):
    """``--data NAME`` of an ``(x, y)`` a notebook variable holds: the copy holds the training
    and validation rows only; the held-out test rows are the seed's rows of ``x`` itself, read
    when ``%evaluate`` asks, which refuses them once ``x`` has changed."""
    from nbml.ml import data as _data

    x, y = numbered(3_000, dtype=dtype)
    ns = {"d": (x, y)}
    ds = _data.prepare(_data.resolve("d", ns), seed=2)
    train, val, test = chosen_rows(y, seed=2)
    assert isinstance(ds.x_test, mapped.Rows) and ds.x_test.source is x
    np.testing.assert_array_equal(ids(ds.x_test), test)
    np.testing.assert_array_equal(np.asarray(ds.x_test), x[test].astype("float32"))
    np.testing.assert_array_equal(ds.y_test, y[test])
    np.testing.assert_array_equal(ids(ds.x_train), train)
    np.testing.assert_array_equal(ids(ds.x_val), val)
    base = ds.x_train.base
    assert ds.x_val.base is base and base.nbytes == ds.x_train.nbytes + ds.x_val.nbytes
    mapped.check_unchanged(ds.x_test, "d", "m")  # as trained: fine
    no_val = _data.prepare(_data.resolve("d", ns), seed=2, validation_split=0)
    np.testing.assert_array_equal(ids(no_val.x_train), np.setdiff1d(np.arange(3_000), test))
    assert no_val.x_train.base.nbytes == no_val.x_train.nbytes and no_val.x_val is None
    x[test[5], 3] += 1.0
    with pytest.raises(NbmlError, match="d changed since m was trained"):
        mapped.check_unchanged(ds.x_test, "d", "m")
    # arrays passed in (nbml.train, load_data) may be nbml's only reference: copied as before
    assert_one_copy(load_data((x, y), seed=2))
