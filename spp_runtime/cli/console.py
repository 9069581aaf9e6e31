"""The rich console the commands print to (wide enough for tables when piped to a file)."""

from __future__ import annotations

import sys

from rich.console import Console


def console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 150)
