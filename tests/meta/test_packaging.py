"""What ships and what CI checks: the package is marked typed (PEP 561) and the wheel carries
the marker; `.ci/run` lints before it tests; entry points are grouped by kind."""

import tomllib
from pathlib import Path

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
    lint = lines.index("ruff check src tests examples benchmarks")
    assert lint < lines.index("python -m pytest -q")


def test_entry_points_are_grouped_by_kind():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[project.entry-points.mocha]", 1)[1].split("\n[", 1)[0]
    kinds = [line.split(".", 1)[0].strip('"') for line in section.splitlines()
             if line.startswith('"')]
    runs = [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]
    assert len(runs) == len(set(runs)), f"entry points of one kind are not together: {runs}"
    assert set(kinds) == {k.split(".", 1)[0] for k in _pyproject()["project"]["entry-points"]
                          ["mocha"]}
