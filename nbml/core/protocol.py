"""The wire types of nbml's sidebar protocol (docs/protocol.md): the messages the kernel sends on
the comm target "nbml", the requests the sidebar sends, and what the Jupyter server's kernel list
(``GET /nbml/kernels``, docs/notebook7.md) holds. Numbers from the kernel may be null: a NaN or an
infinity travels as null.

Declared once, here: the kernel checks requests against them (:mod:`nbml.views.comm`), and
``scripts/gen_ts.py`` writes them as TypeScript to ``labextension/src/protocol.ts``
(``tests/test_generated_ts.py`` checks that file is current). A string right after a field is
that field's note in TypeScript.
"""

# (no `from __future__ import annotations`: TypedDict reads NotRequired from real annotations)
import sys
from typing import Any, Literal

if sys.version_info >= (3, 11):
    from typing import NotRequired, TypedDict
else:  # IPython, a dependency, brings typing_extensions before Python 3.12
    from typing_extensions import NotRequired, TypedDict

VERSION = 1

Num = float | None
"""A metric, a progress or a duration: null when the kernel's value was NaN or infinite."""


class Device(TypedDict):
    """One compute device (``nbml.ml.hardware.Device``): memory in bytes."""

    kind: str
    id: int
    memory: int | None
    name: NotRequired[str]
    backend: NotRequired[str]
    memory_used: NotRequired[int | None]
    """Bytes in use, where the backend reports it (accelerators)."""
    memory_peak: NotRequired[int | None]
    """The most bytes in use so far, where the backend reports it (accelerators)."""


class Host(TypedDict):
    cpus: int
    memory: int | None


class Process(TypedDict):
    """The kernel's own process (``nbml.ml.hardware.process``): resident memory in bytes, null
    where the platform does not say."""

    pid: int
    rss: int | None
    rss_peak: int | None


class InspectLayer(TypedDict):
    """One row of the inspector's layer table: ``name`` is the layer's path (``block/conv_1``),
    ``type`` its class, ``shape`` its output shape."""

    name: str
    type: str
    shape: str
    trainable: int
    non_trainable: int
    activation: str | None


class InspectRow(TypedDict):
    """One layer's statistics at one record: null where a statistic does not apply or is not
    available, and where it was NaN or infinite (then named in `nonfinite`)."""

    layer: str
    weight_norm: Num
    update_ratio: Num
    grad_norm: Num
    act_mean: Num
    act_std: Num
    dead_fraction: Num
    nonfinite: NotRequired[list[str]]
    """The statistics of this row that were NaN or infinite in the kernel."""


class InspectRecord(TypedDict):
    """The statistics of every layer at the end of one epoch."""

    epoch: int
    rows: list[InspectRow]


class InspectFlag(TypedDict):
    """Something wrong with a layer, found at the record of `epoch`; `reason` carries the
    number."""

    layer: str
    kind: str
    epoch: int
    reason: str


class SweepInfo(TypedDict):
    """A sweep as the panel shows it: its trials' progress and the best so far."""

    study: str
    status: str
    total: Num
    done: Num
    running: Num
    complete: Num
    pruned: Num
    failed: Num
    objective: str
    best: Num
    best_trial: Num


class ModelInfo(TypedDict):
    """What the sidebar shows of one model (``nbml.views.comm.model_info``)."""

    name: str
    status: str
    epoch: int
    epochs: int
    progress: Num
    metrics: dict[str, Num]
    elapsed: Num
    params: int
    device: str
    cell: int | None
    foreground: bool
    run: str | None
    run_status: NotRequired[str | None]
    """The status of the model's latest run (running, finished, stopped, failed); null for a
    model without runs, whose `status` is the model's own word."""
    message: NotRequired[str]
    sweep: NotRequired[SweepInfo | None]
    """The %%sweep the latest run is a trial of (docs/protocol.md), or null."""
    inspected: NotRequired[str | None]
    """The latest run the inspector recorded (the one the panel's inspector shows), or null."""
    flags: NotRequired[list[InspectFlag]]
    """That run's inspector flags so far."""


class Layer(TypedDict):
    name: str
    type: str
    shape: str
    params: int


class BackendInfo(TypedDict):
    """The backend and its devices (``nbml.views.comm.backend_info``): null until Keras is
    imported in the kernel (nbml never imports it just to answer)."""

    backend: NotRequired[str | None]
    keras: NotRequired[str | None]
    devices: NotRequired[list[Device] | None]
    devices_error: NotRequired[str]
    """Why the backend could not list its devices."""
    process: NotRequired[Process | None]
    """The kernel's process and its resident memory."""


class HelloMsg(BackendInfo):
    """The kernel's whole state: on loading nbml, and in answer to a `snapshot` request."""

    type: Literal["hello"]
    version: int
    nbml: str
    pid: NotRequired[int]
    host: NotRequired[Host]
    store: NotRequired[str | None]
    """The folder of the kernel's run store (docs/protocol.md), or null without one."""
    models: list[ModelInfo]
    time: float


