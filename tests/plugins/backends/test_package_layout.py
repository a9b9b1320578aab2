"""The shape of `mocha.plugins.backends` (checked on the source):

* no import cycle between its modules, and no import inside a function that names one of them
  (the way a cycle is usually hidden);
* only `numba_backend/loops/` imports numba;
* every topic module of the Numba backend mirrors the generic module of the same name (it
  overrides kernels that have a generic version) and has compiled loops of the same name;
* the compiled loops are cached on disk next to their modules (`cache=True` still works from
  the package).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import mocha.plugins.backends as backends_pkg

ROOT = Path(backends_pkg.__file__).parent
PREFIX = "mocha.plugins.backends"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PREFIX, *parts))


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, inside a function?) for every import of `path`; `from P import n`
    counts as an import of `P.n` when that is a module of the package, else of `P`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nested.update(id(n) for n in ast.walk(node) if n is not node)
    out = []
    for node in ast.walk(tree):
        inner = id(node) in nested
        if isinstance(node, ast.Import):
            out += [(alias.name, inner) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.append((full if full in MODULES else node.module, inner))
    return out


def _graph() -> dict[str, set[str]]:
    return {
        name: {m for m, _ in _imports(path) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }


def test_the_modules_import_each_other_without_a_cycle():
    graph, state, cycles = _graph(), {}, []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt) :] + [node, nxt]))
            elif nxt not in state:
                visit(nxt, stack + [node])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, f"import cycles in {PREFIX}: {cycles}"


def test_no_module_imports_a_backend_module_inside_a_function():
    bad = [
        f"{name} imports {m} inside a function"
        for name, path in MODULES.items()
        for m, inner in _imports(path)
        if inner and m.startswith(PREFIX)
    ]
    assert not bad, bad


def test_only_the_loops_import_numba():
    loops = f"{PREFIX}.numba_backend.loops"
    bad = [
        f"{name} imports {m}"
        for name, path in MODULES.items()
        if not name.startswith(loops)
        for m, _ in _imports(path)
        if m.split(".")[0] == "numba"
    ]
    assert not bad, bad
    assert all(
        any(m == "numba" or m.startswith("numba.") for m, _ in _imports(MODULES[name]))
        for name in MODULES
        if name.startswith(loops + ".")
    )


@pytest.mark.parametrize("topic", ["conv", "pool", "lrn", "softmax", "elementwise"])
def test_numba_topics_mirror_the_generic_ones(topic):
    numba_topic = importlib.import_module(f"{PREFIX}.numba_backend.{topic}")
    generic_topic = importlib.import_module(f"{PREFIX}.generic.{topic}")
    assert numba_topic.KERNELS and set(numba_topic.KERNELS) <= set(generic_topic.KERNELS)
    assert (ROOT / "numba_backend" / "loops" / f"{topic}.py").is_file()


def test_compiled_loops_are_cached_on_disk_next_to_their_module():
    pytest.importorskip("numba")
    import numpy as np

    from mocha.plugins.backends.numba_backend import NumbaBackend, runtime

    NumbaBackend(dtype="float32").kernels.softmax(np.zeros((2, 3), np.float32), 1)
    loop = runtime.loops("softmax").softmax_ncs
    cache_dir = ROOT / "numba_backend" / "loops" / "__pycache__"
    assert Path(loop.stats.cache_path) == cache_dir
    assert list(cache_dir.glob("softmax.softmax_ncs-*.nbi")), "no numba cache index written"
    assert sum(loop.stats.cache_hits.values()) + sum(loop.stats.cache_misses.values()) >= 1
