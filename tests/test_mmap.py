"""A memory-mapped array bigger than what the kernel may hold trains and is evaluated without
being read whole (docs/reference.md#data; README, "Promises": memory).

A float32 ``.npy`` of about 1 GB (65,536 rows of 4,096 features) trains one epoch with
``%%train --data x.npy --target y.npy`` in a real kernel and is evaluated with ``%evaluate``,
while a thread in the kernel samples its anonymous resident memory (``RssAnon`` of
``/proc/self/status``: the file's mapped pages are the page cache's, not the kernel's). The
evaluation is scikit-learn's on the rows the seed held out, predicted here a chunk at a time.
The growth is counted from before the training cell, with Keras imported but nothing run or
compiled yet: nbml's own imports, JAX's start-up and the compiles count too, not only the
batches (benchmarks/README.md, "A memory-mapped file").
"""

from __future__ import annotations

import numpy as np
import pytest

ROWS, FEATURES = 65_536, 4_096  # float32: 1.07 GB

WRITE = """\
import numpy as np
_x = np.lib.format.open_memmap({x!r}, mode='w+', dtype='float32', shape=({rows}, {features}))
_rng = np.random.default_rng(0)
_w = _rng.normal(size=({features}, 4)).astype('float32')
_y = np.empty({rows}, dtype='int64')
for _i in range(0, {rows}, 4096):
    _c = _rng.normal(size=(min(4096, {rows} - _i), {features})).astype('float32')
    _x[_i:_i + len(_c)] = _c
    _y[_i:_i + len(_c)] = np.argmax(_c @ _w, axis=1)
_x.flush()
del _x, _c
np.save({y!r}, _y)
"""

SAMPLE = """\
import threading, time, gc
def _anon():
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith('RssAnon:'))
gc.collect()
_base, _most, _stop = _anon(), [0], threading.Event()
def _sample():
    while not _stop.wait(0.005):
        _most[0] = max(_most[0], _anon())
_t = threading.Thread(target=_sample, daemon=True)
_t.start()
"""

TRAIN = """\
%%train big --data {x} --target {y} --epochs 1 --batch-size 1024 --no-widget
keras.Sequential([keras.Input(shape=({features},)), keras.layers.Dense(4, activation='softmax')])
"""

CHECK = """\
_stop.set(); _t.join()
from sklearn.metrics import accuracy_score, confusion_matrix
from sklearn.model_selection import train_test_split
_yall = np.load({y!r})
_keep, _test = train_test_split(np.arange(len(_yall)), test_size=int(np.ceil(0.2 * len(_yall))),
                                random_state=0, stratify=_yall)
_test = np.sort(_test)
_xm = np.load({x!r}, mmap_mode='r')
_pred = np.concatenate([np.argmax(big.predict(np.asarray(_xm[_test[i:i + 4096]]), verbose=0),
                                  axis=1) for i in range(0, len(_test), 4096)])
_yt = _yall[_test]
_result = {{
    'grew': _most[0] - _base, 'file': _xm.nbytes,
    'same_truth': bool(np.array_equal(_ev.y_true, _yt)),
    'same_pred': bool(np.array_equal(_ev.y_pred, _pred)),
    'accuracy': (_ev.accuracy, float(accuracy_score(_yt, _pred))),
    'matrix': bool(np.array_equal(_ev.confusion_matrix, confusion_matrix(_yt, _pred))),
    'streamed': 'streamed from disk' in str(_mon), 'mapped': nbml.models()[0].dataset.mapped,
    'status': nbml.models()[0].runs[-1].status, 'samples': nbml.models()[0].runs[-1].samples,
}}
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("mapped")
    return str(d / "x.npy"), str(d / "y.npy")


def test_a_mapped_array_of_1_gb_trains_and_evaluates_without_being_read(kernel, files):
    x, y = files
    kernel.ok(WRITE.format(x=x, y=y, rows=ROWS, features=FEATURES), timeout=600)
    kernel.ok("import nbml\n" + SAMPLE)
    out = kernel.ok(TRAIN.format(x=x, y=y, features=FEATURES), timeout=600)
    kernel.ok(
        "_mon = " + repr(out.text) + "\n_ev = get_ipython().run_line_magic('evaluate', 'big')"
    )
    kernel.ok(CHECK.format(x=x, y=y), timeout=600)
    r = kernel.value("_result")
    assert r["status"] == "finished" and r["mapped"], r
    assert r["samples"] == ROWS - int(np.ceil(0.2 * ROWS)) - int(np.ceil(0.2 * (ROWS * 0.8)))
    assert r["streamed"], out.text  # the monitor says the data streams from disk
    assert r["same_truth"] and r["same_pred"] and r["matrix"], r
    assert r["accuracy"][0] == pytest.approx(r["accuracy"][1], abs=1e-12) and r["accuracy"][0] > 0.4
    assert r["grew"] < r["file"] / 4, (
        f"RssAnon grew {r['grew'] / 1e6:.0f} MB for a {r['file'] / 1e6:.0f} MB file"
    )
