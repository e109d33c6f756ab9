"""``%inspect NAME``: a model's layers, their statistics over training and the flags
(docs/inspector.md), through :func:`nbml.api.inspect.inspect`."""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from . import user_errors


@magics_class
class InspectMagics(Magics):
    """`%inspect`; ``main`` is the :class:`~nbml.magics.NbmlMagics` (its ``inspect`` setting
    says how often ``%%train`` records)."""

    def __init__(self, shell: Any, main: Any) -> None:
        super().__init__(shell=shell)
        self.main = main

    @magic_arguments()
    @argument("name", help="a model of this kernel, a run id (%%runs), or a Keras model variable")
    @line_magic
    def inspect(self, line: str) -> Any:
        """Inspect a model: its layers (nested models by path, output shapes, parameters,
        activations) and, for a model %%train trained, each layer's weight norm, update ratio,
        gradient norm and activations over training, with flags for dead units, vanishing or
        exploding gradients and NaN. `ins = %inspect NAME` keeps the Inspection (`ins.stats`
        is a DataFrame). %%train records every epoch (--inspect N, --inspect off, or
        %config NbmlMagics.inspect = N)."""
        if self.main._help(self.inspect, line):
            return None
        args = parse_argstring(self.inspect, line)
        from ..api.inspect import inspect

        with user_errors():
            return inspect(args.name, namespace=self.shell.user_ns)
