"""`%%sweep` (SPEC §11). Placeholder while it is being built: the magic says so."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class


@magics_class
class SweepMagics(Magics):
    """`%%sweep`; ``main`` is the :class:`~nbml.magics.NbmlMagics` (settings, cell helpers)."""

    def __init__(self, shell: Any, main: Any) -> None:
        super().__init__(shell=shell)
        self.main = main

    @line_cell_magic
    def sweep(self, line: str, cell: str | None = None) -> Any:
        """Not built yet."""
        raise UsageError("%sweep is not built yet")
