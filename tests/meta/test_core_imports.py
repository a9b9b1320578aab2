"""`src/mocha/core/` imports at module level only: its modules form an acyclic graph, so no
import is hidden inside a function to break a cycle. The one exception is an optional heavy
dependency that only some calls need, listed in `LAZY_ALLOWED` with the reason; importing
`mocha` must not load it."""

import ast
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import mocha

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "src" / "mocha" / "core"

LAZY_ALLOWED = {
    "h5py": "HDF5 is needed only when a model, snapshot or statistics file is read or "
    "written (core/io/); importing it would make `import mocha` slower",
}


def _imported_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return ["." * node.level + (node.module or "")]


def _function_level_imports(path: Path) -> list[tuple[int, str, str]]:
    """(line, enclosing function, imported module) of every import inside a function."""
    found = []
    for func in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(func):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    found.extend((node.lineno, func.name, name) for name in _imported_names(node))
    return found


def test_the_checker_finds_imports_inside_functions(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n\n\ndef f():\n    import h5py\n    from mocha.core import x\n"
        "    def g():\n        from . import y\n"
    )
    found = {(line, name) for line, _, name in _function_level_imports(sample)}
    assert found == {(5, "h5py"), (6, "mocha.core"), (8, ".")}


def test_core_has_no_function_level_imports():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} in {func}(): import {name}"
        for path in sorted(CORE.rglob("*.py"))
        for line, func, name in _function_level_imports(path)
        if name.split(".")[0] not in LAZY_ALLOWED
    ]
    assert not offenders, (
        "imports inside functions in mocha.core (import at the top of the module; a cycle "
        "means something belongs in another module):\n" + "\n".join(offenders)
    )


def test_import_mocha_loads_none_of_the_lazy_dependencies():
    code = textwrap.dedent(f"""
        import sys
        import mocha
        print(",".join(m for m in {sorted(LAZY_ALLOWED)!r} if m in sys.modules))
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == ""


def test_version_comes_from_core_version():
    """pyproject.toml reads the version from core/version.py (hatch's dynamic version)."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        meta = tomllib.load(f)
    assert meta["tool"]["hatch"]["version"]["path"] == "src/mocha/core/version.py"
    from mocha.core.version import __version__

    assert mocha.__version__ == __version__


def test_core_imports_nothing_of_mocha_outside_core():
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = _imported_names(node) if isinstance(node, ast.Import | ast.ImportFrom) else []
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno} imports {name}"
                for name in names
                if name.split(".")[0] == "mocha" and not (name + ".").startswith("mocha.core.")
            ]
    assert not offenders, offenders
