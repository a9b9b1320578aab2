"""What ships and what CI checks: one source of truth for the version, the license file, the
typing marker (PEP 561) and the bundled data ship with the package; `.ci/run` lints before it
tests; entry points are grouped by kind."""

import importlib.metadata as md
import tomllib
from importlib.resources import files
from pathlib import Path

import mocha

ROOT = Path(__file__).resolve().parents[2]


def _pyproject() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def test_the_package_is_marked_typed_and_the_wheel_takes_the_whole_package_folder():
    assert (ROOT / "src" / "mocha" / "py.typed").is_file()
    wheel = _pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == ["src/mocha"]  # hatch ships every file of it, py.typed too
    assert "py.typed" not in (ROOT / ".gitignore").read_text(encoding="utf-8")


def test_ci_lints_src_tests_examples_and_benchmarks_before_testing():
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    lint = lines.index("ruff check src tests examples benchmarks noxfile.py")
    form = lines.index("ruff format --check src tests examples benchmarks noxfile.py")
    assert max(lint, form) < lines.index("python -m pytest -q")


def test_entry_points_are_grouped_by_kind():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[project.entry-points.mocha]", 1)[1].split("\n[", 1)[0]
    kinds = [
        line.split(".", 1)[0].strip('"') for line in section.splitlines() if line.startswith('"')
    ]
    runs = [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]
    assert len(runs) == len(set(runs)), f"entry points of one kind are not together: {runs}"
    assert set(kinds) == {
        k.split(".", 1)[0] for k in _pyproject()["project"]["entry-points"]["mocha"]
    }


def test_version_has_one_source():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in meta["project"] and "version" in meta["project"]["dynamic"]
    assert meta["tool"]["hatch"]["version"]["path"] == "src/mocha/core/version.py"
    assert md.version("mocha-dl") == mocha.__version__


def test_license_changelog_and_markers():
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert files("mocha").joinpath("py.typed").is_file()
    assert files("mocha.datasets").joinpath("digits.npz").is_file()
