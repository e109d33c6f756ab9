"""--distribute data over two virtual CPU devices in a real kernel
(docs/reference.md#scale-past-one-machine)."""

from __future__ import annotations

import pytest
from kernel import Kernel

MODEL = (
    "keras.utils.set_random_seed(0)\n"
    "keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(64, activation='relu'),"
    " keras.layers.Dense(10, activation='softmax')])"
)


@pytest.fixture(scope="module")
def two_devices(tmp_path_factory):
    k = Kernel(
        str(tmp_path_factory.mktemp("dist")),
        env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
    )
    k.ok("%load_ext nbml\nimport keras, nbml, numpy as np")
    yield k
    k.shutdown()


def test_data_parallel_trains_on_a_two_device_mesh_like_one_device(two_devices):
    k = two_devices
    assert k.value("keras.distribution.list_devices()") == ["cpu:0", "cpu:1"]
    k.ok(f"%%train one --data sklearn:digits --epochs 5 --batch-size 64 --no-widget\n{MODEL}")
    k.ok(
        "%%train two --data sklearn:digits --epochs 5 --batch-size 64 --no-widget"
        f" --distribute data\n{MODEL}"
    )
    mesh = k.value("str(two.trainable_weights[0].value.sharding)")
    assert "NamedSharding" in mesh and "'batch': 2" in mesh
    assert k.value("nbml.models()[-1].device") == "cpu:0,cpu:1 (data parallel)"
    one, two = k.value(
        "(nbml.runs('one')[-1].history['loss'][-1], nbml.runs('two')[-1].history['loss'][-1])"
    )
    # same seed, same split, same batches: the mean gradient over two half-batches is the
    # full batch's gradient, so the runs agree up to float32 summation order
    assert abs(one - two) <= 0.02 * one, (one, two)
    k.ok(
        "from sklearn.metrics import confusion_matrix\n"
        "ev = nbml.evaluate('two')\n"
        "rec = nbml.models()[-1]\n"
        "pred = np.argmax(two.predict(rec.dataset.x_test, verbose=0), axis=1)\n"
        "assert (ev.confusion_matrix == confusion_matrix(rec.dataset.y_test, pred, labels=range(10))).all()\n"
        "single = nbml.evaluate('one').accuracy\n"
        "assert abs(ev.accuracy - single) <= 0.03 and ev.accuracy > 0.7, (ev.accuracy, single)"
    )


def test_uneven_batches_and_unknown_devices_are_usage_errors(two_devices):
    res = two_devices.execute(
        f"%%train odd --data sklearn:digits --batch-size 33 --distribute data\n{MODEL}"
    )
    assert res.stderr.startswith("UsageError: --batch-size 33 does not split evenly over 2")
    res = two_devices.execute(
        f"%%train odd --data sklearn:digits --distribute data --devices cpu:0,cpu:7\n{MODEL}"
    )
    assert "Unknown device 'cpu:7'" in res.stderr