class ModelsMsg(BackendInfo):
    """What changed: pushed on every open comm."""

    type: Literal["models"]
    version: int
    models: list[ModelInfo]
    time: float


class SummaryMsg(TypedDict):
    type: Literal["summary"]
    version: int
    model: str
    layers: list[Layer]
    total: int


class InspectionMsg(TypedDict):
    """A model's inspector: its latest inspected run's layer table, records, flags and notes
    (why a statistic is not available), as `nbml.inspect(model)` has them; `run` is null and
    `records` empty for a model whose runs were not inspected."""

    type: Literal["inspection"]
    version: int
    model: str
    run: str | None
    status: str | None
    layers: list[InspectLayer]
    records: list[InspectRecord]
    flags: list[InspectFlag]
    notes: dict[str, str]
    total: int


class InspectMsg(TypedDict):
    """A new inspector record, pushed on every open comm at the end of its epoch, with the
    run's layer table, flags and notes as they are then."""

    type: Literal["inspect"]
    version: int
    model: str
    run: str
    layers: list[InspectLayer]
    record: InspectRecord
    flags: list[InspectFlag]
    notes: dict[str, str]
    time: float


class AckMsg(TypedDict):
    type: Literal["ack"]
    version: int
    request: str
    model: str
    message: str


class ErrorMsg(TypedDict):
    type: Literal["error"]
    version: int
    error: str
    request: NotRequired[str]


class ClosedMsg(TypedDict):
    """Why the kernel closed a comm (the data of its comm_close)."""

    type: Literal["closed"]
    version: int
    reason: str
    message: str


KernelMsg = HelloMsg | ModelsMsg | SummaryMsg | InspectionMsg | InspectMsg | AckMsg | ErrorMsg
"""Messages the kernel sends."""


class SnapshotRequest(TypedDict):
    type: Literal["snapshot"]
    version: int
    client: NotRequired[str]
    """The sidebar's key: a newer comm with the same key replaces the older one."""


class StopRequest(TypedDict):
    type: Literal["stop"]
    version: int
    model: str


class SummaryRequest(TypedDict):
    type: Literal["summary"]
    version: int
    model: str


class InspectRequest(TypedDict):
    type: Literal["inspect"]
    version: int
    model: str


Request = SnapshotRequest | StopRequest | SummaryRequest | InspectRequest
"""Requests the sidebar sends."""

REQUESTS = (SnapshotRequest, StopRequest, SummaryRequest, InspectRequest)


class StopAnswer(TypedDict):
    """The answer to a stop request sent through the server (POST /nbml/kernels/<id>/stop)."""

    token: str
    model: NotRequired[str]
    message: NotRequired[str]
    error: NotRequired[str]
    time: float


class SnapshotModel(ModelInfo):
    started: NotRequired[Num]
    """When the model's latest run started (kernel time, seconds)."""


class Snapshot(BackendInfo):
    """What a kernel with nbml loaded reports to the server."""

    version: int
    kernel: str
    pid: int
    nbml: str
    host: NotRequired[Host | None]
    store: NotRequired[str | None]
    """The folder of the kernel's run store: the server reads stored inspector records there."""
    models: list[SnapshotModel]
    answers: list[StopAnswer]
    updated: float
    """Kernel time (seconds) of the newest event."""
    time: float


class ServerSession(TypedDict):
    id: str
    path: str | None
    name: str | None
    type: str | None


class ServerKernel(TypedDict):
    """A kernel alive in the Jupyter server, with what nbml reports from it; the panel lists
    those that no document here holds."""

    id: str
    name: str | None
    execution_state: str | None
    last_activity: str | None
    sessions: list[ServerSession]
    nbml: Snapshot | None
    """null: nbml is not loaded in that kernel."""


class KernelListing(TypedDict):
    """GET /nbml/kernels (nbml's server extension, docs/notebook7.md)."""

    version: int
    kernels: list[ServerKernel]


class StoredInspection(TypedDict):
    """GET /nbml/kernels/<id>/inspect/<run id>: a run's inspector records as the kernel's run
    store has them (docs/protocol.md); the flags come with the kernel's listing."""

    version: int
    kernel: str
    run: str
    model: str
    status: str
    layers: list[InspectLayer]
    records: list[InspectRecord]
    notes: dict[str, str]


def request_fields(shape: Any) -> tuple[str, set[str], set[str]]:
    """A request's type, and the fields it needs and may have besides ``type`` and ``version``."""
    kind = shape.__annotations__["type"].__args__[0]
    required = set(shape.__required_keys__) - {"type", "version"}
    return kind, required, set(shape.__optional_keys__)
