"""Memory-mapped arrays, never read whole: the parts of a split as row indices into the file, and
batches read from disk as training goes.

``np.load(path, mmap_mode="r")`` as ``x`` (in a tuple or a dict), ``--data PATH.npy --target
LABELS.npy``, or an ``.npz`` whose ``x`` is stored uncompressed (``np.savez``) give a mapped ``x``.
Its split is by index (:class:`Rows`), the checks and the normalisation statistics read it in one
streaming pass (:mod:`nbml.ml.rows`), ``fit`` reads shuffled batches from the file through a
``keras.utils.PyDataset`` (:func:`batches`) and ``%evaluate`` predicts a batch at a time
(:func:`predict`). The file's pages are the operating system's page cache, not the kernel's own
memory: the kernel holds a batch (and the labels) at a time.
"""

from __future__ import annotations

import mmap
import struct
import threading
import weakref
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.errors import NbmlError
from . import rows as _rows

#: Rows a worker reads per batch of ``predict`` (evaluation).
PREDICT_BATCH = 256
#: Threads reading batches from disk while the model trains on the last ones.
WORKERS = 1
#: About how many bytes of batches may be held at once (at least 3 batches, at most 9).
AHEAD_BYTES = 32 << 20
#: Batches of at least this many bytes are read into a mapping of their own (:func:`pages`).
PAGED_BYTES = 1 << 20


class Rows:
    """Rows ``index`` (sorted) of a memory-mapped array, read only when asked for (or of an
    array a notebook variable holds: the held-out test part, see :func:`nbml.ml.data._gather`).

    Behaves as a read-only array of those rows for what nbml asks of a part: ``len``, ``shape``,
    ``dtype``, ``ndim`` and indexing (an int, a slice or an index array gives a numpy array, read
    from the file and converted to the dtype nbml trains on). ``np.asarray(rows)`` reads them all.
    """

    def __init__(
        self,
        source: Any,
        index: np.ndarray | None = None,
        unchanged: Callable[[], bool] | None = None,
    ) -> None:
        self.source = source
        self.index = np.arange(len(source)) if index is None else np.asarray(index, "int64")
        self.dtype = _rows.row_dtype(source)
        #: Whether ``source`` is as it was when these rows were chosen (None: not checked).
        self.unchanged = unchanged

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.source.shape[1:])

    @property
    def ndim(self) -> int:
        return self.source.ndim

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, which: Any) -> np.ndarray:
        return self.read(which)

    def read(self, which: Any, on_free: Callable[[], None] | None = None) -> np.ndarray:
        """Rows ``which`` read from the file into memory of their own (:func:`pages`);
        ``on_free`` is called once that memory is let go."""
        if isinstance(which, tuple):  # x[rows, ...]: the rows first, then the rest
            return self.read(which[0], on_free)[(slice(None), *which[1:])]
        picked = self.index[which]
        if np.ndim(picked) == 0:
            out = _rows.read(self.source, int(picked), self.dtype)
            if on_free is not None:
                weakref.finalize(out, on_free)
            return out
        picked = np.asarray(picked)
        out = pages((len(picked), *self.source.shape[1:]), self.dtype, on_free)
        return _rows.take(self.source, picked, self.dtype, out=out)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        name = getattr(self.source, "filename", None) or "a memory-mapped array"
        return f"<{len(self)} rows of {name}, shape {self.shape}, read from disk as needed>"


def is_rows(a: Any) -> bool:
    return isinstance(a, Rows)


def check_unchanged(x: Any, spec: str, name: str) -> None:
    """Refuse held-out test rows read from a notebook variable's array that changed since
    ``name`` was trained on it (they are not copied: the rows chosen then are gone)."""
    if isinstance(x, Rows) and x.unchanged is not None and not x.unchanged():
        raise NbmlError(
            f"{spec} changed since {name} was trained: its held-out test rows are read from "
            f"it, not copied (docs/reference.md#data), so they are gone. Train {name} again, "
            f"or evaluate on data you pass: %evaluate {name} --data NAME."
        )


def pages(shape: tuple[int, ...], dtype: Any, on_free: Callable[[], None] | None = None) -> Any:
    """An empty array for rows read from a mapped file, in a private anonymous mapping of its
    own when it is big. Such memory is page-aligned, so JAX on a CPU trains on it as it is
    instead of copying it, and it goes back to the system as soon as the last user (the array,
    or JAX, which holds the mapping itself) lets it go. From ``malloc`` (``np.empty``), batches of
    a few megabytes are carved from its heap, are copied once more by JAX, and leave the heap
    ever bigger (benchmarks/README.md). ``on_free`` is called when the memory is let go."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size < PAGED_BYTES or not hasattr(mmap, "MAP_PRIVATE"):  # small, or Windows
        out = owner = np.empty(shape, dtype)
    else:
        owner = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | getattr(mmap, "MAP_ANONYMOUS", 0))
        out = np.frombuffer(owner, dtype).reshape(shape)
    if on_free is not None:
        weakref.finalize(owner, on_free)
    return out


class Held:
    """How many of the batches a dataset handed out are still in memory: held by Keras, or by
    JAX until the step that reads them has run (JAX runs steps asynchronously, and reading from
    the page cache can run far ahead of training). :meth:`take` waits while ``limit`` are held,
    so reading stays at most that many batches ahead; when none is let go within
    :attr:`WAIT` seconds it holds one more from then on, rather than wait again."""

    WAIT = 0.25

    def __init__(self, limit: int) -> None:
        self.limit, self.count = limit, 0
        self._cond = threading.Condition(threading.RLock())  # on_free may run inside take

    def take(self) -> Callable[[], None]:
        """Wait for room for one more batch; returns what to call once it is let go."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.count < self.limit, timeout=self.WAIT):
                self.limit += 1
            self.count += 1
        return self._give

    def _give(self) -> None:
        with self._cond:
            self.count -= 1
            self._cond.notify_all()


