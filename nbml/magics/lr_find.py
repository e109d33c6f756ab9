"""`%%lr_find` and `%lr_find` (docs/reference.md#the-learning-rate-finder): parse the line,
take the cell's model, call :func:`nbml.lr_find`, show the chart.

The line takes every `%%train` option (the parser is made from
:class:`nbml.core.options.TrainOptions`) plus the finder's own `--start`, `--end` and `--steps`;
options that do not apply to the finder are refused by the API, with the reason.
"""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class

from . import _HELP, user_errors


def _finder_options(p: Any) -> None:
    from ..training.lr_range import DEFAULT_END, DEFAULT_START, DEFAULT_STEPS

    p.add_argument(
        "--start", type=float, metavar="LR", help=f"first learning rate (default {DEFAULT_START:g})"
    )
    p.add_argument(
        "--end", type=float, metavar="LR", help=f"last learning rate (default {DEFAULT_END:g})"
    )
    p.add_argument(
        "--steps", type=int, metavar="N", help=f"batches to train (default {DEFAULT_STEPS})"
    )


def lr_find_parser() -> Any:
    """``%lr_find``'s argument parser: ``%train``'s options and the finder's own."""
    from ..core.options import parser

    first = LRFindMagics.lr_find.__doc__.split("\n")[0]
    return parser("%lr_find", first, extra=_finder_options)


@magics_class
class LRFindMagics(Magics):
    """`%%lr_find`; ``main`` is the :class:`~nbml.magics.NbmlMagics` (settings, cell helpers)."""

    def __init__(self, shell: Any, main: Any) -> None:
        super().__init__(shell=shell)
        self.main = main

    @line_cell_magic
    def lr_find(self, line: str, cell: str | None = None) -> Any:
        """Find a learning rate: train a few batches at growing rates, suggest one, undo them.

        %%lr_find NAME --data SPEC [options] [--start 1e-7] [--end 10] [--steps 100] finds a rate
        for the model the cell builds, shows loss against rate with the suggestions marked, and
        binds NAME to the untrained model (then: %train NAME --lr RATE).
        %lr_find NAME [options] does the same for a model nbml knows and returns the finding.
        `%lr_find --help` lists the options.
        """
        parser = lr_find_parser()
        if _HELP.search(line):
            print(parser.format_help())
            return None
        args = parser.parse_argstring(line)
        # the body runs inside nbml.lr_find, after --seed has seeded what it draws
        body = cell
        model = None if body is None else (lambda: self.main._model_from_cell(body, "%%lr_find"))
        from ..api.lr_find import lr_find

        given = {k: v for k, v in vars(args).items() if v is not None and v is not False}
        name = given.pop("name")
        static = given.pop("no_widget", False) or not self.main.widgets
        given.setdefault("batch_size", self.main.default_batch_size)
        with user_errors():
            finding = lr_find(
                name,
                model,
                namespace=self.shell.user_ns,
                cell=self.main._cell_number(),
                **given,
            )
        finding._static = static  # the chart without JavaScript (see nbml.views.lr_find)
        if cell is None:
            return finding
        from IPython.display import display

        display(finding)
        return None
