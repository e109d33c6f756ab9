"""Errors raised by nbml and helpers for messages that name the fix.

The Python API raises :class:`NbmlError` (a ``ValueError``) with the bad value in the
message; the magics turn it into IPython's own ``UsageError`` so the notebook shows one
line and no traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class NbmlError(ValueError):
    """A user mistake: a bad option, an unknown name, data that does not fit the model."""


def close_matches(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` candidates that look like ``word`` (case-insensitive)."""
    pool = {str(c).lower(): str(c) for c in candidates}
    hits = difflib.get_close_matches(str(word).lower(), list(pool), n=n, cutoff=0.6)
    return [pool[h] for h in hits]


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A sentence suggesting close matches for ``word``, or an empty string."""
    hits = close_matches(word, candidates)
    if not hits:
        return ""
    quoted = ", ".join(f"'{h}'" for h in hits)
    return f" Did you mean {quoted}?"
