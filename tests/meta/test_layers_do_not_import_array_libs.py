"""Layers are written once for every backend: they use `backend.xp` and `backend.kernels`, never
`numpy`, `numba` or `cupy` directly (checked on the source, imports inside functions included)."""

import ast
from pathlib import Path

import pytest

LAYERS = Path(__file__).resolve().parents[2] / "src" / "mocha" / "plugins" / "layers"
BANNED = ("numpy", "numba", "cupy")


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


@pytest.mark.parametrize("path", sorted(LAYERS.glob("*.py")), ids=lambda p: p.name)
def test_layer_module_does_not_import_array_libraries(path):
    bad = [
        f"{path.name}:{line} imports {name}"
        for line, name in _imports(path)
        if name.split(".")[0] in BANNED
    ]
    assert not bad, f"{bad}: use backend.xp / backend.kernels instead"


def test_the_check_sees_imports_inside_functions(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import numpy as np\n    from cupy import zeros\n")
    assert _imports(sample) == [(2, "numpy"), (3, "cupy")]
