"""``--seed``: one seed for everything a run draws.

A run seeded ``s`` starts from ``seeding.seed_all(s)`` before its model is built (the cell's
body: the weights' initialisation, the seed generators of dropout and augmentation layers) and
again before ``fit`` (the shuffling), so the same cell with the same seed gives the same losses
wherever it runs in the notebook, whatever ran before it. ``None`` seeds nothing.
"""

from __future__ import annotations

import random
import sys

import numpy as np

from ..compat import keras as keras_compat


def seed_all(seed: int | None) -> None:
    """Seed Python's and numpy's generators (Keras's initialisers and shuffling draw from
    them), the backend's own and Keras's global seed state, as ``keras.utils.set_random_seed``
    does, without importing TensorFlow into a JAX or torch kernel (``set_random_seed`` imports
    it whenever it is installed: 3.2 s measured on a JAX kernel's first run). TensorFlow is
    seeded when it is the backend or already imported. ``None`` seeds nothing."""
    if seed is None:
        return
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    random.seed(seed)
    np.random.seed(seed)
    if backend == "torch":
        import torch

        torch.manual_seed(seed)
    if not keras_compat.reset_seed_state(seed):
        keras.utils.set_random_seed(seed)  # Keras moved its state: let it seed all (slower)
