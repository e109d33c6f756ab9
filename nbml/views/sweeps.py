"""How a :class:`~nbml.training.sweeps.Sweep` reads without JavaScript: its summary, the trials
table, the objective by trial (with the best so far) and against each hyperparameter, as plain
HTML and inline SVG, so a saved or exported notebook still shows the sweep.
:func:`nbml.views.install` registers it (and the live widget) as IPython formatters.
"""

from __future__ import annotations

import math
from typing import Any

from .text import STATUS_COLORS, e, fmt, table_html

#: Colours of the trial states, in the charts and the table.
STATE_COLORS = {
    "running": "#1f77b4",
    "complete": "#2ca02c",
    "pruned": "#ff7f0e",
    "failed": "#d62728",
    "waiting": "#999999",
}
W, H, PAD = 300, 190, 36


def param_names(sw: Any) -> list[str]:
    """The hyperparameters sampled so far, in the order they first appeared."""
    out: list[str] = []
    for t in sw.rows:
        out += [k for k in t.params if k not in out]
    return out


def table(sw: Any) -> tuple[list[str], list[list[Any]]]:
    """The trials table: number, state, each parameter, the objective, the run and its epochs."""
    names = param_names(sw)
    workers = any(t.worker for t in sw.rows)  # a sweep on a Dask cluster: which worker
    headers = ["trial", "state", *names, sw.objective, "epochs", "run"] + ["worker"] * workers
    rows = [
        [t.number, t.state + (f" ({t.reason})" if t.reason else ""),
         *[t.params.get(k, "") for k in names], "" if t.value is None else t.value,
         len(t.values), t.run_id or ""] + [t.worker or ""] * workers
        for t in sw.rows
    ]  # fmt: skip
    return headers, rows


def best_so_far(sw: Any) -> list[tuple[int, float]]:
    """(trial number, best complete objective up to it), for the line over the trials."""
    better = min if sw.direction == "minimize" else max
    out, best = [], None
    for t in sw.rows:
        if t.state == "complete" and _finite(t.value):
            best = t.value if best is None else better(best, t.value)
        if best is not None:
            out.append((t.number, best))
    return out


def sweep_html(sw: Any) -> str:
    """The static rendering: summary, message, charts and the trials table."""
    color = STATUS_COLORS.get(sw.status, "#777")
    head = f"{sw.name}: {sw.summary()} ({sw.status})"
    msg = f"<div style='color:{color}'>{e(sw.message)}</div>" if sw.message else ""
    charts = [by_trial_svg(sw)] + [by_param_svg(sw, k) for k in param_names(sw)]
    headers, rows = table(sw)
    return (
        "<div class='nbml-sweep-static' style='font:12px sans-serif'>"
        f"<div style='border-left:3px solid {color};padding-left:6px'>{e(head)}</div>{msg}"
        f"<div style='display:flex;flex-wrap:wrap;gap:8px'>{''.join(c for c in charts if c)}</div>"
        f"{table_html(headers, rows)}</div>"
    )


def sweep_info(name: str, run: Any) -> dict[str, Any] | None:
    """What the sidebar shows of the sweep whose trial ``run`` (model ``name``'s latest run) is:
    its study, status and trials by state, and the best so far; None for a run of no sweep."""
    import sys

    module = sys.modules.get("nbml.training.sweeps")
    study = (getattr(run, "params", None) or {}).get("sweep")
    if module is None or study is None:
        return None
    found = [s for s in module.SWEEPS if s.name == name and s.study_name == study]
    if not found:
        return None
    sw = found[-1]
    c, best = sw.counts(), sw.best_row()
    return {
        "study": sw.study_name, "status": sw.status, "total": sw.total,
        "done": sum(c.get(k, 0) for k in ("complete", "pruned", "failed")),
        "running": c.get("running", 0), "complete": c.get("complete", 0),
        "pruned": c.get("pruned", 0), "failed": c.get("failed", 0), "objective": sw.objective,
        "best": None if best is None else best.value,
        "best_trial": None if best is None else best.number,
    }  # fmt: skip


