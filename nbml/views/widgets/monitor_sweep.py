"""The training monitor's Sweep choice: a small background sweep around the Retrain panel's
settings.

The learning rate is searched log-uniformly from a tenth to ten times the panel's, the batch size
among half, the same and twice the panel's; epochs, optimizer and the other options are the
panel's and the run's. Each trial trains a fresh copy of the model's architecture (the model
without the preprocessing nbml placed in front of it; each trial places it again) on the run's
data, split the same way; the monitor draws every trial over the faded earlier curves, and the
best trial's model becomes the model, as ``%%sweep`` does.
"""

from __future__ import annotations

import time
from typing import Any

from ...compat import keras as keras_compat
from ...core.errors import NbmlError

#: Trials of a sweep started from the monitor.
TRIALS = 8
#: The run's options a sweep keeps (its data split and preprocessing).
KEPT = ("test_split", "validation_split", "seed", "augment", "early_stopping", "task")


def space(values: dict[str, Any]) -> dict[str, Any]:
    """The search space around the panel's learning rate and batch size."""
    lr = values.get("lr") or 1e-3
    batch = int(values["batch_size"])
    return {
        "lr": (lr / 10, min(lr * 10, 10.0), "log"),
        "batch_size": sorted({max(1, batch // 2), batch, batch * 2}),
    }


def architecture(record: Any) -> Any:
    """The user's model inside ``record.model`` (nbml's preprocessing wraps it, when there is
    any: the wrapper's last layer)."""
    import keras

    model = record.model
    wrapped = record.normalize not in (None, "none") or model.name == record.name
    last = model.layers[-1] if getattr(model, "layers", None) else None
    return last if wrapped and isinstance(last, keras.Model) else model


def build(record: Any) -> Any:
    """A function that makes a fresh copy of the model's architecture for each trial."""

    inner = architecture(record)
    try:
        keras_compat.clone_model(inner)
    except Exception as exc:
        raise NbmlError(
            f"Keras cannot copy the architecture of {record.name} for a sweep ({exc}); run "
            f"%%sweep {record.name} with a cell that builds the model."
        ) from None
    return lambda hp: keras_compat.clone_model(inner)


def start(monitor: Any, options: dict[str, Any]) -> Any:
    """Start the sweep for ``monitor`` (its model's latest run, the panel's ``options``); the
    monitor follows its trials. Returns the :class:`~nbml.training.sweeps.Sweep`."""
    from ... import api
    from ...api.sweep import sweep
    from ...core.registry import REGISTRY

    record = REGISTRY.get(monitor.name)
    run = record.run if record is not None else None
    if record is None or run is None or record.dataset is None:
        raise NbmlError(f"{monitor.name} has no run to sweep around yet.")
    ns = api._namespace(None)
    spec = record.dataset.spec
    if not (":" in spec or spec.endswith((".csv", ".npz")) or spec in ns):
        raise NbmlError(
            f"The sweep loads the run's data again by its spec, '{spec}', which names no "
            f"variable or dataset here. Run %%sweep {monitor.name} --data ... instead."
        )
    given = {k: v for k, v in options.items() if k not in ("type", "lr", "batch_size")}
    given = {k: v for k, v in given.items() if v is not None}
    kept = {k: run.params[k] for k in KEPT if run.params.get(k) is not None}
    study = f"{monitor.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    found = sweep(
        monitor.name, build(record), spec, trials=TRIALS, space=space(options),
        study=study, display="none", namespace=ns, background=True,
        normalize=record.normalize, **{**kept, **given},
    )  # fmt: skip
    monitor._sweep, monitor.sweeping = found, True
    found.subscribe(lambda kind, data: _ended(monitor, found) if kind == "end" else None)
    if found.done.is_set():  # it ended before the monitor listened
        _ended(monitor, found)
    return found


def sweep_around(monitor: Any, options: dict[str, Any]) -> Any:
    """The monitor's Sweep button: start the sweep (the monitor draws its trials); if it cannot
    start, the monitor's ``notice`` says why."""
    from ..comm import InvalidMessage
    from .messages import monitor_request, say

    if refuse_while_sweeping(monitor):
        return None
    try:
        found = start(monitor, monitor_request({**options, "type": "sweep"}))
    except (NbmlError, InvalidMessage, ValueError, TypeError) as e:
        say(monitor, f"Refused: {e}" if isinstance(e, InvalidMessage) else str(e))
        return None
    monitor._listen()
    say(monitor, f"Sweep {found.study_name}: {found.total} trials around these settings; the "
                 "best trial's model becomes the model.")  # fmt: skip
    return found


def refuse_while_sweeping(monitor: Any) -> bool:
    """Whether a sweep the monitor started runs: Retrain and Sweep then wait for its end (the
    monitor's notice says why)."""
    from .messages import say

    sw = monitor._sweep
    if sw is None:
        return False
    say(monitor, f"Refused: the sweep {sw.study_name} started here is running ({sw.ended_trials()}/"
                 f"{sw.total} trials done). Wait for its end, or press Stop while a trial "
                 "trains: that trial stops and the sweep ends, its finished trials kept.")  # fmt: skip
    return True


def follows(monitor: Any, run: Any) -> bool:
    """Whether ``run`` is a trial of the sweep the monitor started (it then draws it)."""
    sw = getattr(monitor, "_sweep", None)
    return sw is not None and (run.params or {}).get("sweep") == sw.study_name


def _ended(monitor: Any, sw: Any) -> None:
    from .messages import say

    with monitor._lock:
        if monitor._sweep is not sw:
            return  # told already
        monitor._sweep = None
    monitor.sweeping = False
    say(monitor, f"Sweep {sw.study_name} {sw.status}: {sw.summary()}. {sw.message}".strip())
    if monitor._idle():
        monitor._release()
