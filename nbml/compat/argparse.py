"""What nbml borrows from :mod:`argparse` beyond its documented API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def actions(parser: Any) -> Iterator[Any]:
    """The parser's actions (``ArgumentParser._actions``: argparse documents no way to list
    or change the arguments it was given). A parser without them yields from its action
    groups' ``_group_actions``, the other place argparse keeps them, else fails naming both."""
    found = getattr(parser, "_actions", None)
    if found is None:
        groups = getattr(parser, "_action_groups", None)
        if groups is None:
            raise AttributeError("argparse moved ArgumentParser._actions and _action_groups")
        found = [a for g in groups for a in g._group_actions]
    yield from found
