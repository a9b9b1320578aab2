"""Every built-in layer has a test of its own under tests/plugins/layers/ (datasette's
"every plugin hook is tested"). The table-driven smoke test `test_every_layer.py` names every
layer by construction, so it does not count here."""

import re
from pathlib import Path

from mocha import get_registry

LAYER_TESTS = Path(__file__).resolve().parents[1] / "plugins" / "layers"
NOT_COUNTED = {"test_every_layer.py"}


def test_every_registered_layer_appears_in_a_layer_test():
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(LAYER_TESTS.glob("*.py"))
                     if p.name not in NOT_COUNTED)
    builtin = [e.name for e in get_registry().entries("layers") if e.distribution == "mocha-dl"]
    assert builtin, "no built-in layer is registered"
    untested = [name for name in builtin if not re.search(rf"\b{name}\b", text)]
    assert not untested, (
        f"layers without a test under tests/plugins/layers/ (name the class in a test file): "
        f"{untested}")
