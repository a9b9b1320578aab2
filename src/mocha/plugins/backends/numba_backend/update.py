"""The Numba backend's parameter-update kernels: `momentum_update` (the SGD step) and
`add_scaled` (the L2 regularizer's gradient term), one compiled pass each instead of three
or two NumPy passes (see `generic.update` for the table and the arithmetic they reproduce).

Arrays that cannot go straight to a flat loop (not NumPy, not C-contiguous, mixed shapes or
dtypes, not float32/float64) take the generic kernel. Under `runtime.SERIAL_BELOW` elements
the loop runs on the calling thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mocha.plugins.backends.numba_backend.runtime import flat_views, loops, run


def momentum_update(backend: Any, h: Any, g: Any, w: Any, momentum: float, rate: float) -> None:
    """h ← momentum·h − rate·g; w ← w + h (in place)."""
    flat = flat_views(h, g, w)
    if flat is None:
        backend.kernels.generic("momentum_update")(h, g, w, momentum, rate)
        return
    one = h.dtype.type
    run(loops("update").momentum_update, h.size, *flat, one(momentum), one(rate))


def add_scaled(backend: Any, y: Any, x: Any, alpha: float) -> None:
    """y ← y + alpha·x (in place)."""
    flat = flat_views(y, x)
    if flat is None:
        backend.kernels.generic("add_scaled")(y, x, alpha)
        return
    run(loops("update").add_scaled, y.size, *flat, y.dtype.type(alpha))


KERNELS: dict[str, Callable[..., Any]] = {
    "momentum_update": momentum_update,
    "add_scaled": add_scaled,
}
