"""The text view of a run: a progress line that updates in place (one ``display_id``)."""

from __future__ import annotations

import sys
from typing import Any

from ..core import rules
from ..core.registry import REGISTRY, Event, Run
from .text import STATUS_COLORS, e, fmt, ordered, seconds


def progress_text(run: Run, live: dict[str, Any] | None = None) -> str:
    live = live or {}
    parts = [run.name, run.status]
    if run.params.get("data"):  # rows of a memory-mapped file: "streamed from disk"
        parts.append(f"data {run.params['data']}")
    if run.status == "running":
        frac = rules.progress(run, live.get("batch"), live.get("steps"))
        bar = "#" * int(frac * 20)
        parts.append(f"epoch {min(run.epoch + 1, run.epochs)}/{run.epochs} [{bar:<20}] {frac:.0%}")
    else:
        parts.append(f"{run.epoch}/{run.epochs} epochs in {seconds(run.duration)}")
    logs = live.get("logs") if run.status == "running" and live.get("logs") else run.metrics
    parts += [f"{k} {fmt(float(v))}" for k, v in ordered(logs or {})]
    if run.status == "running" and "samples_per_s" in live:
        parts.append(f"{live['samples_per_s']:,.0f} samples/s")
    if run.status == "running" and "eta" in live:
        parts.append(f"ETA {seconds(live['eta'])}")
    return " · ".join(parts)


def progress_html(run: Run, live: dict[str, Any] | None = None) -> str:
    live = live or {}
    frac = rules.progress(run, live.get("batch"), live.get("steps"))
    color = STATUS_COLORS.get(run.status, "#777")
    text = progress_text(run, live).split(" · ", 2)
    rest = e(text[2]) if len(text) > 2 else ""
    msg = f"<div style='color:{color};margin-top:2px'>{e(run.message)}</div>" if run.message else ""
    return (
        "<div class='nbml-progress' style='font:12px/1.5 var(--jp-code-font-family,monospace)'>"
        f"<b>{e(run.name)}</b> <span style='color:{color}'>{e(run.status)}</span> "
        f"<div style='display:inline-block;vertical-align:middle;width:160px;height:8px;"
        f"background:#eee;border-radius:4px;overflow:hidden;margin:0 6px'><div style='width:"
        f"{frac * 100:.1f}%;height:100%;background:{color}'></div></div>{rest}{msg}</div>"
    )


class ProgressView:
    """A compact progress line for one run that updates in place (one ``display_id``).

    In a terminal IPython it prints a single carriage-return line instead. Between epochs the
    line is redrawn at most every ``PERIOD`` seconds (each redraw re-sends the whole line).
    """

    PERIOD = 0.25

    def __init__(self, run: Run) -> None:
        self.run = run
        self.live: dict[str, Any] = {}
        self._drawn = 0.0
        self.handle = None
        self._terminal = not in_kernel()
        if self._terminal:
            self._print()
        else:
            from IPython.display import display

            self.handle = display(self._bundle(), raw=True, display_id=True)
        self._unsubscribe = REGISTRY.subscribe(self)

    def _bundle(self) -> dict[str, str]:
        text = progress_text(self.run, self.live)
        if self.run.message:
            text += f"\n{self.run.message}"
        return {"text/plain": text, "text/html": progress_html(self.run, self.live)}

    def _print(self) -> None:
        line = progress_text(self.run, self.live)
        end = "\n" if self.run.status != "running" else ""
        sys.stdout.write(f"\r{line:<120}{end}")
        if self.run.status != "running" and self.run.message:
            sys.stdout.write(self.run.message + "\n")
        sys.stdout.flush()

    def __call__(self, event: Event) -> None:
        if event.run is not self.run:
            return
        if event.kind == "batch":
            self.live = event.data
            if event.time - self._drawn < self.PERIOD:
                return
        elif event.kind in ("epoch", "end"):
            self.live = {}
        self._drawn = event.time
        if self._terminal:
            self._print()
        elif self.handle is not None:
            self.handle.update(self._bundle(), raw=True)
        if event.kind == "end":
            self._unsubscribe()


def in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"
