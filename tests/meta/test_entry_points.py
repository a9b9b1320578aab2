"""Entry points in pyproject.toml == plugin modules on disk == installed metadata.

A plugin module is a module under `src/mocha/plugins/**` that defines at least one
`mocha_register_*` hook (a package defines them in its `__init__.py`: `plugins/backends/
numba_backend/` is the plugin module `mocha.plugins.backends.numba_backend`), or a
`src/mocha/cli/*_cmd.py` command module. Each has exactly one
entry point in the `mocha` group, keyed `"<kind>.<module>"` (quoted in the TOML), where the
kind is the folder under `plugins/` (`commands` for the CLI). Modules under `plugins/` without
hooks are helpers and have no entry point.
"""

import ast
import importlib.metadata as md
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PYPROJECT = ROOT / "pyproject.toml"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _defines_hooks(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.FunctionDef) and node.name.startswith("mocha_register_")
        for node in tree.body
    )


def _expected() -> dict[str, str]:
    """Entry-point key -> module, from the files on disk."""
    out = {}
    for path in sorted((SRC / "mocha" / "plugins").rglob("*.py")):
        parts = path.relative_to(SRC / "mocha" / "plugins").parts
        if len(parts) > 1 and _defines_hooks(path):  # a package's hooks: its __init__.py
            name = _module_name(path).rsplit(".", 1)[1]
            out[f"{parts[0]}.{name}"] = _module_name(path)
    for path in sorted((SRC / "mocha" / "cli").glob("*_cmd.py")):
        out[f"commands.{path.stem}"] = _module_name(path)
    return out


def _declared() -> dict[str, object]:
    with PYPROJECT.open("rb") as f:
        return tomllib.load(f)["project"]["entry-points"]["mocha"]


def _section_lines() -> list[str]:
    text = PYPROJECT.read_text(encoding="utf-8")
    section = text.split("[project.entry-points.mocha]", 1)[1]
    section = re.split(r"^\[", section, maxsplit=1, flags=re.M)[0]
    return [
        line for line in section.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def test_every_plugin_module_has_exactly_one_entry_point_and_vice_versa():
    expected, declared = _expected(), _declared()
    missing = {k: v for k, v in expected.items() if declared.get(k) != v}
    extra = {k: v for k, v in declared.items() if k not in expected}
    assert not missing, (
        "plugin modules without (the right) entry point; add to [project.entry-points.mocha] "
        "in pyproject.toml:\n" + "\n".join(f'"{k}" = "{v}"' for k, v in missing.items())
    )
    assert not extra, (
        "entry points that name no plugin module with a mocha_register_* hook:\n"
        + "\n".join(f"{k} = {v}" for k, v in extra.items())
    )
    values = list(declared.values())
    assert len(values) == len(set(values)), "a module is listed under two entry points"


def test_keys_are_quoted_kind_dot_module():
    for line in _section_lines():
        assert re.fullmatch(r'"[a-z_]+\.[a-z0-9_]+" = "[a-z0-9_.]+"', line.strip()), (
            f'entry point line {line!r}: use a quoted key "<kind>.<module>" (an unquoted '
            f"dotted key is a nested TOML table)"
        )
    for key, value in _declared().items():
        assert isinstance(value, str), f"entry point {key!r} is a table: quote the key"
        assert value.rsplit(".", 1)[1] == key.split(".", 1)[1], (
            f"entry point {key!r}: the module part of the key must be the module's name, {value!r}"
        )


def test_every_entry_point_is_installed():
    try:
        dist = md.distribution("mocha-dl")
    except md.PackageNotFoundError:  # pragma: no cover - a checkout that was never installed
        pytest.fail("mocha-dl is not installed; run `pip install -e .`")
    installed = {ep.name: ep.value for ep in dist.entry_points if ep.group == "mocha"}
    declared = _declared()
    assert installed == declared, (
        "the installed metadata is stale; run `pip install -e .` again. Only in pyproject: "
        f"{sorted(set(declared) - set(installed))}; only installed: "
        f"{sorted(set(installed) - set(declared))}"
    )


def test_pytest_plugin_and_console_script_are_declared():
    with PYPROJECT.open("rb") as f:
        project = tomllib.load(f)["project"]
    assert project["entry-points"]["pytest11"] == {"mocha": "mocha.testing.pytest_plugin"}
    assert project["scripts"] == {"mocha": "mocha.cli.app:main"}
