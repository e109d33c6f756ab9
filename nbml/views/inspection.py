"""How an :class:`~nbml.api.inspect.Inspection` reads as static HTML: the layer table with an
inline SVG sparkline per layer (weight norm; gradient norm on a log scale; dead fraction) and
the flagged layers marked with their reason. It needs no JavaScript, so a saved or exported
notebook shows it too. :func:`nbml.views.install` registers it as an IPython formatter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .text import CELL_STYLE, TABLE_STYLE, e

#: Sparkline size in pixels.
WIDTH, HEIGHT = 90, 22
#: The statistics drawn as sparklines, their titles and whether on a log scale.
SPARKS = (("weight_norm", "weight norm", False), ("grad_norm", "gradient norm (log)", True),
          ("dead_fraction", "dead fraction", False))  # fmt: skip


def sparkline(values: Sequence[float | None], *, log: bool = False, title: str = "") -> str:
    """An inline SVG polyline of ``values`` (None and non-finite values leave a gap and are
    marked: a red dot for NaN or inf); ``log`` draws log10 of the positive values."""
    pts = []
    for i, v in enumerate(values):
        if v is None or not math.isfinite(v) or (log and v <= 0):
            pts.append((i, None, v is not None and not math.isfinite(v)))
        else:
            pts.append((i, math.log10(v) if log else v, False))
    ys = [y for _, y, _ in pts if y is not None]
    lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    span = (hi - lo) or 1.0
    step = (WIDTH - 4) / max(len(pts) - 1, 1)

    def xy(i: int, y: float) -> str:
        return f"{2 + i * step:.1f},{HEIGHT - 3 - (y - lo) / span * (HEIGHT - 6):.1f}"

    lines, run = [], []
    for i, y, _ in pts:
        if y is None:
            lines.append(run)
            run = []
        else:
            run.append(xy(i, y))
    lines.append(run)
    body = "".join(
        f"<polyline points='{' '.join(r)}' fill='none' stroke='#1f77b4' stroke-width='1.5'/>"
        if len(r) > 1
        else (
            f"<circle cx='{r[0].split(',')[0]}' cy='{r[0].split(',')[1]}' r='1.5' fill='#1f77b4'/>"
            if r
            else ""
        )  # fmt: skip
        for r in lines
    )
    bad = "".join(
        f"<circle cx='{2 + i * step:.1f}' cy='{HEIGHT / 2:.1f}' r='2' fill='#d62728'/>"
        for i, _, nonfinite in pts
        if nonfinite
    )
    return (
        f"<svg class='nbml-spark' width='{WIDTH}' height='{HEIGHT}' role='img' "
        f"aria-label='{e(title)}'><title>{e(title)}</title>{body}{bad}</svg>"
    )


def _number(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def inspection_html(ins: Any) -> str:
    """The static rendering of an inspection."""
    series: dict[str, dict[str, list[Any]]] = {}
    for _, rows in ins.records:
        for r in rows:
            s = series.setdefault(r["layer"], {k: [] for k, _, _ in SPARKS})
            for key, _, _ in SPARKS:
                s[key].append(r.get(key))
    reasons: dict[str, list[str]] = {}
    for f in ins.flags:
        reasons.setdefault(f.layer, []).append(f"{f.kind} at epoch {f.epoch}: {f.reason}")
    head = ["layer", "class", "output shape", "parameters", "activation"]
    head += [title for _, title, _ in SPARKS] + ["flags"]
    cells = "".join(f"<th style='{CELL_STYLE}'>{e(h)}</th>" for h in head)
    body = "".join(_row(r, series.get(r["layer"], {}), reasons.get(r["layer"], []))
                   for r in ins.layer_rows)  # fmt: skip
    return (
        f"<div class='nbml-inspection'>{_title(ins)}"
        f"<table style='{TABLE_STYLE}'><thead><tr>{cells}</tr></thead><tbody>{body}</tbody>"
        f"</table>{_notes(ins)}</div>"
    )


def _row(r: dict[str, Any], s: dict[str, list[Any]], reasons: list[str]) -> str:
    params = f"{r['trainable']:,}" + (f" (+{r['non_trainable']:,} fixed)" if r["non_trainable"]
                                      else "")  # fmt: skip
    cells = [r["layer"], r["class"], r["output_shape"], params, r["activation"] or ""]
    out = "".join(f"<td style='{CELL_STYLE}'>{e(str(c))}</td>" for c in cells)
    for key, title, log in SPARKS:
        values = s.get(key, [])
        shown = any(v is not None for v in values)
        last = _number(values[-1]) if values else ""
        spark = sparkline(values, log=log, title=f"{r['layer']} {title}") if shown else ""
        out += f"<td style='{CELL_STYLE}'>{spark} {e(last)}</td>"
    flag = "<br>".join(e(x) for x in reasons)
    style = CELL_STYLE + (";color:#d62728" if reasons else "")
    mark = " style='background:#fdecea'" if reasons else ""
    return f"<tr{mark}>{out}<td style='{style}'>{flag}</td></tr>"


def _title(ins: Any) -> str:
    where = f"run {ins.run_id}" if ins.run_id else "not trained by nbml"
    epochs = [e_ for e_, _ in ins.records]
    span = f"; records at epochs {epochs[0]}-{epochs[-1]}" if epochs else ""
    flagged = len({f.layer for f in ins.flags})
    what = f"{flagged} layer{'s' if flagged != 1 else ''} flagged" if flagged else "no flags"
    return (
        f"<div style='font-weight:600;margin:4px 0'>{e(ins.name)} &middot; {e(where)} &middot; "
        f"{ins.total_params:,} parameters{e(span)} &middot; {e(what)}</div>"
    )


def _notes(ins: Any) -> str:
    if not ins.notes:
        return ""
    items = "".join(f"<li>{e(k)}: {e(v)}</li>" for k, v in sorted(ins.notes.items()))
    return f"<ul style='margin:4px 0;color:#666'>{items}</ul>"


def inspection_text(ins: Any) -> str:
    """The plain-text rendering: one line per layer and one per flag."""
    lines = [repr(ins)]
    latest = {r["layer"]: r for r in (ins.records[-1][1] if ins.records else [])}
    for r in ins.layer_rows:
        s = latest.get(r["layer"], {})
        nums = ", ".join(f"{k} {_number(s.get(k))}" for k, _, _ in SPARKS if s.get(k) is not None)
        lines.append(f"  {r['layer']} ({r['class']}, {r['output_shape']}, "
                     f"{r['trainable'] + r['non_trainable']:,} params){': ' + nums if nums else ''}")  # fmt: skip
    lines += [f"  ! {f.layer}: {f.kind} at epoch {f.epoch}: {f.reason}" for f in ins.flags]
    lines += [f"  ({k}: {v})" for k, v in sorted(ins.notes.items())]
    return "\n".join(lines)
