"""Text and static-HTML views: the in-place progress line, tables, reports.

Everything here is plain HTML (no JavaScript) so it reads the same in JupyterLab, nbconvert,
GitHub and VS Code. Every string that comes from the user is escaped.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core import rules
from ..core.registry import REGISTRY, Event, Run

e = html.escape
_TABLE = "border-collapse:collapse;font:12px/1.4 var(--jp-code-font-family,monospace);margin:4px 0"
_CELL = "padding:2px 8px;border:1px solid var(--jp-border-color2,#ddd);text-align:right"
STATUS_COLORS = {
    "training": "#1f77b4",
    "running": "#1f77b4",
    "finished": "#2ca02c",
    "idle": "#2ca02c",
    "stopped": "#ff7f0e",
    "failed": "#d62728",
}


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"
    return str(v)


def seconds(s: float) -> str:
    s = max(0.0, float(s))
    if s < 60:
        return f"{s:.1f}s"
    m, s = divmod(int(s), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


def table_html(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th style='{_CELL}'>{e(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td style='{_CELL}'>{e(fmt(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table style='{_TABLE}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def table_text(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells)


class Table:
    """A table with text and HTML renderings (what ``%models`` and ``%devices`` return)."""

    def __init__(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], note: str = ""):
        self.headers, self.rows, self.note = list(headers), [list(r) for r in rows], note

    def __repr__(self) -> str:
        return table_text(self.headers, self.rows) + (f"\n{self.note}" if self.note else "")

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        note = f"<div style='font-size:12px'>{e(self.note)}</div>" if self.note else ""
        return table_html(self.headers, self.rows) + note


def metrics_html(metrics: dict[str, float], average: str | None = None) -> str:
    note = f"<div style='font-size:11px;opacity:.7'>{e(average)} averages</div>" if average else ""
    return table_html(list(metrics), [[round(v, 4) for v in metrics.values()]]) + note


def per_class_html(rows: Sequence[tuple[str, dict[str, Any]]]) -> str:
    return table_html(
        ["class", "precision", "recall", "f1", "support"],
        [
            [lab, round(r["precision"], 4), round(r["recall"], 4), round(r["f1-score"], 4)]
            + [int(r["support"])]
            for lab, r in rows
        ],
    )


def confusion_html(cm: np.ndarray, labels: Sequence[Any]) -> str:
    """The confusion matrix as an HTML table with heat-coloured cells (rows = true)."""
    top = max(int(cm.max()), 1) if cm.size else 1
    head = "".join(f"<th style='{_CELL}'>{e(str(lab))}</th>" for lab in labels)
    body = []
    for lab, row in zip(labels, cm, strict=True):
        cells = []
        for v in row:
            a = v / top
            color = "#fff" if a > 0.55 else "inherit"
            cells.append(
                f"<td style='{_CELL};background:rgba(31,119,180,{a:.3f});color:{color}'>{int(v)}</td>"
            )
        body.append(f"<tr><th style='{_CELL}'>{e(str(lab))}</th>{''.join(cells)}</tr>")
    return (
        "<div><div style='font-size:11px;opacity:.7'>confusion matrix: rows = true, "
        f"columns = predicted</div><table style='{_TABLE}'><thead><tr><th style='{_CELL}'>"
        f"true \\ pred</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def scatter_svg(
    xs: np.ndarray,
    ys: np.ndarray,
    *,
    xlabel: str = "true",
    ylabel: str = "predicted",
    reference: str = "diagonal",
    size: int = 260,
) -> str:
    """A scatter plot as inline SVG, with the diagonal (or the zero line) for reference."""
    t, p = np.ravel(xs).astype(float), np.ravel(ys).astype(float)
    if len(t) > 2000:
        pick = np.linspace(0, len(t) - 1, 2000).astype(int)
        t, p = t[pick], p[pick]
    if reference == "diagonal":
        xlo, xhi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
        ylo, yhi = xlo, xhi
    else:
        xlo, xhi = float(t.min()), float(t.max())
        m = float(max(abs(p.min()), abs(p.max()))) or 1.0
        ylo, yhi = -m, m
    xspan, yspan = (xhi - xlo) or 1.0, (yhi - ylo) or 1.0
    pad = 30

    def sx(v: np.ndarray) -> np.ndarray:
        return pad + (v - xlo) / xspan * (size - 2 * pad)

    def sy(v: np.ndarray) -> np.ndarray:
        return size - pad - (v - ylo) / yspan * (size - 2 * pad)

    dots = "".join(
        f"<circle cx='{x:.1f}' cy='{y:.1f}' r='2' fill='#1f77b4' fill-opacity='.6'/>"
        for x, y in zip(sx(t), sy(p), strict=True)
    )
    a, b = pad, size - pad
    if reference == "diagonal":
        ref = f"<line x1='{a}' y1='{b}' x2='{b}' y2='{a}' stroke='#d62728' stroke-dasharray='4 3'/>"
    else:
        zero = float(sy(np.array([0.0]))[0])
        ref = f"<line x1='{a}' y1='{zero:.1f}' x2='{b}' y2='{zero:.1f}' stroke='#d62728' stroke-dasharray='4 3'/>"
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{size}' height='{size}' "
        f"style='font:10px sans-serif'><rect x='{a}' y='{a}' width='{b - a}' height='{b - a}' "
        f"fill='none' stroke='#999'/>{ref}{dots}<text x='{size / 2}' y='{size - 8}' "
        f"text-anchor='middle'>{e(xlabel)} ({xlo:.3g} to {xhi:.3g})</text><text x='10' "
        f"y='{size / 2}' transform='rotate(-90 10 {size / 2})' text-anchor='middle'>"
        f"{e(ylabel)}</text></svg>"
    )


# ---------------------------------------------------------------- progress line


def ordered(logs: dict[str, Any]) -> list[tuple[str, Any]]:
    """Metrics in reading order: loss, other metrics, then their val_ counterparts."""

    def key(k: str) -> tuple[int, int, str]:
        val = k.startswith("val_")
        base = k[4:] if val else k
        return (int(val), 0 if base == "loss" else 1, base)

    return sorted(logs.items(), key=lambda kv: key(kv[0]))


def progress_text(run: Run, live: dict[str, Any] | None = None) -> str:
    live = live or {}
    parts = [run.name, run.status]
    if run.status == "running":
        frac = rules.progress(run, live.get("batch"), live.get("steps"))
        bar = "#" * int(frac * 20)
        parts.append(f"epoch {min(run.epoch + 1, run.epochs)}/{run.epochs} [{bar:<20}] {frac:.0%}")
    else:
        parts.append(f"{run.epoch}/{run.epochs} epochs in {seconds(run.duration)}")
    logs = live.get("logs") if run.status == "running" and live.get("logs") else run.metrics
    parts += [f"{k} {fmt(float(v))}" for k, v in ordered(logs or {})]
    if run.status == "running" and "samples_per_s" in live:
        parts.append(f"{live['samples_per_s']:,.0f} samples/s")
    if run.status == "running" and "eta" in live:
        parts.append(f"ETA {seconds(live['eta'])}")
    return " · ".join(parts)


def progress_html(run: Run, live: dict[str, Any] | None = None) -> str:
    live = live or {}
    frac = rules.progress(run, live.get("batch"), live.get("steps"))
    color = STATUS_COLORS.get(run.status, "#777")
    text = progress_text(run, live).split(" · ", 2)
    rest = e(text[2]) if len(text) > 2 else ""
    msg = f"<div style='color:{color};margin-top:2px'>{e(run.message)}</div>" if run.message else ""
    return (
        "<div class='nbml-progress' style='font:12px/1.5 var(--jp-code-font-family,monospace)'>"
        f"<b>{e(run.name)}</b> <span style='color:{color}'>{e(run.status)}</span> "
        f"<div style='display:inline-block;vertical-align:middle;width:160px;height:8px;"
        f"background:#eee;border-radius:4px;overflow:hidden;margin:0 6px'><div style='width:"
        f"{frac * 100:.1f}%;height:100%;background:{color}'></div></div>{rest}{msg}</div>"
    )


class ProgressView:
    """A compact progress line for one run that updates in place (one ``display_id``).

    In a terminal IPython it prints a single carriage-return line instead. Between epochs the
    line is redrawn at most every ``PERIOD`` seconds (each redraw re-sends the whole line).
    """

    PERIOD = 0.25

    def __init__(self, run: Run) -> None:
        self.run = run
        self.live: dict[str, Any] = {}
        self._drawn = 0.0
        self.handle = None
        self._terminal = not in_kernel()
        if self._terminal:
            self._print()
        else:
            from IPython.display import display

            self.handle = display(self._bundle(), raw=True, display_id=True)
        self._unsubscribe = REGISTRY.subscribe(self)

    def _bundle(self) -> dict[str, str]:
        text = progress_text(self.run, self.live)
        if self.run.message:
            text += f"\n{self.run.message}"
        return {"text/plain": text, "text/html": progress_html(self.run, self.live)}

    def _print(self) -> None:
        line = progress_text(self.run, self.live)
        end = "\n" if self.run.status != "running" else ""
        sys.stdout.write(f"\r{line:<120}{end}")
        if self.run.status != "running" and self.run.message:
            sys.stdout.write(self.run.message + "\n")
        sys.stdout.flush()

    def __call__(self, event: Event) -> None:
        if event.run is not self.run:
            return
        if event.kind == "batch":
            self.live = event.data
            if event.time - self._drawn < self.PERIOD:
                return
        elif event.kind in ("epoch", "end"):
            self.live = {}
        self._drawn = event.time
        if self._terminal:
            self._print()
        elif self.handle is not None:
            self.handle.update(self._bundle(), raw=True)
        if event.kind == "end":
            self._unsubscribe()


def in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def curves_svg(
    title: str,
    series: Sequence[tuple[str, Sequence[tuple[float, float]], str, float]],
    width: int = 300,
    height: int = 180,
) -> str:
    """A small line chart as inline SVG: ``series`` are (label, points, colour, opacity)."""
    pts = [p for _, ps, _, _ in series for p in ps if np.isfinite(p[1])]
    if not pts:
        return ""
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1 = min(0.0, min(xs)), max(xs) or 1.0
    y0, y1 = min(ys), max(ys)
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    left, right, top, bottom = 40, 8, 18, 22

    def sx(v: float) -> float:
        return left + (v - x0) / ((x1 - x0) or 1) * (width - left - right)

    def sy(v: float) -> float:
        return top + (y1 - v) / (y1 - y0) * (height - top - bottom)

    lines = []
    for label, ps, color, alpha in series:
        good = [p for p in ps if np.isfinite(p[1])]
        if not good:
            continue
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in good)
        lines.append(
            f"<polyline points='{path}' fill='none' stroke='{color}' stroke-opacity='{alpha}' "
            f"stroke-width='1.5'><title>{e(label)}</title></polyline>"
        )
    legend = " ".join(
        f"<tspan fill='{c}'>&#9644; {e(label)}</tspan>"
        for label, ps, c, a in series
        if ps and a == 1
    )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"style='font:10px sans-serif' class='nbml-curve'>"
        f"<text x='{left}' y='12' font-weight='bold'>{e(title)}</text>"
        f"<text x='{width - right}' y='12' text-anchor='end'>{legend}</text>"
        f"<rect x='{left}' y='{top}' width='{width - left - right}' height='{height - top - bottom}' "
        f"fill='none' stroke='#ccc'/>{''.join(lines)}"
        f"<text x='{left - 4}' y='{top + 8}' text-anchor='end'>{y1:.3g}</text>"
        f"<text x='{left - 4}' y='{height - bottom}' text-anchor='end'>{y0:.3g}</text>"
        f"<text x='{left}' y='{height - 6}'>{x0:g}</text>"
        f"<text x='{width - right}' y='{height - 6}' text-anchor='end'>epoch {x1:g}</text></svg>"
    )


def summary_rows(model: Any) -> list[tuple[str, str, str, int]]:
    """(name, layer class, output shape, parameters) for each layer of ``model``."""
    rows = []
    for layer in getattr(model, "layers", []):
        try:
            shape = str(tuple(layer.output.shape))
        except Exception:  # layers of a model that was never called symbolically
            shape = "?"
        try:
            params = int(layer.count_params())
        except Exception:  # unbuilt layer
            params = 0
        rows.append((layer.name, type(layer).__name__, shape, params))
    return rows


def summary_text(model: Any) -> str:
    """A plain-text model summary (Keras's own prints to the notebook through rich)."""
    rows = summary_rows(model)
    try:
        total = int(model.count_params())
    except Exception:  # unbuilt model
        total = sum(r[3] for r in rows)
    body = table_text(["layer", "type", "output shape", "params"], [list(r) for r in rows])
    return f"{getattr(model, 'name', 'model')}\n{body}\ntotal parameters: {total:,}"
