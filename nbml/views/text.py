"""Plain words and plain tables: numbers, durations, metrics in reading order, and tables as
text and as static HTML (no JavaScript: it reads the same in JupyterLab, nbconvert, GitHub and
VS Code). Every string that comes from the user is escaped."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

e = html.escape
TABLE_STYLE = (
    "border-collapse:collapse;font:12px/1.4 var(--jp-code-font-family,monospace);margin:4px 0"
)
CELL_STYLE = "padding:2px 8px;border:1px solid var(--jp-border-color2,#ddd);text-align:right"
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


def ordered(logs: dict[str, Any]) -> list[tuple[str, Any]]:
    """Metrics in reading order: loss, other metrics, then their val_ counterparts."""

    def key(k: str) -> tuple[int, int, str]:
        val = k.startswith("val_")
        base = k[4:] if val else k
        return (int(val), 0 if base == "loss" else 1, base)

    return sorted(logs.items(), key=lambda kv: key(kv[0]))


def table_html(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th style='{CELL_STYLE}'>{e(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td style='{CELL_STYLE}'>{e(fmt(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return (
        f"<table style='{TABLE_STYLE}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


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
