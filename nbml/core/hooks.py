"""The first use of nbml's API in a process, which the package root answers by installing the
views (:func:`nbml.views.install`).

Importing :mod:`nbml` installs nothing: the Jupyter server imports the package to find its
extension. The root installs the views on ``%load_ext nbml`` and on its lazy names
(``nbml.train``, ``nbml.LiveMonitor``, ...), and registers the installer here for the entry points
a user reaches around the root: importing :mod:`nbml.api` (``from nbml.api import train``) and a
``LiveMonitor`` imported from its own module call :func:`first_use`.
"""

from __future__ import annotations

from collections.abc import Callable

_installer: Callable[[], None] | None = None


def on_first_use(installer: Callable[[], None]) -> None:
    """Have :func:`first_use` call ``installer`` (the package root's, set when it is imported)."""
    global _installer
    _installer = installer


def first_use() -> None:
    """Install the views if they are not yet installed (cheap once they are)."""
    if _installer is not None:
        _installer()
