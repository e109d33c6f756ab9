"""Running ``fit`` so that an interrupt or a NaN never loses the user's work.

Foreground training installs a SIGINT handler for the duration of ``fit``: the first kernel
interrupt asks Keras to stop at the next batch boundary (weights and history kept), a second
one falls back to Python's ``KeyboardInterrupt``. A non-finite loss stops training and puts the
weights back to the end of the last finite epoch.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..core import rules
from ..core.errors import NbmlError
from ..core.files import first_line
from ..core.registry import REGISTRY, Event, Run
from ..ml import distribution, processes, seeding
from ..ml.data import Dataset
from ..ml.mapped import fit_args as mapped_fit_args
from . import compile_cache, execution
from .batches import LeanCallbacks, lean
from .callbacks import TrainingPublisher

if TYPE_CHECKING:
    from .pipeline import Plan

#: A model's status once its run has ended.
_SHAPE_WORDS = ("shape", "Incompatible", "broadcast", "rank", "dimension")


#: While a block of :func:`first_interrupt` runs, the first interrupt calls its function (a
#: sweep: end after the running trial) instead of stopping the training; later ones act as usual.
_FIRST: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "nbml_first_interrupt", default=None
)


@contextlib.contextmanager
def first_interrupt(fn: Callable[[], None]) -> Iterator[None]:
    """Within this block the first SIGINT calls ``fn()`` and training goes on; a second one
    stops the training as usual (an interrupt ends a sweep after its running trial:
    docs/reference.md#sweeps)."""
    token = _FIRST.set([fn])
    try:
        yield
    finally:
        _FIRST.reset(token)


def _took_first() -> bool:
    """Hand an interrupt to :func:`first_interrupt`'s function, if one still waits for it."""
    waiting = _FIRST.get()
    if not waiting:
        return False
    waiting.pop()()
    return True


@contextlib.contextmanager
def on_sigint(handler: Callable[[], None]) -> Iterator[None]:
    """Call ``handler()`` on SIGINT for the block, then put the previous handler back. Off the
    main thread (a background run) there are no signals to take: the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda signum, frame: handler())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def raise_next_interrupt() -> None:
    """Have the next SIGINT raise ``KeyboardInterrupt`` (until :func:`on_sigint` puts its
    previous handler back)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def graceful_interrupt(on_interrupt: Callable[[], None]) -> Iterator[None]:
    """Turn the first SIGINT into ``on_interrupt()``; a second raises ``KeyboardInterrupt``."""

    def first() -> None:
        if _took_first():
            return
        raise_next_interrupt()
        on_interrupt()

    with on_sigint(first):
        yield


def fit(
    model: Any,
    dataset: Dataset,
    run: Run,
    *,
    batch_size: int,
    callbacks: list[Any] = (),  # type: ignore[assignment]
    interval: float = 0.1,
    lr: float | None = None,
    dist: Any = None,
) -> TrainingPublisher:
    """Fit ``model`` on ``dataset`` for ``run.epochs`` epochs and settle the run's outcome."""
    publisher = TrainingPublisher(run, interval=interval, batch_size=batch_size)
    args = _fit_args(dataset, batch_size, dist)
    hooks = _callbacks(publisher, callbacks, args, run, model)

    def request_stop() -> None:
        run.stop_requested = True  # the publisher stops fit at the next batch boundary
        if isinstance(hooks, LeanCallbacks):
            hooks.wake()

    def progress() -> Any:  # what moves while the processes of a job train together
        return run.epoch, run.last_batch[:2] if run.last_batch else None

    forced = False
    watch = (
        processes.watch(f"training {run.name}", progress)
        if dist is not None
        else contextlib.nullcontext()
    )
    with graceful_interrupt(request_stop), distribution.scope(dist), watch:
        try:
            model.fit(**args, epochs=run.epochs, callbacks=hooks, verbose=0)
        except KeyboardInterrupt:
            forced = run.stop_requested = True
        except Exception as exc:
            _restore(model, publisher)
            first_step = run.epoch == 0 and publisher._latest is None
            if first_step and any(w in str(exc) for w in _SHAPE_WORDS):
                raise NbmlError(
                    f"Keras could not run the first training step of {run.name}: "
                    f"{first_line(exc)} "
                    "Check that the model's output and --loss fit the labels (a Flatten layer "
                    "before the last Dense layer for images; --loss auto)."
                ) from None
            raise
        finally:
            if isinstance(hooks, LeanCallbacks):
                hooks.close()
            for hook in callbacks:  # those with a thread of their own (the inspector's)
                getattr(hook, "close", lambda: None)()
    run.ended = time.time()
    _settle(run, publisher, lr, forced)
    return publisher


def _fit_args(dataset: Dataset, batch_size: int, dist: Any) -> dict[str, Any]:
    """The data arguments of ``model.fit``."""
    if dataset.is_stream:
        return {"x": dataset.stream}
    if dataset.mapped:  # rows of a file on disk: batches read as training goes
        devices = 1 if dist is None else int(dist.device_mesh.devices.size)
        return mapped_fit_args(dataset, batch_size, devices=devices)
    x, y, xv, yv = dataset.x_train, dataset.y_train, dataset.x_val, dataset.y_val
    if dist is not None:  # every batch, the last one too, must split evenly over the mesh
        x, y = distribution.even(x, y, dist)
        if xv is not None:
            xv, yv = distribution.even(xv, yv, dist)
        batch_size = distribution.local_batch(batch_size, dist)  # this process's part
    # a batch larger than the data is the whole data (TensorFlow overflows on a huge one)
    args: dict[str, Any] = {"x": x, "y": y, "batch_size": min(batch_size, max(len(x), 1))}
    if xv is not None:
        args["validation_data"] = (xv, yv)
    return args


def _callbacks(publisher: Any, callbacks: Any, args: dict, run: Run, model: Any) -> Any:
    """The callback list of nbml's ``fit``: no thread-pool task per batch (see
    :class:`~nbml.training.batches.LeanCallbacks`), for array data (a stream's length is its
    own business, so Keras builds its list)."""
    if "batch_size" not in args:
        return [publisher, *callbacks]
    import keras

    rows = len(keras.tree.flatten(args["x"])[0])
    steps = -(-rows // max(args["batch_size"], 1))
    return lean(publisher, list(callbacks), model=model, verbose=0, epochs=run.epochs, steps=steps)


def _settle(run: Run, publisher: TrainingPublisher, lr: float | None, forced: bool) -> None:
    """The run's outcome once ``fit`` returned: failed (NaN), stopped or finished."""
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
    elif run.stop_requested:
        run.status = "stopped"
        how = "a second interrupt" if forced else run.stop_reason
        run.message = (
            f"Training of {run.name} stopped by {how} after {run.epoch} of {run.epochs} epochs; "
            f"weights and history are kept (nbml.models())."
        )
    else:
        run.status = "finished"


def _restore(model: Any, publisher: TrainingPublisher) -> None:
    """Put back the last good weights after a failed fit (Keras may leave them purged)."""
    if publisher._good_weights is None:
        return
    try:
        model.set_weights(publisher._good_weights)
    except Exception:  # nothing better to do; the original error is what matters
        logging.getLogger("nbml").warning("could not restore the weights of %s", publisher.run.name)


class Launch:
    """What the first, deferred interrupt of a launch asks for (see :func:`deferred_interrupts`)."""

    def __init__(self) -> None:
        self.interrupted = False


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[Launch]:
    """Hold off SIGINT for a block: an interrupt is remembered (``Launch.interrupted``) instead
    of raised, so registering a run, starting it and publishing its end are never cut in half.

    Inside, :func:`graceful_interrupt` still takes over for the duration of ``fit``. Off the
    main thread (a background run) there are no signals to hold off.
    """
    launch = Launch()

    def held() -> None:
        if not _took_first():
            launch.interrupted = True

    with on_sigint(held):
        yield launch


def end(record: Any, run: Run) -> None:
    """Publish the end of ``run`` exactly once, then mark its model free (``run.done``)."""
    if run.done.is_set() or getattr(run, "_end_published", False):
        return
    run._end_published = True  # type: ignore[attr-defined]
    if run.status == "running":
        run.status = "failed"
    run.ended = run.ended or time.time()
    record.status = rules.model_state(run.status)
    try:
        with deferred_interrupts():
            event = Event("end", run, {"status": run.status, "message": run.message})
            REGISTRY.post(event, wait=True)  # after every view and the store have heard the run
    finally:
        run.done.set()


def _steps(plan: Plan, run: Run) -> None:
    """Set the model's batches per compiled call (docs/reference.md#steps-per-execution) and
    record it in the run's params."""
    model, ds = plan.model, plan.dataset
    compile_cache.enable()  # before the first program is compiled
    if not ds.is_stream:
        with distribution.scope(plan.distribution):
            execution.prebuild(model, ds.x_train, ds.y_train, plan.batch_size)
            if plan.steps == "auto":
                execution.choose(
                    model, ds.x_train, ds.y_train, plan.batch_size,
                    distributed=plan.distribution is not None,
                )  # fmt: skip
    if plan.steps not in (None, "auto"):
        execution.apply(model, plan.steps)
    elif ds.is_stream and plan.steps == "auto":
        execution.apply(model, 1)
    run.params["steps_per_execution"] = int(getattr(model, "steps_per_execution", 1) or 1)


def _never_started(run: Run) -> None:
    run.status, run.ended = "stopped", time.time()
    run.message = (
        f"Training of {run.name} stopped by {run.stop_reason} before its first epoch; "
        "weights and history are unchanged."
    )


def execute(
    plan: Plan,
    run: Run,
    *,
    background: bool = False,
    interval: float = 0.1,
    launch: Launch | None = None,
) -> None:
    """Run a planned training in the foreground, or in a kernel thread when ``background``.

    Whatever happens (an error, an interrupt at any moment, a stop before the first batch),
    the run ends with exactly one ``end`` event.
    """
    record = plan.record
    run.foreground = not background

    def work() -> None:
        try:
            _steps(plan, run)
            seeding.seed_all(plan.params.get("seed"))  # shuffling and dropout: --seed's
            REGISTRY.post(Event("begin", run, {"params": run.params}))
            if launch is not None and launch.interrupted and not background:
                run.stop_requested = True  # an interrupt while the run was being set up
            if run.stop_requested and not background:
                _never_started(run)
                return
            fit(
                plan.model,
                plan.dataset,
                run,
                batch_size=plan.batch_size,
                callbacks=plan.callbacks,
                interval=interval,
                lr=plan.params.get("lr"),
                dist=plan.distribution,
            )
        except BaseException as exc:
            run.status, run.ended = "failed", time.time()
            if not run.message:
                run.message = f"Training failed: {type(exc).__name__}: {str(exc)[:300]}"
            if not background:
                raise
            logging.getLogger("nbml").error("background training of %s failed", run.name)
        finally:
            end(record, run)

    if not background:
        work()
        return
    context = contextvars.copy_context()  # keeps the cell's output routing in the thread
    thread = threading.Thread(
        target=context.run, args=(work,), name=f"nbml-{run.name}", daemon=True
    )
    run.thread = thread  # type: ignore[attr-defined]
    try:
        thread.start()
    except BaseException:
        end(record, run)
        raise
