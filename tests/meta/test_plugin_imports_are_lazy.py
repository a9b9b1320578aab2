"""Importing a plugin module must not import numba or cupy (a backend loads them when it is
used), and `mocha.core` must not import numba, cupy, rich or typer at all."""

import ast
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "src" / "mocha" / "core"
ARRAY_LIBS = ("numba", "cupy")
CORE_BANNED = ("numba", "cupy", "rich", "typer")


def _plugin_modules() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return sorted(tomllib.load(f)["project"]["entry-points"]["mocha"].values())


def _heavy_after_import(modules: list[str], heavy: tuple[str, ...]) -> list[str]:
    """Import `modules` in a fresh interpreter; which of `heavy` ended up in sys.modules."""
    code = textwrap.dedent(f"""
        import importlib, sys
        for name in {modules!r}:
            importlib.import_module(name)
        print(",".join(m for m in {heavy!r} if m in sys.modules))
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [m for m in result.stdout.strip().split(",") if m]


def test_plugin_modules_do_not_import_numba_or_cupy():
    modules = _plugin_modules()
    # importing is monotonic: if all of them together stay clean, each one alone does
    if not _heavy_after_import(modules, ARRAY_LIBS):
        return
    culprits = {m: found for m in modules if (found := _heavy_after_import([m], ARRAY_LIBS))}
    raise AssertionError(
        "plugin modules that import an array library at import time (import it inside the "
        f"function or backend that needs it): {culprits}"
    )


def test_building_the_registry_imports_no_array_library():
    code = textwrap.dedent(f"""
        import sys
        import mocha
        mocha.get_registry()
        print(",".join(m for m in {ARRAY_LIBS!r} if m in sys.modules))
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_core_imports_none_of_numba_cupy_rich_typer_at_run_time():
    core = sorted(
        "mocha.core." + ".".join(p.relative_to(CORE).with_suffix("").parts)
        for p in CORE.rglob("*.py")
        if p.stem != "__init__"
    )
    assert _heavy_after_import(["mocha", *core], CORE_BANNED) == []


def test_core_source_has_no_import_of_numba_cupy_rich_typer():
    """Not even a lazy import inside a function."""
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                if name.split(".")[0] in CORE_BANNED:
                    offenders.append(f"{path.name}:{node.lineno} imports {name}")
    assert not offenders, offenders
