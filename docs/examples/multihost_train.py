"""Data-parallel training over several processes with nbml (docs/multihost.md).

Every process runs this same script. On one machine (two processes, CPU):

    python -m nbml.launch --processes 2 docs/examples/multihost_train.py

On a cluster, ``srun`` (SLURM) or ``mpirun`` (Open MPI) start the processes, one per host, and
``keras.distribution.initialize()`` finds the coordinator itself; on bare machines set
``KERAS_DISTRIBUTION_JOB_ADDRESSES``, ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and
``KERAS_DISTRIBUTION_PROCESS_ID`` on each (docs/multihost.md).

Each process passes its own shard of the data; ``batch_size`` is the global batch. Every
process prints the same losses and the same evaluation, over the whole test set; process 0
keeps the run store.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import nbml  # noqa: E402

keras.distribution.initialize()  # joins the job: the coordinator, the processes, this one's id
me, count = jax.process_index(), jax.process_count()
print(f"process {me} of {count}: devices {keras.distribution.list_devices()}")

digits = load_digits()
x = digits.images[..., None].astype("float32")
y = digits.target
shard = (x[me::count], y[me::count])  # this process's rows; nbml splits each shard the same way

model = keras.Sequential(
    [
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ]
)
run = nbml.train("mlp", model, shard, epochs=5, batch_size=64, distribute="data", display="none")
print(f"process {me}: {run.status}, loss {[round(v, 6) for v in run.history['loss']]}")
ev = nbml.evaluate("mlp")  # the whole test set: every process's held-out rows
print(f"process {me}: accuracy {ev.accuracy:.4f} on {len(ev.y_true)} test rows")
