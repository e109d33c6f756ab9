"""What nbml borrows from Keras's private modules, each with its fallback."""

from __future__ import annotations

from typing import Any


def reset_seed_state(value: int) -> bool:
    """Leave Keras's own seed state as ``keras.utils.set_random_seed(value)`` does: ``value``
    as the seed ``keras.utils.get_random_seed()`` reports and no global ``SeedGenerator``, so
    the next ``keras.random`` call without a seed starts afresh from ``value``. Returns False (nothing done) where Keras has moved these names; the caller then
    uses ``keras.utils.set_random_seed`` itself."""
    try:
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils import rng_utils
    except ImportError:
        return False
    names = (getattr(rng_utils, "GLOBAL_RANDOM_SEED", None),
             getattr(seed_generator, "GLOBAL_SEED_GENERATOR", None))  # fmt: skip
    if not all(isinstance(n, str) for n in names):
        return False
    global_state.set_global_attribute(names[0], value)
    global_state.set_global_attribute(names[1], None)
    return True


def global_seed_generator() -> Any:
    """Keras's global ``SeedGenerator`` as it is now (None until a ``keras.random`` call without
    a seed makes one); for tests and checks only."""
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator

    return global_state.get_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR)
