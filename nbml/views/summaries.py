"""A model's layers as rows and as text (the sidebar's Summary, the monitor's summary)."""

from __future__ import annotations

from typing import Any

from .text import table_text


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
