"""The end of a sweep (docs/reference.md#sweeps): waiting for the study's trials still running
in other kernels, then binding the model name to the best trial's model."""

from __future__ import annotations

import time
from typing import Any

from .. import store as _store
from ..core import options as _options
from ..core.registry import REGISTRY
from ..training import search
from ..training.sweeps import Sweep


def wait_others(sw: Sweep) -> None:
    """Wait for trials of this study still running in other kernels (an interrupt or Stop
    ends the wait)."""
    said = False
    while not sw.stop_reason:
        running = search.running_elsewhere(sw.study)
        sw.refresh()
        if not running:
            return
        if not said:
            where = ", ".join(sorted({str(search.place(t).get("host")) for t in running}))
            numbers = ", ".join(str(t.number) for t in running)
            print(
                f"Waiting for trial(s) {numbers} of study {sw.study_name}, running in other "
                f"kernels ({where}); interrupt to stop waiting."
            )
            said = True
        time.sleep(1.0)


def bind_best(sw: Sweep, job: Any) -> None:
    """Bind ``name`` to the best trial's model, loaded from the run store; if another
    machine's store holds it, to this kernel's best trial (the message says so)."""
    st = _store.current()
    if st is not None:
        st.flush(60.0)
    best = sw.best_trial
    if best is None:
        sw.message = f"No trial completed; {sw.name} is the last trial's model."
        return
    if st is None and job.kept is not None:  # no run store: the model kept in memory
        number, value, model = job.kept
        REGISTRY.get(sw.name).model = job.ns[sw.name] = model  # type: ignore[union-attr]
        sw.message = f"{sw.name} is the model of trial #{number} ({sw.objective} {value:.4g})."
        return
    chosen, note = search.choose(sw, st, best)
    if chosen is None:
        sw.message = note
        return
    number, run_id = chosen
    stored = st.run(run_id)  # type: ignore[union-attr]
    opts = _options.from_kwargs(data=job.data, **job.fixed)
    load = {"target": opts.target, "task": opts.task, "clean": opts.clean}
    search.bind(sw.name, stored, job.data, job.ns, **load)
    row = sw.row(number)
    _keep_run(sw.name, row.run if row is not None else None)
    value = row.value if row is not None else best.value
    sw.message = (note + " " if note else "") + (
        f"{sw.name} is the model of trial #{number} ({sw.objective} {value:.4g}), loaded from "
        f"run {run_id} in the run store."
    )


def _keep_run(name: str, run: Any) -> None:
    """The best trial's run joins ``name``'s runs when it trained on a Dask worker (a trial
    of this kernel is one of them already), so that ``%inspect``, the panel and ``%runs`` show
    the run whose model ``name`` now holds, with its inspector's records."""
    record = REGISTRY.get(name)
    if record is not None and run is not None and all(r is not run for r in record.runs):
        record.runs.append(run)
