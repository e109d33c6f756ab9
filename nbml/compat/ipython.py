"""What nbml borrows from IPython beyond its documented API, each with its fallback."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def cell_number(shell: Any) -> int | None:
    """The execution count of the cell running now. ``shell.execution_count`` is bumped at
    a different moment by IPython 8 and 9; the parsed input history
    (``history_manager.input_hist_parsed``) has one entry per cell so far whatever the
    version. None for a shell without history."""
    history = getattr(getattr(shell, "history_manager", None), "input_hist_parsed", None)
    if history is None:
        count = getattr(shell, "execution_count", None)
        return count if isinstance(count, int) else None
    return len(history) - 1


def remove_magics(shell: Any, names: Iterable[str], classes: Iterable[str]) -> None:
    """Take line and cell magics ``names`` and the magics classes ``classes`` out of
    ``shell`` (IPython has ``register_magics`` but no way back: its ``magics_manager`` keeps
    them in the dicts ``magics["line"]``, ``magics["cell"]`` and ``registry``). AttributeError
    naming what moved when IPython keeps them elsewhere."""
    manager = shell.magics_manager
    tables = getattr(manager, "magics", None)
    registry = getattr(manager, "registry", None)
    if not isinstance(tables, dict) or not isinstance(registry, dict):
        raise AttributeError("IPython's magics_manager keeps no magics/registry dicts")
    for kind in ("line", "cell"):
        for name in names:
            tables.get(kind, {}).pop(name, None)
    for cls in classes:
        registry.pop(cls, None)


def restore_line_magics(shell: Any, magics: dict[str, Any]) -> None:
    """Put back line magics that nbml's had shadowed (``register_magic_function`` would wrap
    a bound method a second time)."""
    shell.magics_manager.magics["line"].update(magics)
