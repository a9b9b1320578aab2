"""The rich consoles of the commands: tables are not cut to 80 columns when the output is
piped or redirected (rich's default width without a terminal); `COLUMNS` still wins."""

from __future__ import annotations

import os
import sys
from typing import Any

PIPED_WIDTH = 1000  # wide enough for any table; rich prints each at its natural width


def make_console(stderr: bool = False, **kwargs: Any) -> Any:
    """A `rich.console.Console` on stdout (or stderr) with the terminal's width, or
    `PIPED_WIDTH` columns when that stream is not a terminal and `COLUMNS` is not set."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if "width" not in kwargs and not stream.isatty() and not os.environ.get("COLUMNS"):
        kwargs["width"] = PIPED_WIDTH
    return Console(stderr=stderr, **kwargs)
