"""The command line's log: Mocha's `logging` messages (the "mocha" logger: snapshots saved,
resumes, skipped files, warnings; plugins log through it too) on stderr, through rich on a
terminal and as plain lines otherwise. `-v` shows debug messages too, `-q` warnings and
errors only. The training log ("mocha.training") is left out: its lines are on stdout."""

from __future__ import annotations

import logging
import sys

_HANDLER_NAME = "mocha-cli"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record is emitted (so a redirected or
    replaced stderr, as in tests, is honoured)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001
        pass


def level_for(verbose: int, quiet: int) -> int:
    """INFO by default; each -v one step more detailed (DEBUG), each -q one step less."""
    steps = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR]
    return steps[max(0, min(len(steps) - 1, 1 - verbose + quiet))]


def configure_logging(verbose: int = 0, quiet: int = 0) -> logging.Handler:
    """Install (or replace) the command line's handler on the "mocha" logger."""
    logger = logging.getLogger("mocha")
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(
            console=Console(stderr=True),
            show_path=False,
            show_time=False,
            markup=False,
            rich_tracebacks=False,
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = _StderrHandler()
        handler.setFormatter(_PlainFormatter())
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(_not_training_log)
    logger.addHandler(handler)
    logger.setLevel(level_for(verbose, quiet))
    return handler


def _not_training_log(record: logging.LogRecord) -> bool:
    """The training log ("mocha.training": TrainingSummary's and ValidationPerformance's
    lines) is printed on stdout by those breaks; the handler leaves it out."""
    return not record.name.startswith("mocha.training")


class _PlainFormatter(logging.Formatter):
    """`message` for information, `Warning: message` / `Error: message` above it."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= logging.ERROR:
            return f"Error: {text}"
        if record.levelno >= logging.WARNING:
            return f"Warning: {text}"
        return text
