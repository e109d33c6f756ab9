"""``--reset``: a fresh model in place of a trained one.

When nbml knows what built the model (a ``%%train`` cell's body, or a build function given to
``nbml.train``) it builds it again, seeded as its first run was, behind new copies of the
preprocessing layers nbml placed before it; otherwise Keras copies it from its config, which a
``keras.Model`` subclass without ``get_config``/``from_config`` does not allow (an
:class:`~nbml.core.errors.NbmlError` that says so).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..compat import keras as keras_compat
from ..core.errors import NbmlError
from ..core.files import first_line
from ..ml import preprocessing, seeding


def recipe(name: str, build: Callable[[], Any] | None, inner: Any, full: Any) -> Any:
    """How ``--reset`` makes ``name`` afresh (None when ``build`` is): ``build`` runs again
    after :func:`nbml.ml.seeding.seed_all` with the run's seed, as ``nbml.train`` ran it the
    first time (the same seed: the same initial weights), behind new copies of the layers nbml
    placed before ``inner`` in ``full`` (their statistics and seeds are in their configs, fixed
    at the first training)."""
    if build is None:
        return None
    import keras

    layers = [] if full is inner else full.layers
    kept = [keras_compat.serialize_layer(layer) for layer in layers
            if layer is not inner and not isinstance(layer, keras.layers.InputLayer)]  # fmt: skip

    def fresh(seed: int | None, dataset: Any) -> Any:
        seeding.seed_all(seed)
        model = build()
        if not isinstance(model, keras.Model):
            raise NbmlError(
                f"--reset ran the cell that built {name} again, and it gave a "
                f"{type(model).__name__}, not a Keras model."
            )
        if dataset.is_stream:
            return model
        pre = [keras.layers.deserialize(config) for config in kept]
        return preprocessing.attach(model, pre, dataset.sample_shape, name)

    return fresh


def fresh_model(record: Any, seed: int | None, dataset: Any) -> Any:
    """A fresh model for ``record``'s (:attr:`ModelRecord.fresh`, else a copy from its config)."""
    if record.fresh is not None:
        return record.fresh(seed, dataset)

    try:
        return keras_compat.clone_model(record.model)
    except Exception as exc:
        raise NbmlError(
            f"--reset builds {record.name} afresh, and Keras cannot copy it from its config "
            f"({first_line(exc, 200)}): a keras.Model subclass needs get_config() and "
            "from_config() for that. Define them, or train it from a %%train cell (nbml runs the "
            "cell again for --reset), or pass nbml.train a function that builds it."
        ) from None
