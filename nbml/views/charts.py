"""Static SVG charts: training curves and scatter plots, for saved notebooks and exports."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .text import e


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
