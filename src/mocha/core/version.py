"""The version of mocha-dl: the one source of truth (pyproject.toml reads it from here)."""

__version__ = "0.1.0"
