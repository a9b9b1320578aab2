"""Every built-in layer has a test of its own under tests/plugins/layers/ (datasette's
"every plugin hook is tested"). The smoke cases (`SMOKE_CASES` in each test module, collected
by `test_every_layer.py`) name every layer by construction, so they do not count here: the
layer must be named by a test besides its smoke case."""

import ast
import re
from pathlib import Path

from mocha import get_registry

LAYER_TESTS = Path(__file__).resolve().parents[1] / "plugins" / "layers"
NOT_COUNTED = {"test_every_layer.py", "layer_smoke.py"}


def _without_smoke_cases(text: str) -> str:
    """The module's source without its `SMOKE_CASES = {...}` assignment."""
    lines = text.splitlines(keepends=True)
    for node in reversed(ast.parse(text).body):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else ([node.target] if isinstance(node, ast.AnnAssign) else [])
        )
        if any(getattr(t, "id", None) == "SMOKE_CASES" for t in targets):
            del lines[node.lineno - 1 : node.end_lineno]
    return "".join(lines)


def test_smoke_cases_are_not_counted():
    text = 'import x\nSMOKE_CASES = {\n    "FooLayer": 1,\n}\nBAR = "BarLayer"\n'
    assert "FooLayer" not in _without_smoke_cases(text)
    assert "BarLayer" in _without_smoke_cases(text)


def test_every_registered_layer_appears_in_a_layer_test():
    text = "\n".join(
        _without_smoke_cases(p.read_text(encoding="utf-8"))
        for p in sorted(LAYER_TESTS.glob("*.py"))
        if p.name not in NOT_COUNTED
    )
    builtin = [e.name for e in get_registry().entries("layers") if e.distribution == "mocha-dl"]
    assert builtin, "no built-in layer is registered"
    untested = [name for name in builtin if not re.search(rf"\b{name}\b", text)]
    assert not untested, (
        f"layers without a test under tests/plugins/layers/ (name the class in a test file): "
        f"{untested}"
    )
