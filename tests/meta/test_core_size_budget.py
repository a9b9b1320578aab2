"""`src/mocha/core/` stays small (tinygrad's line budget): everything else is a plugin."""

from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "src" / "mocha" / "core"
CORE_BUDGET = 2500  # lines of code in all of core/, blank lines and comments excluded
FILE_LIMIT = 450  # physical lines per core file


def _code_lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.lstrip().startswith("#"))


def test_core_stays_under_its_line_budget():
    sizes = {p.name: _code_lines(p) for p in sorted(CORE.glob("*.py"))}
    total = sum(sizes.values())
    biggest = sorted(sizes.items(), key=lambda kv: -kv[1])[:5]
    assert total <= CORE_BUDGET, (
        f"src/mocha/core has {total} lines of code, over the budget of {CORE_BUDGET}; move "
        f"something into a plugin. Largest files: {biggest}")


def test_each_core_file_is_small():
    too_big = {p.name: n for p in sorted(CORE.glob("*.py"))
               if (n := len(p.read_text(encoding="utf-8").splitlines())) >= FILE_LIMIT}
    assert not too_big, f"core files over {FILE_LIMIT} lines (split them): {too_big}"
