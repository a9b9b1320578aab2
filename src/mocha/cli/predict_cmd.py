"""`mocha predict` (work in progress)."""

from __future__ import annotations

from mocha.core.hookspecs import hookimpl


@hookimpl
def mocha_register_commands(app):
    """Nothing registered yet."""
