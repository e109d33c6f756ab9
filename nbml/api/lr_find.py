"""``nbml.lr_find``: the learning-rate finder (docs/reference.md#the-learning-rate-finder), behind
``%%lr_find`` and ``%lr_find``.

It takes ``%%train``'s options, data specs and cell semantics (the same plan checks them), trains
the range test, and puts the model back exactly: NAME is bound to the untrained model with its
data split, so ``%train NAME --lr <suggestion>`` needs no ``--data``. Nothing is stored as a run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import store as _store
from ..core import options as _options
from ..core.errors import NbmlError, did_you_mean
from ..core.registry import REGISTRY
from ..training import loop as training
from ..training import lr_range, pipeline
from ..training.lr_range import LRFinding, Range
from . import _namespace, built

#: The finder's own options (beside the training options), with their defaults.
FINDER_OPTIONS = {"start": Range.start, "end": Range.end, "steps": Range.steps}

#: Training options that do not apply to the finder, and what to do instead.
NOT_FOR_FINDER = {
    "epochs": "it trains --steps batches (default 100), cycling through the data as needed. "
    "Use --steps N",
    "lr": "the rate grows from --start to --end. Give the suggestion to %train NAME --lr RATE "
    "afterwards",
    "early_stopping": "the finder stops by itself once the loss diverges",
    "background": "the finder runs in the foreground for --steps batches; the Train button of "
    "its chart trains in the background",
    "reset": "the finder starts from NAME's weights and puts them back. To find the rate of "
    "fresh weights, build the model in a %%lr_find cell",
    "from_run": "load the stored run's model first with %train NAME --from-run ID, then run "
    "%lr_find NAME",
    "distribute": "the finder trains on one device; --distribute applies to %train",
    "devices": "the finder trains on one device; --devices applies to %train --distribute data",
    "steps_per_execution": "the finder records the loss of every batch, so it runs one batch "
    "per call",
}


def _checked(data: Any, options: dict[str, Any]) -> _options.TrainOptions:
    """The training options of a finder, checked; those that do not apply are errors."""
    known = {f.name for f in _options.fields(api=True)} | set(FINDER_OPTIONS)
    for key in options:
        if key not in known:
            raise NbmlError(
                f"nbml.lr_find has no option {key!r}.{did_you_mean(key, known)} Its options: "
                f"{', '.join(sorted(known))}."
            )
    for key, why in NOT_FOR_FINDER.items():
        if options.get(key) not in (None, False):
            raise NbmlError(f"{_options.flag(key)} does not apply to %lr_find: {why}.")
    return _options.from_kwargs(data=data, **options).checked()


def lr_find(
    name: str,
    model: Any = None,
    data: Any = None,
    *,
    start: float = lr_range.DEFAULT_START,
    end: float = lr_range.DEFAULT_END,
    steps: int = lr_range.DEFAULT_STEPS,
    namespace: dict[str, Any] | None = None,
    cell: int | None = None,
    **options: Any,
) -> LRFinding:
    """Find a learning rate for ``model`` (or the model already known as ``name``).

    Trains ``steps`` batches of the training part while the rate grows exponentially from
    ``start`` to ``end``, records the smoothed loss (stopping once it diverges), then puts the
    weights and optimizer state back bit for bit and binds ``name`` to the model in
    ``namespace`` (the notebook's) with its data split, as ``nbml.train`` would before training.

    Args:
        name: the model's name in this kernel.
        model: a Keras model (compiled or not), a function that builds one (called after
            seeding, as ``nbml.train`` does), or None for the model known as ``name``.
        data: a data spec string (docs/reference.md#data) or the data itself; for a known model,
            new data.
        start, end: the first and last learning rate (``end`` above ``start``).
        steps: batches to train (10 to 10,000), cycling through data that has fewer.
        **options: ``nbml.train``'s options that shape the model, its data and optimizer
            (``batch_size``, ``optimizer``, ``loss``, ``validation_split``, ``seed``, ...);
            ``epochs``, ``lr`` and the like do not apply and are errors that say so.

    Returns:
        An :class:`LRFinding`: ``lrs``, ``losses``, ``suggestion``, ``suggestions``.

    Example:
        >>> f = nbml.lr_find("mlp", model, "sklearn:digits")
        >>> nbml.train("mlp", lr=f.suggestion, epochs=10)
    """
    rng = lr_range.check_range(start, end, steps)
    opts = _checked(data, options)
    _store.wait_saves()  # a %%train cell's model may still be being written
    source, model = model, built(model, opts.seed)
    ns = _namespace(namespace)
    # held for the whole finder (it registers no run): a Retrain click meanwhile is refused
    with REGISTRY.claim(name, model, action="find its learning rate", wait=opts.wait):
        # one epoch as far as the plan's checks go: the finder counts batches (--steps)
        build = None if model is source else source  # kept: --reset runs the cell again
        p = pipeline.plan(name, model, ns, dataclasses.replace(opts, epochs=1), build)
        # the finder, the model put back and NAME bound are one piece: an interrupt stops the
        # finder at the next batch (its curve so far is the result), never the putting back
        with training.deferred_interrupts() as launch:
            p.apply()
            finding = lr_range.find(p.model, p.dataset, rng, p.batch_size, name, launch)
            p.bind(ns, cell if model is not None else None)
    return finding


lr_find.__signature__ = _options.signature(  # type: ignore[attr-defined]
    lr_find, skip=NOT_FOR_FINDER
)

__all__ = ["LRFinding", "lr_find"]
