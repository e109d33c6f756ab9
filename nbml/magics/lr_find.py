"""`%%lr_find` (SPEC §11). Placeholder while it is being built: the magic says so."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class


@magics_class
class LRFindMagics(Magics):
    """`%%lr_find`; ``main`` is the :class:`~nbml.magics.NbmlMagics` (settings, cell helpers)."""

    def __init__(self, shell: Any, main: Any) -> None:
        super().__init__(shell=shell)
        self.main = main

    @line_cell_magic
    def lr_find(self, line: str, cell: str | None = None) -> Any:
        """Not built yet."""
        raise UsageError("%lr_find is not built yet")
