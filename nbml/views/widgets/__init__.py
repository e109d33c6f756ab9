"""nbml's anywidget widgets; their JavaScript is bundled at build time into ``static/``."""

from pathlib import Path

STATIC = Path(__file__).parent / "static"
