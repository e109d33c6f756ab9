"""Data-parallel training over several hosts with nbml (one process per host).

Run the same script on every host, each with its own PROCESS_ID (0, 1, ...):

    COORDINATOR=10.0.0.1:1234 NUM_PROCESSES=2 PROCESS_ID=0 python multihost_train.py   # host 0
    COORDINATOR=10.0.0.1:1234 NUM_PROCESSES=2 PROCESS_ID=1 python multihost_train.py   # host 1

Keras's own ``keras.distribution.initialize`` joins the processes (JAX backend); after it,
``keras.distribution.list_devices()`` lists the devices of every host and
``nbml.train(..., distribute="data")`` builds a ``DataParallel`` mesh over all of them. Each
process feeds its own shard of every global batch, so each host trains on its part of the data.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import nbml  # noqa: E402

process_id = int(os.environ["PROCESS_ID"])
num_processes = int(os.environ["NUM_PROCESSES"])
keras.distribution.initialize(
    job_addresses=os.environ["COORDINATOR"],
    num_processes=num_processes,
    process_id=process_id,
)
print(f"process {process_id}: devices {keras.distribution.list_devices()}")

digits = load_digits()
x = digits.images[..., None].astype("float32")
y = digits.target
# this host's shard: the same seeded split on every host, every host a different slice
shard = (x[process_id::num_processes], y[process_id::num_processes])

model = keras.Sequential(
    [
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ]
)
run = nbml.train("mlp", model, shard, epochs=5, batch_size=64, distribute="data", display="text")
print(f"process {process_id}: {run.status}, history {run.history['loss']}")
print(nbml.evaluate("mlp").text())  # each process evaluates on its own held-out shard
