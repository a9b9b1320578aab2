"""The plugin boundary, checked on the import statements (ast) of every module.

Rule: a module under `src/mocha/plugins/<kind>/` may import
* `mocha.core` (the contracts),
* `mocha.plugins.components` (the default component instances: neurons, initializers, ...),
* `mocha.datasets` (where it reads data),
* `_`-prefixed helper modules of its own folder (`mocha.plugins.layers._labels`), and, inside a
  plugin package (`plugins/<kind>/<package>/`), the modules of that package,
and nothing else of Mocha: never a sibling plugin module (`mocha.plugins.layers.softmax`), the
command line, the experiment runner, the testing kit or `mocha` itself. Shared code goes into
the core contract or a `_`-prefixed helper, so every plugin can be disabled, replaced or read
on its own.

Code outside `plugins/` reaches plugins through the registry (`mocha.lookup(kind, name)`),
never by importing a plugin module.
"""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PLUGINS = SRC / "mocha" / "plugins"

ALLOWED_EVERYWHERE = ("mocha.core", "mocha.plugins.components", "mocha.datasets")

# (importing module, imported module) pairs not yet moved, each with the reason.
KNOWN_EXCEPTIONS = {}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, nested ones included; for
    `from package import name`, `package.name` too (the name may be a submodule)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out.append((node.lineno, base))
            out.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return out


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def _plugin_violation(module: str, imported: str) -> str | None:
    """Why `module` (a module under mocha.plugins) may not import `imported`, or None."""
    if imported != "mocha" and not imported.startswith("mocha."):
        return None
    if any(imported == a or imported.startswith(a + ".") for a in ALLOWED_EVERYWHERE):
        return None
    parts, own = imported.split("."), module.split(".")
    if parts[:2] == ["mocha", "plugins"] and len(parts) >= 3 and parts[2] == own[2]:
        if len(parts) == 3:
            return None  # the kind's folder itself (`from mocha.plugins.layers import _x`)
        if not _is_module(imported):
            return None  # a name imported from a module, checked as that module
        if parts[3].startswith("_"):
            return None  # a helper of its own folder
        if parts[3] == own[3] and (len(own) > 4 or len(parts) > 4):
            return None  # inside its own plugin package (its __init__ included)
        return "a sibling plugin module (move what is shared into a `_`-prefixed helper)"
    return "not core, a default component, datasets or a helper of its own folder"


def _plugin_modules() -> list[Path]:
    return sorted(p for p in PLUGINS.rglob("*.py"))


def test_the_checker_sees_imports_and_judges_them():
    assert _plugin_violation("mocha.plugins.layers.accuracy", "mocha.plugins.layers.softmax")
    assert _plugin_violation("mocha.plugins.layers.accuracy", "mocha.testing.gradcheck")
    assert _plugin_violation("mocha.plugins.solvers.adam", "mocha")
    assert _plugin_violation("mocha.plugins.coffee.snapshot", "mocha.plugins.layers._labels")
    for ok in (
        "mocha.core.layer",
        "mocha.plugins.components.neurons",
        "mocha.datasets.mnist",
        "mocha.plugins.layers._labels",
        "numpy",
        "mocha.plugins.layers",
    ):
        assert _plugin_violation("mocha.plugins.layers.accuracy", ok) is None, ok
    assert (
        _plugin_violation(
            "mocha.plugins.backends.numba_backend.conv",
            "mocha.plugins.backends.numba_backend.runtime",
        )
        is None
    )
    assert (
        _plugin_violation(
            "mocha.plugins.backends.numba_backend", "mocha.plugins.backends.numba_backend.conv"
        )
        is None
    )
    assert _plugin_violation(
        "mocha.plugins.backends.numba_backend", "mocha.plugins.backends.generic.conv"
    )
    names = {name for _, name in _imports(PLUGINS / "layers" / "accuracy.py")}
    assert {"mocha.core.layer", "mocha.plugins.layers._labels"} <= names


def test_plugin_modules_import_no_sibling_plugin():
    problems = []
    for path in _plugin_modules():
        module = _module_name(path)
        for line, imported in _imports(path):
            why = _plugin_violation(module, imported)
            if why and (module, imported) not in KNOWN_EXCEPTIONS:
                problems.append(f"  {path.relative_to(SRC)}:{line} imports {imported}: {why}")
    assert not problems, (
        "plugin modules crossing the plugin boundary (see tests/meta/test_plugin_boundaries.py "
        "for the rule):\n" + "\n".join(problems)
    )


def test_code_outside_plugins_reaches_plugins_through_the_registry():
    problems = []
    for path in sorted((SRC / "mocha").rglob("*.py")):
        if PLUGINS in path.parents:
            continue
        module = _module_name(path)
        for line, imported in _imports(path):
            if not imported.startswith("mocha.plugins"):
                continue
            if imported.startswith("mocha.plugins.components") or not _is_module(imported):
                continue  # default component instances; or a name inside a checked module
            if (module, imported) not in KNOWN_EXCEPTIONS:
                problems.append(f"  {path.relative_to(SRC)}:{line} imports {imported}")
    assert not problems, (
        "non-plugin code importing plugin modules; look them up in the registry instead "
        "(`mocha.lookup(kind, name)`):\n" + "\n".join(problems)
    )


def test_format_plugins_are_inside_the_boundary():
    """Formats are plugins: they import core and their own package, never the experiment
    runner (what they need from experiment files arrives as an `ExportSource`), the command
    line or another format."""
    caffe = "mocha.plugins.formats.caffe.exporter"
    assert _plugin_violation(caffe, "mocha.experiment")
    assert _plugin_violation(caffe, "mocha.cli.app")
    assert _plugin_violation(caffe, "mocha.prediction")
    assert _plugin_violation(caffe, "mocha.plugins.formats.onnx._common")
    assert _plugin_violation(caffe, "mocha.plugins.formats.caffe.reader") is None
    assert _plugin_violation(caffe, "mocha.core.interchange") is None
    modules = {_module_name(p) for p in _plugin_modules()}
    assert {"mocha.plugins.formats.caffe", "mocha.plugins.formats.onnx"} <= modules


def test_no_import_cycle_between_plugin_modules():
    """No two modules of a plugin package import each other, nested imports included (the
    Caffe `mapping` <-> `rules` loop, hidden by an import inside a function, is gone: rules
    are found through the registry)."""
    graph: dict[str, set[str]] = {}
    for path in _plugin_modules():
        module = _module_name(path)
        graph[module] = {
            imported
            for _, imported in _imports(path)
            if imported.startswith("mocha.plugins.") and imported != module and _is_module(imported)
        }
    cycles = []

    def visit(node: str, stack: list[str], seen: set[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in seen:
                seen.add(nxt)
                visit(nxt, [*stack, nxt], seen)

    for start in sorted(graph):
        visit(start, [start], {start})
    # `from package import submodule` names the package too, and a package's __init__
    # registers its modules' tables: loops through a package's __init__ are not loops
    # between modules
    packages = {_module_name(p) for p in _plugin_modules() if p.name == "__init__.py"}
    real = [c for c in cycles if not packages & set(c.split(" -> "))]
    assert not real, "import cycles between plugin modules:\n" + "\n".join(sorted(set(real)))