def sweep_text(sw: Any) -> str:
    return f"{sw.name}: {sw.summary()} ({sw.status})" + (f"\n{sw.message}" if sw.message else "")


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _frame(title: str, xlabel: str, ylo: float, yhi: float) -> str:
    return (
        f"<text x='{PAD}' y='12' font-weight='bold'>{e(title)}</text>"
        f"<rect x='{PAD}' y='18' width='{W - PAD - 8}' height='{H - 18 - 24}' fill='none' "
        f"stroke='#ccc'/><text x='{PAD - 3}' y='26' text-anchor='end'>{fmt(yhi)}</text>"
        f"<text x='{PAD - 3}' y='{H - 24}' text-anchor='end'>{fmt(ylo)}</text>"
        f"<text x='{(W + PAD) / 2}' y='{H - 6}' text-anchor='middle'>{e(xlabel)}</text>"
    )


def _scales(xs: list[float], ys: list[float], log_x: bool = False) -> tuple[Any, Any]:
    fx = [math.log10(x) for x in xs] if log_x else xs
    x0, x1 = min(fx), max(fx)
    y0, y1 = min(ys), max(ys)
    x0, x1 = (x0 - 0.5, x1 + 0.5) if x0 == x1 else (x0, x1)
    y0, y1 = (y0 - 0.5, y1 + 0.5) if y0 == y1 else (y0, y1)

    def sx(v: float) -> float:
        v = math.log10(v) if log_x else v
        return PAD + 6 + (v - x0) / (x1 - x0) * (W - PAD - 20)

    def sy(v: float) -> float:
        return 24 + (y1 - v) / (y1 - y0) * (H - 24 - 30)

    return sx, sy


def _svg(body: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{W}' height='{H}' "
        f"style='font:10px sans-serif' class='nbml-sweep-chart'>{body}</svg>"
    )


def by_trial_svg(sw: Any) -> str:
    """The objective of each trial (coloured by state) and the best so far."""
    pts = [(t.number, t.value, t.state) for t in sw.rows if _finite(t.value)]
    if not pts:
        return ""
    sx, sy = _scales([p[0] for p in pts], [p[1] for p in pts])
    dots = "".join(
        f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='3' fill='{STATE_COLORS.get(s, '#777')}'>"
        f"<title>trial {x}: {fmt(y)} ({s})</title></circle>"
        for x, y, s in pts
    )
    best = best_so_far(sw)
    line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in best)
    path = f"<polyline points='{line}' fill='none' stroke='#2ca02c' stroke-width='1.5'/>"
    ys = [p[1] for p in pts]
    frame = _frame(f"{sw.objective} by trial (line: best so far)", "trial", min(ys), max(ys))
    return _svg(frame + (path if best else "") + dots)


def by_param_svg(sw: Any, name: str) -> str:
    """The objective of each trial against the hyperparameter ``name``."""
    pts = [(t.params[name], t.value, t.state) for t in sw.rows
           if name in t.params and _finite(t.value)]  # fmt: skip
    if not pts:
        return ""
    numeric = all(_finite(p[0]) for p in pts)
    labels: list[Any] = []
    if not numeric:
        labels = list(dict.fromkeys(str(p[0]) for p in pts))
        pts = [(labels.index(str(x)), y, s) for x, y, s in pts]
    xs, ys = [float(p[0]) for p in pts], [p[1] for p in pts]
    log_x = numeric and min(xs) > 0 and max(xs) / min(xs) > 50
    sx, sy = _scales(xs, ys, log_x)
    dots = "".join(
        f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='3' fill='{STATE_COLORS.get(s, '#777')}'/>"
        for x, y, s in zip(xs, ys, [p[2] for p in pts], strict=True)
    )
    ticks = "".join(
        f"<text x='{sx(i):.1f}' y='{H - 18}' text-anchor='middle'>{e(lab)}</text>"
        for i, lab in enumerate(labels)
    )
    if numeric:
        ticks = (
            f"<text x='{PAD + 6}' y='{H - 18}'>{fmt(min(xs))}</text>"
            f"<text x='{W - 8}' y='{H - 18}' text-anchor='end'>{fmt(max(xs))}</text>"
        )
    xlabel = name + (" (log scale)" if log_x else "")
    return _svg(_frame(f"{sw.objective} vs {name}", xlabel, min(ys), max(ys)) + ticks + dots)
