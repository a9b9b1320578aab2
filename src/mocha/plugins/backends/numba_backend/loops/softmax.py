"""Compiled loop of the Numba backend's softmax (`numba_backend.softmax`), over the middle axis
of a C-contiguous [N, C, S] view. Imported by `runtime.loops("softmax")` on the first call only.
"""

from __future__ import annotations

import math

from numba import njit, prange


@njit(cache=True, parallel=True, nogil=True)
def softmax_ncs(x, y):
    """Softmax over axis 1 of x[N, C, S] into y (max-shifted; float64 sums)."""
    N, C, S = x.shape
    for t in prange(N * S):
        n = t // S
        s = t - n * S
        m = x[n, 0, s]
        for c in range(1, C):
            if x[n, c, s] > m:
                m = x[n, c, s]
        total = 0.0
        for c in range(C):
            e = math.exp(x[n, c, s] - m)
            y[n, c, s] = e
            total += e
        inv = 1.0 / total
        for c in range(C):
            y[n, c, s] *= inv
