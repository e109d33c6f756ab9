"""Values bound for the frontend as strict JSON: a number that is not finite becomes ``None``.

jupyter_client serialises every message with ``allow_nan=False``; a NaN or an infinity makes it
print a ``UserWarning`` into the notebook and send a "cleaned" message in which the value is the
string ``"nan"``. Everything nbml sends to a browser (the sidebar's comm, the widgets' traits and
messages) goes through :func:`json_safe` first, so a non-finite value travels as ``null`` and the
views render ``null`` as "nan".
"""

from __future__ import annotations

import math
from typing import Any


def finite_or_none(value: Any) -> float | int | None:
    """``value`` as a plain number, or ``None`` when it is not a finite number."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def json_safe(obj: Any) -> Any:
    """A copy of ``obj`` that ``json.dumps(..., allow_nan=False)`` accepts.

    Floats that are not finite become ``None``; NumPy scalars and arrays become plain Python
    numbers and lists; tuples become lists; dict keys become strings. Containers are always
    copied, so the result never shares state with ``obj``.
    """
    if obj is None or isinstance(obj, (str, bool, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    tolist = getattr(obj, "tolist", None)  # NumPy (and other array) scalars and arrays
    if callable(tolist):
        return json_safe(tolist())
    return obj
