"""%devices and nbml.devices() on the kernel's backend (docs/reference.md#other-magics; run per
backend by make test-backends)."""

from __future__ import annotations

import os


def test_devices_lists_the_backend_devices_and_the_host(kernel):
    backend = os.environ.get("NBML_TEST_BACKEND", "jax")
    assert kernel.value("keras.backend.backend()") == backend
    devices = kernel.value("[(d.kind, d.id, d.backend) for d in __import__('nbml').devices()]")
    assert ("cpu", 0, backend) in devices
    memory = kernel.value("[d.memory for d in __import__('nbml').devices() if d.kind == 'cpu'][0]")
    assert memory is None or memory > 2**28
    out = kernel.ok("%devices").result["text/plain"]
    assert "cpu" in out and f"Keras backend {backend}" in out and "CPUs" in out
    html = kernel.ok("%devices").result["text/html"]
    assert "<table" in html


def test_distribute_names_jax_on_other_backends(kernel):
    backend = os.environ.get("NBML_TEST_BACKEND", "jax")
    res = kernel.execute(
        "%%train d --data sklearn:iris --distribute data --batch-size 32\n"
        "keras.Sequential([keras.layers.Dense(3, activation='softmax')])"
    )
    if backend == "jax":  # one CPU device: data parallel over a 1-device mesh works
        assert res.error is None and "UsageError" not in res.stderr, res.text
    else:
        assert res.stderr.startswith("UsageError: --distribute data uses keras.distribution")
        assert "JAX" in res.stderr
