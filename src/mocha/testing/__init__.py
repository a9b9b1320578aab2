"""The public testing kit for Mocha layers and backends (used by our tests and plugin authors).

* `check_gradients(layer, inputs, ...)` — float64 central finite differences against the
  layer's backward, for bottom diffs and parameter gradients, skipping coordinates that sit on
  a kink (one-sided differences disagree, e.g. ReLU at 0).
* `check_layer(layer, inputs, backend)` — runs the layer on `backend` and on the NumPy
  reference, compares tops, bottom diffs and parameter gradients, checks that a `NullBlob`
  diff is honoured (no write), and runs the gradient check on the reference.
* `run_layer(...)` / `LayerHarness` — set a single layer up on given host inputs.
* `available_backends()`, `session_backend_name()` and the pytest plugin's `backend` fixture.
"""

from mocha.testing.backends import available_backends, backend_tolerance, session_backend_name
from mocha.testing.gradcheck import (
    LayerHarness,
    check_gradients,
    check_layer,
    reference_backend,
    run_layer,
)

__all__ = [
    "LayerHarness",
    "available_backends",
    "backend_tolerance",
    "check_gradients",
    "check_layer",
    "reference_backend",
    "run_layer",
    "session_backend_name",
]
