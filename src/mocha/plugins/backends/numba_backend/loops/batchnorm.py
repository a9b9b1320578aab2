"""Compiled loops of the Numba backend's batch normalization (`numba_backend.batchnorm`), on
x[N, C, S]: per-channel sums in float64 over N and S (one thread per channel, so the result
does not depend on the thread count), and the elementwise passes over the (n, c) rows.
Imported by `runtime.loops("batchnorm")` on the first call only.
"""

from __future__ import annotations

from numba import njit, prange


@njit(cache=True, parallel=True, nogil=True)
def channel_stats(x, mean, var):
    """mean[c] = Σ x / M, var[c] = Σ (x − mean[c])² / M over N and S (two passes, float64)."""
    N, C, S = x.shape
    m = N * S
    for c in prange(C):
        acc = 0.0
        for n in range(N):
            for s in range(S):
                acc += x[n, c, s]
        mu = acc / m
        acc2 = 0.0
        for n in range(N):
            for s in range(S):
                d = x[n, c, s] - mu
                acc2 += d * d
        mean[c] = mu
        var[c] = acc2 / m


@njit(cache=True, parallel=True, nogil=True)
def normalize(x, mean, k, b, y):
    """y[n, c, s] = (x[n, c, s] − mean[c])·k[c] + b[c]."""
    N, C, S = x.shape
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        mu, kc, bc = mean[c], k[c], b[c]
        for s in range(S):
            y[n, c, s] = (x[n, c, s] - mu) * kc + bc


@njit(cache=True, parallel=True, nogil=True)
def grad_sums(x, gy, mean, sg, sgx):
    """sg[c] = Σ g, sgx[c] = Σ g·(x − mean[c]) over N and S (float64)."""
    N, C, S = x.shape
    for c in prange(C):
        a = 0.0
        b = 0.0
        mu = mean[c]
        for n in range(N):
            for s in range(S):
                g = gy[n, c, s]
                a += g
                b += g * (x[n, c, s] - mu)
        sg[c] = a
        sgx[c] = b


@njit(cache=True, parallel=True, nogil=True)
def grad_input(x, gy, mean, k, b, c1, gx):
    """gx[n, c, s] = (g − b[c] − (x − mean[c])·c1[c])·k[c]."""
    N, C, S = x.shape
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        mu, kc, bc, cc = mean[c], k[c], b[c], c1[c]
        for s in range(S):
            gx[n, c, s] = (gy[n, c, s] - bc - (x[n, c, s] - mu) * cc) * kc
