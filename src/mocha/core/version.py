"""The version of mocha-dl (keep equal to `version` in pyproject.toml)."""

__version__ = "0.1.0"
