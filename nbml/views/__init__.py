"""The views layer: text, HTML and widgets that show runs, models and evaluations.

Views depend on the layers below and subscribe to them; nothing below calls a view.
:func:`install` wires them in, once per process (at the first use of nbml's API: see :mod:`nbml`):

- a registry subscriber that shows a run when it is announced (the ``show`` event the API and
  :class:`~nbml.LiveMonitor` publish when a run is registered), on the announcing thread, so
  the monitor or the text line appears in the cell that started the run;
- IPython formatters that draw an :class:`~nbml.Evaluation` (a confusion-matrix widget, static
  HTML), an :class:`~nbml.training.lr_range.LRFinding` (the finder's chart widget, static
  SVG) and an :class:`~nbml.api.inspect.Inspection` (the inspector widget, the static table
  with SVG sparklines), registered on the running IPython shell (now, or when ``%load_ext
  nbml`` runs).
"""

from __future__ import annotations

import threading
from typing import Any

from ..core.registry import REGISTRY, Event

_lock = threading.Lock()
_installed = False
_formatted: set[int] = set()  # the shells whose formatters are registered


def install(shell: Any = None) -> None:
    """Subscribe the views to the registry (once) and register the formatters on ``shell``
    (default: the running IPython shell, if any)."""
    global _installed
    with _lock:
        if not _installed:
            REGISTRY.subscribe(_on_show, shows=True)
            _installed = True
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:  # no IPython: plain Python shows the text line only
            return
        shell = get_ipython()
    if shell is not None and id(shell) not in _formatted:
        _register_formatters(shell)
        _formatted.add(id(shell))


def _on_show(event: Event) -> None:
    if event.kind != "show":
        return
    from .showing import show_run

    data = event.data
    show_run(data["record"], event.run, data["display"], foreground=data["foreground"])


def _register_formatters(shell: Any) -> None:
    formatter = getattr(shell, "display_formatter", None)
    if formatter is None:
        return
    module, name = "nbml.ml.evaluation", "Evaluation"
    formatter.mimebundle_formatter.for_type_by_name(module, name, _bundle)
    formatter.formatters["text/html"].for_type_by_name(module, name, _html)
    module, name = "nbml.training.lr_range", "LRFinding"
    formatter.mimebundle_formatter.for_type_by_name(module, name, _finding_bundle)
    formatter.formatters["text/html"].for_type_by_name(module, name, _finding_html)
    module, name = "nbml.api.inspect", "Inspection"
    # the widget (its static HTML inside); the text/html formatter keeps the static table for
    # front ends without widgets and for exports
    formatter.mimebundle_formatter.for_type_by_name(module, name, _inspection_bundle)
    formatter.formatters["text/html"].for_type_by_name(module, name, _inspection_html)
    formatter.formatters["text/plain"].for_type_by_name(module, name, _inspection_text)
    module, name = "nbml.training.sweeps", "Sweep"
    # the bundle holds the static HTML: a text/html formatter would add it to the one-line
    # result of a cell that already shows the sweep
    formatter.mimebundle_formatter.for_type_by_name(module, name, _sweep_bundle)


def _bundle(ev: Any) -> dict | None:  # (imported when first used: %load_ext stays cheap)
    from .widgets.confusion import bundle

    return bundle(ev)


def _html(ev: Any) -> str:
    from .evaluations import evaluation_html

    return evaluation_html(ev)


def _finding_bundle(finding: Any) -> dict | None:
    from .widgets.lr_find import bundle

    return bundle(finding)


def _finding_html(finding: Any) -> str:
    from .lr_find import finding_html

    return finding_html(finding)


def _sweep_bundle(sweep: Any) -> dict | None:
    from .widgets.sweep import bundle

    return bundle(sweep)


def _inspection_bundle(ins: Any) -> dict | None:
    from .widgets.inspector import bundle

    return bundle(ins)


def _inspection_html(ins: Any) -> str | None:
    if getattr(ins, "_shown_live", False):  # a live widget shows it, with its own static HTML
        return None
    from .inspection import inspection_html

    return inspection_html(ins)


def _inspection_text(ins: Any, printer: Any, cycle: bool) -> None:
    from .inspection import inspection_text

    printer.text(repr(ins) if getattr(ins, "_shown_live", False) else inspection_text(ins))
