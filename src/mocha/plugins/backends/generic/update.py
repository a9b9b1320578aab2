"""Generic (`xp`) parameter-update kernels: the SGD momentum step and a scaled add.

=====================  =========================================================================
``momentum_update``    ``(h, g, w, momentum, rate)``: h ← momentum·h − rate·g, then w ← w + h
                       (in place; the SGD solver's step, semantics §6.3)
``add_scaled``         ``(y, x, alpha)``: y ← y + alpha·x (in place; e.g. the L2 regularizer's
                       2λW added to a gradient)
=====================  =========================================================================

Scalars are rounded to the arrays' dtype and every product and sum is rounded to it, one
operation at a time, in the order written above: exactly the arithmetic of the in-place NumPy
statements the SGD solver and the L2 regularizer used inline (`h *= m; h -= rate·g; w += h`),
which the Numba backend's one-pass loops (`numba_backend.update`) reproduce bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _scratch(backend: Any, like: Any) -> Any:
    """The backend's "scratch" workspace shaped like `like` (None without workspaces)."""
    get = getattr(backend, "workspace", None)
    return None if get is None else get("scratch", like.shape, like.dtype)


def momentum_update(backend: Any, h: Any, g: Any, w: Any, momentum: float, rate: float) -> None:
    """h ← momentum·h − rate·g; w ← w + h (h, g, w of one shape and dtype)."""
    xp = backend.xp
    h *= h.dtype.type(momentum)
    tmp = _scratch(backend, g)
    if tmp is None:
        h -= g * g.dtype.type(rate)
    else:  # the same arithmetic without a temporary
        xp.multiply(g, g.dtype.type(rate), out=tmp)
        h -= tmp
    w += h


def add_scaled(backend: Any, y: Any, x: Any, alpha: float) -> None:
    """y ← y + alpha·x (x, y of one shape and dtype)."""
    tmp = _scratch(backend, x)
    if tmp is None:
        y += x * x.dtype.type(alpha)
    else:
        backend.xp.multiply(x, x.dtype.type(alpha), out=tmp)
        y += tmp


KERNELS: dict[str, Callable[..., Any]] = {
    "momentum_update": momentum_update,
    "add_scaled": add_scaled,
}
