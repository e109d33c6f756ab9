"""How an :class:`~nbml.training.lr_range.LRFinding` shows itself without JavaScript: a static
SVG chart (loss against learning rate on a log axis, the suggestions marked) that reads the same
everywhere, exported HTML included. Where widgets work it is the fallback inside the chart
widget's bundle (:mod:`nbml.views.widgets.lr_find`); :func:`nbml.views.install` registers both
as IPython formatters.
"""

from __future__ import annotations

import html
import math
import uuid
from collections.abc import Sequence
from typing import Any

#: A colour per suggestion (the same in the widget).
MARKER_COLORS = {"valley": "#d62728", "minimum": "#2ca02c", "steep": "#9467bd"}
#: Points left out at the end when choosing the top of the loss axis (the loss shooting up).
TAIL = 5


def loss_range(losses: Sequence[float]) -> tuple[float, float] | None:
    """The loss axis's range: every finite value but the last few (a diverging loss shoots up
    by orders of magnitude; above the range it is cut off), with a margin."""
    finite = [v for v in losses if v is not None and math.isfinite(v)]
    if not finite:
        return None
    head = [v for v in losses[: max(len(losses) - TAIL, 1)] if v is not None and math.isfinite(v)]
    lo, hi = min(finite), max(head or finite)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def finding_html(finding: Any) -> str:
    """The static rendering: a title, the chart, the suggestions and what happened."""
    e = html.escape
    found = " · ".join(
        f"<span style='color:{MARKER_COLORS[k]}'>{e(k)} "
        f"{'none' if v is None else f'{v:.3g}'}</span>"
        for k, v in finding.suggestions.items()
    )
    best = (
        f"suggestion <b>{finding.suggestion:.3g}</b>"
        if finding.suggestion is not None
        else "<b>no suggestion</b>"
    )
    head = e(finding.name)
    message = f"<div style='color:#d62728'>{e(finding.message)}</div>" if finding.message else ""
    return (
        f"<div class='nbml-lr-find-static' style='font:12px sans-serif'>"
        f"<div style='font-weight:600;margin:4px 0'>{head}: learning-rate finder, "
        f"{len(finding.lrs)} batches &middot; {best}</div>"
        f"{lr_svg(finding.lrs, finding.losses, finding.markers)}"
        f"<div>{found}</div>{message}</div>"
    )


def _decades(lo: float, hi: float) -> list[int]:
    return list(range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1))


def lr_svg(
    lrs: Sequence[float],
    losses: Sequence[float],
    markers: Sequence[dict[str, Any]],
    width: int = 460,
    height: int = 260,
) -> str:
    """Loss against learning rate as inline SVG: a log x axis (a tick per decade), the curve
    (cut off above :func:`loss_range`), a circle per suggestion."""
    span = loss_range(losses)
    points = [(x, y) for x, y in zip(lrs, losses, strict=False) if math.isfinite(y) and x > 0]
    if span is None or not points:
        return "<div class='nbml-lr-svg'>(no finite loss to draw)</div>"
    left, right, top, bottom = 48, 10, 10, 30
    decades = _decades(min(x for x, _ in points), max(x for x, _ in points))
    d0, d1 = decades[0], max(decades[-1], decades[0] + 1)
    y0, y1 = span

    def sx(v: float) -> float:
        return left + (math.log10(v) - d0) / (d1 - d0) * (width - left - right)

    def sy(v: float) -> float:
        return top + (y1 - v) / (y1 - y0) * (height - top - bottom)

    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    ticks = "".join(
        f"<line x1='{sx(10.0**d):.1f}' x2='{sx(10.0**d):.1f}' y1='{top}' "
        f"y2='{height - bottom}' stroke='#eee'/><text x='{sx(10.0**d):.1f}' "
        f"y='{height - bottom + 12}' text-anchor='middle'>1e{d}</text>"
        for d in range(d0, d1 + 1)
    )
    dots = "".join(
        f"<circle class='nbml-lr-marker' data-name='{html.escape(m['name'])}' "
        f"cx='{sx(m['x']):.1f}' cy='{sy(min(max(m['y'], y0), y1)):.1f}' r='5' "
        f"fill='{MARKER_COLORS.get(m['name'], '#000')}'><title>{html.escape(m['name'])}: "
        f"{m['value']:.3g}</title></circle>"
        for m in markers
        if m.get("y") is not None
    )
    w, h = width - left - right, height - top - bottom
    clip = f"nbml-lr-clip-{uuid.uuid4().hex[:8]}"  # unique in the page
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"style='font:10px sans-serif' class='nbml-lr-svg'>"
        f"<defs><clipPath id='{clip}'><rect x='{left}' y='{top}' width='{w}' "
        f"height='{h}'/></clipPath></defs>{ticks}"
        f"<rect x='{left}' y='{top}' width='{w}' height='{h}' fill='none' stroke='#ccc'/>"
        f"<polyline points='{path}' fill='none' stroke='#1f77b4' stroke-width='1.5' "
        f"clip-path='url(#{clip})'/>{dots}"
        f"<text x='{left - 4}' y='{top + 8}' text-anchor='end'>{y1:.3g}</text>"
        f"<text x='{left - 4}' y='{height - bottom}' text-anchor='end'>{y0:.3g}</text>"
        f"<text x='{left - 36}' y='{top + h / 2:.0f}' transform='rotate(-90 {left - 36} "
        f"{top + h / 2:.0f})' text-anchor='middle'>loss (smoothed)</text>"
        f"<text x='{left + w / 2:.0f}' y='{height - 4}' text-anchor='middle'>learning rate "
        f"(log scale)</text></svg>"
    )
