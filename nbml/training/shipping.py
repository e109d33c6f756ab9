"""What travels to a sweep's Dask workers (docs/sweeps-at-scale.md#a-cluster): the body that
builds each trial's model, the notebook names it uses, and the data.

- A ``%%sweep`` cell's body travels as its code (:class:`CellBody`) with the values of the
  notebook names it reads; a function given to ``nbml.sweep`` travels as itself. Both are
  pickled with cloudpickle, once per sweep, before any trial starts: a name whose value cannot
  be pickled (an open file, a lock, a database connection) is an error naming it.
- Data: a named dataset (``sklearn:``, ``keras:``, a ``.csv``/``.npz`` path made absolute) is a
  spec the worker loads; data in memory (a notebook variable, an array, a DataFrame) is sent
  to the workers once per sweep (Dask's ``scatter``), not once per trial.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import os
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import NbmlError
from ..core.files import first_line

#: Names of an IPython namespace that never travel (its history and output caches).
_SHELL_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "hp"}


@dataclass
class CellBody:
    """A ``%%sweep`` cell's body as it travels: its code (IPython's transforms applied) and the
    notebook names it reads, with their values."""

    code: str
    names: dict[str, Any] = field(default_factory=dict)
    #: The magic that ran it, for the error when it yields no model.
    magic: str = "%%sweep"

    def __call__(self, hp: Any) -> Any:
        ns = {**self.names, "hp": hp}
        return model_from_code(self.code, ns, self.magic)


def free_names(code: str) -> list[str]:
    """The names ``code`` reads (in order of first use), builtins and keywords left out."""
    out: list[str] = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in out:
            out.append(node.id)
    return [n for n in out if not keyword.iskeyword(n) and not hasattr(builtins, n)]


def cell_body(code: str, ns: dict[str, Any]) -> CellBody:
    """The body ``code`` with the values in ``ns`` of the names it reads."""
    used = [n for n in free_names(code) if n in ns and n not in _SHELL_NAMES]
    return CellBody(code, {n: ns[n] for n in used})


def model_from_code(code: str, ns: dict[str, Any], magic: str = "%%sweep") -> Any:
    """Run ``code`` in ``ns``; its last expression's value, or the ``model`` it assigns."""
    import keras

    tree = ast.parse(code)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, f"<{magic} cell>", "exec"), ns)
    value = eval(compile(last, f"<{magic} cell>", "eval"), ns) if last is not None else None
    if isinstance(value, keras.Model):
        return value
    if isinstance(ns.get("model"), keras.Model):
        return ns["model"]
    raise NbmlError(
        f"The {magic} cell yields no Keras model on the Dask worker. End the cell with the "
        "model (e.g. a last line `model`) or assign it to `model` in the cell."
    )


def pickled(build: Any) -> bytes:
    """``build`` pickled with cloudpickle; a value that cannot be is an error naming it."""
    import cloudpickle

    try:
        return cloudpickle.dumps(build)
    except Exception as exc:
        name, value = _culprit(build)
        what = f"`{name}` (a {type(value).__name__})" if name else "something it uses"
        raise NbmlError(
            f"The sweep's body uses {what}, which cannot travel to the Dask workers "
            f"({first_line(exc, 120)}). Make it inside the body, or run the sweep without "
            "--workers/--cluster."
        ) from None


def _culprit(build: Any) -> tuple[str | None, Any]:
    """The first name ``build`` uses whose value cannot be pickled."""
    import cloudpickle

    if isinstance(build, CellBody):
        values = dict(build.names)
    else:
        code = getattr(build, "__code__", None)
        glob = getattr(build, "__globals__", {})
        values = {n: glob[n] for n in (code.co_names if code else ()) if n in glob}
        cells = getattr(build, "__closure__", None) or ()
        free = code.co_freevars if code else ()
        for n, c in zip(free, cells, strict=False):
            try:
                values[n] = c.cell_contents
            except ValueError:  # an empty cell
                continue
    for name, value in values.items():
        try:
            cloudpickle.dumps(value)
        except Exception:
            return name, value
    return None, None


def data_for_workers(data: Any, ns: dict[str, Any]) -> tuple[Any, Any]:
    """(spec, value) of the sweep's data for the workers: a spec they load themselves, with
    value None; or data in memory (value, to scatter once), with its name as the spec (None
    for an object given directly)."""
    if not isinstance(data, str):
        return None, data
    s = data.strip()
    if s.startswith(("sklearn:", "keras:")):
        return s, None
    if s.lower().endswith((".csv", ".npz")):
        return os.path.abspath(os.path.expanduser(s)), None
    return s, ns[s]  # a notebook variable (checked to exist before the sweep starts)
