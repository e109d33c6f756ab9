"""Running ``fit`` so that an interrupt or a NaN never loses the user's work.

Foreground training installs a SIGINT handler for the duration of ``fit``: the first kernel
interrupt asks Keras to stop at the next batch boundary (weights and history kept), a second
one falls back to Python's ``KeyboardInterrupt``. A non-finite loss stops training and puts the
weights back to the end of the last finite epoch.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .callbacks import TrainingPublisher
from .data import Dataset
from .registry import REGISTRY, Event, Run


@contextlib.contextmanager
def graceful_interrupt(on_interrupt: Callable[[], None]) -> Iterator[None]:
    """Turn the first SIGINT into ``on_interrupt()``; a second raises ``KeyboardInterrupt``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        on_interrupt()

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def fit(
    model: Any,
    dataset: Dataset,
    run: Run,
    *,
    batch_size: int,
    callbacks: list[Any] = (),  # type: ignore[assignment]
    interval: float = 0.1,
    lr: float | None = None,
) -> TrainingPublisher:
    """Fit ``model`` on ``dataset`` for ``run.epochs`` epochs and settle the run's outcome."""
    publisher = TrainingPublisher(run, interval=interval, batch_size=batch_size)

    def request_stop() -> None:
        publisher.stop_requested = True
        model.stop_training = True

    run.stop = request_stop  # type: ignore[attr-defined]
    if dataset.is_stream:
        args: dict[str, Any] = {"x": dataset.stream}
    else:
        args = {"x": dataset.x_train, "y": dataset.y_train, "batch_size": batch_size}
        if dataset.x_val is not None:
            args["validation_data"] = (dataset.x_val, dataset.y_val)
    forced = False
    with graceful_interrupt(request_stop):
        try:
            model.fit(
                **args,
                epochs=run.epochs,
                callbacks=[publisher, *callbacks],
                verbose=0,
            )
        except KeyboardInterrupt:
            forced = publisher.stop_requested = True
    run.ended = time.time()
    if publisher.nan_at is not None:
        epoch, batch, value = publisher.nan_at
        back = f"the end of epoch {epoch}" if epoch > 0 else "its initial weights"
        lower = f"--lr {lr / 10:g}" if lr else "a lower --lr, e.g. --lr 0.0001"
        run.status = "failed"
        run.message = (
            f"Loss became {value} at epoch {epoch + 1}, batch {batch + 1}: training stopped and "
            f"{run.name} was put back to {back}. Try a lower learning rate ({lower})."
        )
        # the history keeps only epochs whose loss was finite
        for key in list(run.history):
            del run.history[key][epoch:]
        run.epoch = min(run.epoch, epoch)
    elif publisher.stop_requested:
        run.status = "stopped"
        how = "a second interrupt" if forced else "interrupt"
        run.message = (
            f"Training of {run.name} stopped by {how} after {run.epoch} of {run.epochs} epochs; "
            f"weights and history are kept (nbml.models())."
        )
    else:
        run.status = "finished"
    REGISTRY.publish(Event("end", run, {"status": run.status, "message": run.message}))
    return publisher
