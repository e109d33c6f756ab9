"""``%%sweep`` (docs/reference.md#sweeps): parse the line (``%train``'s options, each searchable one
taking a range or a list), run the cell body once per trial with ``hp`` in the notebook, call
:func:`nbml.api.sweep.sweep`."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from . import _HELP, user_errors

#: The sweep's own options (the rest are training options or search spaces).
OWN = ("trials", "objective", "direction", "pruner", "storage", "study", "workers", "cluster")


def _extra(p: Any) -> None:
    p.add_argument("--trials", type=int, metavar="N", help="the study's total number of trials")
    p.add_argument("--objective", default="val_loss", help="metric judged each epoch (val_loss)")
    p.add_argument(
        "--direction", choices=("minimize", "maximize"), help="default: from the objective's name"
    )
    p.add_argument("--pruner", default="median", help="median (default), hyperband or none")
    p.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna RDB URL or a .log path (default SQLite at <store>/sweeps.db)",
    )
    p.add_argument("--study", metavar="NAME", help="create or join this study (default: NAME)")
    p.add_argument(
        "--workers",
        metavar="N",
        help="run the trials on a local Dask cluster of N worker processes (auto: one per core)",
    )
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run the trials on the Dask scheduler at ADDRESS (tcp://host:8786)",
    )


def sweep_parser() -> Any:
    """``%%sweep``'s argument parser: ``%train``'s (from TrainOptions), searchable options
    reading a value, a range or a list, and the sweep's own options."""
    import inspect

    from ..core.space import parser

    return parser("%sweep", inspect.cleandoc(SweepMagics.sweep.__doc__ or ""), _extra)


@magics_class
class SweepMagics(Magics):
    """`%%sweep`; ``main`` is the :class:`~nbml.magics.NbmlMagics` (settings, cell helpers)."""

    def __init__(self, shell: Any, main: Any) -> None:
        super().__init__(shell=shell)
        self.main = main

    @line_cell_magic
    def sweep(self, line: str, cell: str | None = None) -> Any:
        """Search hyperparameters with Optuna: every trial trains the cell's model as a run.

        %%sweep NAME --trials N --data SPEC [training options] [search space] [--objective
        METRIC] [--direction minimize|maximize] [--pruner median|hyperband|none] [--storage URL]
        [--study NAME] [--workers N|auto | --cluster ADDRESS] [--background]

        A search space is a training option as a range or a list: --lr 1e-4:1e-1:log,
        --epochs 5:30, --batch-size 32,64,128, --optimizer adam,sgd. The cell body runs once per
        trial and returns a fresh model; in it hp.int("units", 16, 256, log=True),
        hp.float("dropout", 0.0, 0.5) and hp.choice("act", ["relu", "gelu"]) sample the model's
        own hyperparameters. --workers N runs the trials on a local Dask cluster of N processes,
        --cluster ADDRESS on a running Dask scheduler. NAME ends bound to the best trial's
        model; the cell returns the Sweep (trials, best_trial, best_params, best_run, study).
        `%sweep --help` lists it all.
        """
        parser = sweep_parser()
        if _HELP.search(line):
            print(parser.format_help())
            return None
        args = parser.parse_argstring(line)
        if cell is None or not cell.strip():
            raise UsageError(
                f"%%sweep needs a cell body that builds a fresh model for each trial: "
                f"%%sweep {args.name} --trials 12 --data sklearn:digits --lr 1e-4:1e-1:log, "
                "then the body on the next lines (e.g. keras.Sequential([...]))."
            )
        if args.trials is None:
            raise UsageError(
                f"Say how many trials the study has: %%sweep {args.name} --trials 12 ..."
            )
        given = {k: v for k, v in vars(args).items() if v is not None and v is not False}
        name = given.pop("name")
        own = {k: given.pop(k) for k in OWN if k in given}
        no_widget = given.pop("no_widget", False)
        from ..api.sweep import sweep
        from ..core import space

        with user_errors():
            values = {k: space.parse(k, v) if isinstance(v, str) and k in space.searchable()
                      else v for k, v in given.items()}  # fmt: skip
            values.setdefault("epochs", self.main.default_epochs)
            values.setdefault("batch_size", self.main.default_batch_size)
            result = sweep(
                name,
                self._builder(cell),
                values.pop("data", None),
                display="text" if no_widget or not self.main.widgets else "auto",
                update_interval=self.main.update_interval,
                namespace=self.shell.user_ns,
                cell=self.main._cell_number(),
                **own,
                **values,
            )
        if result.done.is_set():
            self.shell.user_ns["hp"] = space.HP(fixed=result.best_params)
        return result

    def _builder(self, cell: str) -> Any:
        """The body as a function of ``hp``; its code travels to a sweep's Dask workers."""

        def build(hp: Any) -> Any:
            return self._build(cell, hp)

        build.nbml_code = self.shell.transform_cell(cell)  # type: ignore[attr-defined]
        return build

    def _build(self, cell: str, hp: Any) -> Any:
        """Run the body with ``hp`` in the notebook; the model it yields (as ``%%train``'s)."""
        self.shell.user_ns["hp"] = hp
        return self.main._model_from_cell(cell, "%%sweep")
