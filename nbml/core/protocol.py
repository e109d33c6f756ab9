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


class Host(TypedDict):
    cpus: int
    memory: int | None


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


class HelloMsg(BackendInfo):
    """The kernel's whole state: on loading nbml, and in answer to a `snapshot` request."""

    type: Literal["hello"]
    version: int
    nbml: str
    pid: NotRequired[int]
    host: NotRequired[Host]
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


KernelMsg = HelloMsg | ModelsMsg | SummaryMsg | AckMsg | ErrorMsg
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


Request = SnapshotRequest | StopRequest | SummaryRequest
"""Requests the sidebar sends."""

REQUESTS = (SnapshotRequest, StopRequest, SummaryRequest)


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


def request_fields(shape: Any) -> tuple[str, set[str], set[str]]:
    """A request's type, and the fields it needs and may have besides ``type`` and ``version``."""
    kind = shape.__annotations__["type"].__args__[0]
    required = set(shape.__required_keys__) - {"type", "version"}
    return kind, required, set(shape.__optional_keys__)
