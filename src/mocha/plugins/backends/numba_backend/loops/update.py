"""Compiled parameter-update loops of the Numba backend (`numba_backend.update`); imported by
`runtime.loops("update")` on first use only.

One pass over flat (1-D) C-contiguous arrays of one dtype, parallel over elements; the
scalars arrive rounded to that dtype, so float32 stays float32, and each element sees the
generic kernels' operations in their order (`generic.update`): the same numbers, bit for bit.
"""

from __future__ import annotations

from numba import njit, prange


@njit(cache=True, parallel=True, nogil=True)
def momentum_update(h, g, w, momentum, rate):
    """h ← momentum·h − rate·g; w ← w + h."""
    for i in prange(h.size):
        v = h[i] * momentum - g[i] * rate
        h[i] = v
        w[i] += v


@njit(cache=True, parallel=True, nogil=True)
def add_scaled(y, x, alpha):
    """y ← y + alpha·x."""
    for i in prange(y.size):
        y[i] += x[i] * alpha
