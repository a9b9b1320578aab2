"""Packaging: one source of truth for the version, the license file, the typing marker and
the bundled data ship with the package."""

import importlib.metadata as md
import tomllib
from importlib.resources import files
from pathlib import Path

import mocha

ROOT = Path(__file__).resolve().parents[2]


def test_version_has_one_source():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in meta["project"] and "version" in meta["project"]["dynamic"]
    assert meta["tool"]["hatch"]["version"]["path"] == "src/mocha/__init__.py"
    assert md.version("mocha-dl") == mocha.__version__


def test_license_changelog_and_markers():
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert files("mocha").joinpath("py.typed").is_file()
    assert files("mocha.datasets").joinpath("digits.npz").is_file()
