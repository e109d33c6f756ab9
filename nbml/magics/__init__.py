"""IPython magics: parse the line, resolve names in the notebook, call :mod:`nbml.api`.

No behaviour lives only here. This module imports neither Keras nor the API at import time,
so ``%load_ext nbml`` stays cheap.
"""

from __future__ import annotations

import ast
import contextlib
import re
from collections.abc import Iterator
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Float, Int, Unicode, Union, observe
from traitlets.config import Configurable

from ..compat import ipython as ipython_compat
from ..core.errors import NbmlError, did_you_mean

_HELP = re.compile(r"(^|\s)(-h|--help)(\s|$)")


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Show nbml's user-mistake errors as IPython's one-line ``UsageError``."""
    try:
        yield
    except NbmlError as e:
        raise UsageError(str(e)) from None


def _data_options(fn: Any) -> Any:
    for arg in reversed(
        [
            argument(
                "--data", metavar="SPEC", help="variable, sklearn:NAME, keras:NAME, .csv/.npz"
            ),
            argument("--target", metavar="COL", help="label column of a DataFrame or CSV"),
        ]
    ):
        fn = arg(fn)
    return fn


@magics_class
class NbmlMagics(Magics, Configurable):
    """nbml's magics; settings are traitlets (``%config NbmlMagics.default_epochs = 5``)."""

    default_epochs = Int(10, help="Epochs when --epochs is not given.").tag(config=True)
    default_batch_size = Int(32, help="Batch size when --batch-size is not given.").tag(config=True)
    update_interval = Float(0.1, help="Seconds between two live display updates.").tag(config=True)
    store_path = Unicode(
        ".nbml", help="Folder for runs and saved models ('' keeps runs in memory only)."
    ).tag(config=True)
    widgets = Bool(True, help="Live widgets (False: text output).").tag(config=True)
    inspect = Union(
        [Int(), Unicode()],
        default_value=1,
        help="The inspector records every N epochs of %%train (1), or 'off'.",
    ).tag(config=True)

    def __init__(self, shell: Any) -> None:
        Configurable.__init__(self, config=shell.config)
        Magics.__init__(self, shell=shell)

    @observe("store_path")
    def _store_path_changed(self, change: dict[str, Any]) -> None:
        attach_store(change["new"])

    def _help(self, fn: Any, line: str) -> bool:
        if _HELP.search(line):
            print(fn.__doc__)
            return True
        return False

    # ------------------------------------------------------------------ train

    @line_cell_magic
    def train(self, line: str, cell: str | None = None) -> Any:
        """Train a Keras model. The cell body builds it: its last expression, else `model`.

        %%train NAME --data SPEC [options] trains the model the cell builds and binds it to NAME.
        %train NAME [options] trains the model NAME again (same data unless --data is given).
        `%train --help` lists the options (nbml.core.options.TrainOptions).
        """
        parser = train_parser()
        if _HELP.search(line):
            print(parser.format_help())
            return None
        args = parser.parse_argstring(line)
        if cell is not None and args.from_run:
            raise UsageError(
                f"--from-run continues a stored run's saved model; use the line form without a "
                f"cell body: %train {args.name} --from-run {args.from_run}"
            )
        # the body runs inside nbml.train, after --seed has seeded what it draws
        model = (lambda: self._model_from_cell(cell)) if cell is not None else None
        from .. import api, store

        given = {k: v for k, v in vars(args).items() if v is not None and v is not False}
        given.pop("name")
        no_widget = given.pop("no_widget", False)
        given.setdefault("epochs", self.default_epochs)
        given.setdefault("batch_size", self.default_batch_size)
        given.setdefault("inspect", self.inspect)
        # a %%train cell ends with the training: its model is saved while the cell returns
        # (the next cell waits for it); a line magic's caller may use the model at once
        later = cell is not None and not args.background
        with user_errors(), store.deferred_saves() if later else contextlib.nullcontext():
            run = api.train(
                args.name,
                model,
                display="text" if no_widget or not self.widgets else "auto",
                update_interval=self.update_interval,
                namespace=self.shell.user_ns,
                cell=self._cell_number(),
                **given,
            )
        return None if cell is not None else run

    def _cell_number(self) -> int | None:
        """The execution count of the cell running now (IPython 9 bumps the counter first)."""
        return ipython_compat.cell_number(self.shell)

    def _model_from_cell(self, cell: str, magic: str = "%%train") -> Any:
        """Run the cell body in the notebook; return its last expression's value (or `model`);
        ``magic`` names the cell in the error when there is none."""
        code = self.shell.transform_cell(cell)
        tree = ast.parse(code)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        filename = self.shell.compile.cache(code, self.shell.execution_count)
        ns = self.shell.user_ns
        stale = ns.get("model")
        exec(compile(tree, filename, "exec"), ns)
        value = eval(compile(last, filename, "eval"), ns) if last is not None else None
        import keras

        if isinstance(value, keras.Model):
            return value
        # `model` only when this body assigned it: never a stale one from an earlier cell
        fresh = ns.get("model") is not stale or _assigns_model(tree)
        if isinstance(ns.get("model"), keras.Model) and fresh:
            return ns["model"]
        what = (
            f"its last expression is a {type(value).__name__}"
            if last
            else "it has no expression at the end"
        )
        earlier = " (the `model` from an earlier cell is not taken)" if stale is not None else ""
        raise UsageError(
            f"The {magic} cell yields no Keras model: {what} and it does not assign the variable "
            f"`model`{earlier}. End the cell with the model (e.g. a last line `model`) or assign "
            "it to `model` in this cell."
        )

    # --------------------------------------------------------------- evaluate

    @magic_arguments()
    @argument("name", help="a model trained in this kernel")
    @_data_options
    @argument("--average", default="macro", help="macro (default), weighted or micro")
    @argument("--wait", action="store_true", help="if NAME is training, wait for it to end first")
    @line_magic
    def evaluate(self, line: str) -> Any:
        """Evaluate a model on its held-out test set (or --data) and show the report."""
        if self._help(self.evaluate, line):
            return None
        args = parse_argstring(self.evaluate, line)
        from .. import api

        with user_errors():
            return api.evaluate(
                args.name,
                args.data,
                average=args.average,
                target=args.target,
                namespace=self.shell.user_ns,
                wait=args.wait,
            )

    @magic_arguments()
    @argument("name", help="a model trained in this kernel")
    @argument("expr", nargs="+", help="a Python expression for the inputs")
    @argument("--proba", action="store_true", help="class probabilities instead of labels")
    @argument("--wait", action="store_true", help="if NAME is training, wait for it to end first")
    @line_magic
    def predict(self, line: str) -> Any:
        """Predict with a model: class labels for classifiers, values for regressors."""
        if self._help(self.predict, line):
            return None
        flags = {f: bool(re.search(rf"(^|\s)--{f}(\s|$)", line)) for f in ("proba", "wait")}
        rest = re.sub(r"(^|\s)--(proba|wait)(?=\s|$)", " ", line).strip()
        if not rest or len(rest.split(None, 1)) < 2:
            raise UsageError("Usage: %predict NAME EXPR [--proba], e.g. %predict mlp x_test[:5]")
        name, expr = rest.split(None, 1)
        try:
            x = self.shell.ev(expr)
        except NameError as e:
            missing = str(e).split("'")[1] if "'" in str(e) else expr
            names = [k for k in self.shell.user_ns if not k.startswith("_")]
            raise UsageError(
                f"No variable named '{missing}' in the notebook.{did_you_mean(missing, names)}"
            ) from None
        from .. import api

        with user_errors():
            return api.predict(name, x, proba=flags["proba"], wait=flags["wait"])

    # ----------------------------------------------------------- other magics

    @magic_arguments()
    @line_magic
    def models(self, line: str = "") -> Any:
        """Table of this kernel's models: status, epochs, parameters, last metrics, time."""
        if self._help(self.models, line):
            return None
        parse_argstring(self.models, line)  # no options: anything else is a UsageError
        from ..views import tables

        return tables.model_table()

    @magic_arguments()
    @line_magic
    def devices(self, line: str = "") -> Any:
        """The devices the Keras backend sees, and the host's CPUs and memory."""
        if self._help(self.devices, line):
            return None
        parse_argstring(self.devices, line)
        from ..views import tables

        return tables.device_table()

    @magic_arguments()
    @argument("name", help="a model that may be training")
    @line_magic
    def stop(self, line: str) -> None:
        """Stop a background training of NAME at the next batch boundary."""
        if self._help(self.stop, line):
            return
        args = parse_argstring(self.stop, line)
        from .. import api

        with user_errors():
            print(api.stop(args.name))

    @magic_arguments()
    @argument("name", help="a model trained in this kernel")
    @argument("path", nargs="?", help="where to (default: under NbmlMagics.store_path/saved)")
    @argument(
        "--format",
        default="keras",
        help="keras (a .keras file, default), saved_model (for TF Serving) or onnx",
    )
    @argument("--wait", action="store_true", help="if NAME is training, wait for it to end first")
    @line_magic
    def save(self, line: str) -> None:
        """Save a model as a .keras file, or export it as a SavedModel or ONNX file."""
        if self._help(self.save, line):
            return
        args = parse_argstring(self.save, line)
        from .. import api

        with user_errors():
            path = api.save(
                args.name,
                args.path,
                store_path=self.store_path or ".nbml",
                format=args.format,
                wait=args.wait,
            )
        print(f"Saved {args.name} to {path}")

    @magic_arguments()
    @argument("name", nargs="?", help="only this model's runs")
    @argument("--all", action="store_true", help="every run, not only the last 50")
    @argument(
        "--compare",
        nargs="?",
        const="",
        metavar="ID,ID",
        help="overlay the curves of these runs (default: the listed ones, up to 10)",
    )
    @line_magic
    def runs(self, line: str) -> Any:
        """Runs from the store and this kernel side by side: hyperparameters, best and final
        metrics, duration; --compare overlays their curves."""
        if self._help(self.runs, line):
            return None
        args = parse_argstring(self.runs, line)
        from ..views import tables

        compare = None
        if args.compare is not None:
            compare = [i.strip() for i in args.compare.split(",") if i.strip()]
        with user_errors():
            return tables.run_table(args.name, limit=None if args.all else 50, compare=compare)


def _assigns_model(tree: ast.AST) -> bool:
    """Whether a cell body binds the name `model` at its top level (not inside a def/class)."""
    todo = list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Name) and node.id == "model" and isinstance(node.ctx, ast.Store):
            return True
        todo.extend(ast.iter_child_nodes(node))
    return False


def train_parser() -> Any:
    """``%train``'s argument parser, made from :class:`nbml.core.options.TrainOptions`."""
    from ..core.options import parser

    return parser("%train", NbmlMagics.train.__doc__.split("\n")[0])


def attach_store(path: str) -> None:
    """Keep runs in the store at ``path`` (made absolute now); ``''`` keeps them in memory."""
    from .. import store

    if path:
        store.open(path)
    else:
        store.close()
