"""Choosing how a run is shown: the live widget where widgets work, else the text line."""

from __future__ import annotations

from typing import Any

from ..core.registry import ModelRecord, Run
from .progress import ProgressView, in_kernel


def widgets_available() -> bool:
    """True in a Jupyter kernel when the widget JavaScript was built into the package."""
    if not in_kernel():
        return False
    from .widgets import STATIC

    return (STATIC / "monitor.js").exists()


def show_run(record: ModelRecord, run: Run, mode: str, *, foreground: bool) -> Any:
    """Display ``run``: ``mode`` is auto, widget, text or none."""
    if mode == "none":
        return None
    if mode in ("auto", "widget") and widgets_available():
        from .widgets.monitor import TrainingMonitor

        return TrainingMonitor.show(record, run, foreground=foreground)
    return ProgressView(run)