def _dataset_class() -> Any:
    import keras

    class Batches(keras.utils.PyDataset):
        """Batches of ``x`` (a :class:`Rows`) and ``y`` read from disk; shuffled each epoch by
        ``seed`` (a batch's rows read in file order), or in order."""

        def __init__(self, x: Rows, y: Any, batch_size: int, shuffle: bool, seed: Any) -> None:
            row = max(1, x.nbytes // max(len(x), 1))
            ahead = int(min(8, max(2, AHEAD_BYTES // (row * batch_size))))
            super().__init__(workers=WORKERS, use_multiprocessing=False, max_queue_size=ahead)
            self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
            self.held = Held(ahead + 1)
            self._rng = np.random.default_rng(seed)
            self._order = self._rng.permutation(len(x)) if shuffle else None

        def __len__(self) -> int:
            return -(-len(self.x) // self.batch_size)

        def __getitem__(self, i: int) -> Any:
            which = slice(i * self.batch_size, (i + 1) * self.batch_size)
            if self._order is not None:
                which = np.sort(self._order[which])
            xb = self.x.read(which, self.held.take())
            return xb if self.y is None else (xb, self.y[which])

        def on_epoch_end(self) -> None:
            if self.shuffle:
                self._order = self._rng.permutation(len(self.x))

    return Batches


_BATCHES: list[Any] = []


def batches(x: Rows, y: Any, batch_size: int, *, shuffle: bool = False, seed: Any = None) -> Any:
    """A ``keras.utils.PyDataset`` of ``(x, y)`` batches (of ``x`` alone when ``y`` is None)."""
    if not _BATCHES:
        _BATCHES.append(_dataset_class())
    if shuffle and seed is None:  # numpy's global state, which --seed seeds before fit
        seed = int(np.random.randint(0, 2**31 - 1))
    return _BATCHES[0](x, y, max(1, min(batch_size, len(x))), shuffle, seed)


def fit_args(dataset: Any, batch_size: int, seed: Any = None, devices: int = 1) -> dict[str, Any]:
    """``model.fit``'s data arguments for a dataset whose parts are :class:`Rows`: the training
    part shuffled by ``seed`` each epoch, the validation part in order (with ``devices`` > 1,
    the last rows that would leave a batch that does not split evenly are left out)."""

    def even(x: Rows, y: Any) -> tuple[Rows, Any]:
        keep = len(x) - len(x) % devices
        return (x, y) if keep == len(x) else (Rows(x.source, x.index[:keep]), y[:keep])

    x, y = even(dataset.x_train, dataset.y_train)
    args: dict[str, Any] = {"x": batches(x, y, batch_size, shuffle=True, seed=seed)}
    if dataset.x_val is not None:
        xv, yv = even(dataset.x_val, dataset.y_val)
        args["validation_data"] = batches(xv, yv, batch_size)
    return args


def predict(model: Any, x: Rows) -> np.ndarray:
    """``model``'s outputs for the rows of ``x``, read from disk a batch at a time."""
    return np.asarray(model.predict(batches(x, None, PREDICT_BATCH), verbose=0))


# ---------------------------------------------------------------- files


def npz_member(path: str, name: str) -> np.ndarray | None:
    """Member ``name`` of the npz file ``path`` mapped from disk, or None when it cannot be
    (compressed with ``np.savez_compressed``, Python objects, or an unknown format)."""
    fmt = np.lib.format
    try:
        with zipfile.ZipFile(path) as z:
            info = z.getinfo(f"{name}.npy")
        if info.compress_type != zipfile.ZIP_STORED:
            return None
        with open(path, "rb") as f:
            f.seek(info.header_offset)
            head = f.read(30)
            if head[:4] != b"PK\x03\x04":
                return None
            names, extra = struct.unpack("<HH", head[26:30])
            f.seek(info.header_offset + 30 + names + extra)
            version = fmt.read_magic(f)
            reader = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
            if version not in reader:
                return None
            shape, fortran, dtype = reader[version](f)
            offset = f.tell()
    except (KeyError, OSError, ValueError, zipfile.BadZipFile, struct.error):
        return None
    if dtype.hasobject or not shape:
        return None
    order = "F" if fortran else "C"
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)
