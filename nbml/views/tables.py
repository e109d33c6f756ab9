"""What ``%models``, ``%devices`` and ``%runs`` show: the API's results as tables.

The API (:mod:`nbml.api`) returns records; this view turns them into :class:`Table` and
:class:`RunTable` objects, whose rich display is the table.
"""

from __future__ import annotations

from .. import store as _store
from ..api import _current_store, devices, runs
from ..core.registry import REGISTRY
from ..ml.hardware import host
from .comparison import RunTable
from .text import Table, seconds


def model_table() -> Table:
    """This kernel's models as a table (what ``%models`` shows)."""
    rows = []
    for rec in REGISTRY.records():
        m = rec.metrics
        metric = next((k for k in m if k not in ("loss",) and not k.startswith("val_")), None)
        rows.append(
            [
                rec.name,
                rec.status,
                f"{rec.epoch}/{rec.epochs}",
                f"{rec.params:,}",
                m.get("loss", ""),
                m.get("val_loss", ""),
                f"{metric} {m[metric]:.4g}" if metric else "",
                rec.device or _device_label(),
                rec.run.params.get("steps_per_execution", "") if rec.run else "",
                seconds(rec.duration),
            ]
        )
    note = "" if rows else "No models yet: train one with %%train NAME --data SPEC."
    headers = ["name", "status", "epoch", "params", "loss", "val_loss", "metric", "device"]
    headers += ["steps/call", "time"]
    return Table(headers, rows, note)


def _device_label() -> str:
    from ..ml.hardware import describe

    return describe()


def device_table() -> Table:
    """The backend's devices and the host (what ``%devices`` shows)."""
    import keras

    rows = [
        [
            d.kind,
            d.id,
            d.name,
            _bytes(d.memory),
            "" if d.memory_used is None else _bytes(d.memory_used),
            d.backend or keras.backend.backend(),
        ]
        for d in devices()
    ]
    h = host()
    note = (
        f"host: {h.cpus} CPUs, {_bytes(h.memory)} memory; Keras backend {keras.backend.backend()}"
    )
    return Table(["kind", "id", "name", "memory", "in use", "backend"], rows, note)


def _bytes(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return str(n)


def run_table(
    name: str | None = None, *, limit: int | None = 50, compare: list[str] | None = None
) -> RunTable:
    """Runs side by side (what ``%runs`` shows): the last ``limit`` (None: all) runs.

    ``compare`` names run ids whose curves are overlaid under the table (an empty list: the
    listed runs, up to 10).
    """
    rs = runs(name, limit=limit)
    st = _store.ensure()
    total = max(st.count(name) if st is not None else 0, len(rs))
    chosen = []
    if compare is not None:
        listed = {r.id: r for rec in REGISTRY.records() for r in rec.runs}
        listed.update((r.id, r) for r in rs)
        ids = compare or [r.id for r in rs[-10:]]
        for run_id in ids:
            if run_id not in listed:
                listed[run_id] = _current_store("--compare").run(run_id)
            chosen.append(listed[run_id])
    return RunTable(rs, total, chosen, store=st)
