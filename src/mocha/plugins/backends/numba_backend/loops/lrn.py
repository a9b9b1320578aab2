"""Compiled loops of the Numba backend's local response normalization (`numba_backend.lrn`):
across and within channels, forward and backward, as the generic kernels (`generic.lrn`).
Imported by `runtime.loops("lrn")` on the first call only.
"""

from __future__ import annotations

import math

from numba import njit, prange


@njit(cache=True, inline="always")
def _pow_neg(base, power):
    """base ** -power, with sqrt-only fast paths for the usual powers 0.75, 0.5 and 1."""
    if power == 0.75:
        r = 1.0 / math.sqrt(base)
        return r * math.sqrt(r)
    if power == 0.5:
        return 1.0 / math.sqrt(base)
    if power == 1.0:
        return 1.0 / base
    return base ** (-power)


@njit(cache=True, parallel=True, nogil=True)
def lrn_across_forward(x, pre, post, alpha, power, shift, y, denom):
    """Across channels on x[N, C, S]: S_c = shift + alpha·Σ_{c-pre..c+post} x², y = x·S^-p."""
    N, C, S = x.shape
    for t in prange(N * S):
        n = t // S
        s = t - n * S
        for c in range(C):
            acc = 0.0
            for d in range(max(c - pre, 0), min(c + post + 1, C)):
                v = x[n, d, s]
                acc += v * v
            den = shift + alpha * acc
            denom[n, c, s] = den
            y[n, c, s] = x[n, c, s] * _pow_neg(den, power)


@njit(cache=True, parallel=True, nogil=True)
def lrn_across_backward(x, y, denom, gy, pre, post, coef, power, gx):
    """dx_j = g_j·S_j^-p − coef·x_j·Σ_{i: j ∈ W(i)} g_i·y_i/S_i, across channels."""
    N, C, S = x.shape
    for t in prange(N * S):
        n = t // S
        s = t - n * S
        for c in range(C):
            acc = 0.0
            # i with j = c in its window: i - pre <= c <= i + post  <=>  c - post <= i <= c + pre
            for i in range(max(c - post, 0), min(c + pre + 1, C)):
                acc += gy[n, i, s] * y[n, i, s] / denom[n, i, s]
            gx[n, c, s] = gy[n, c, s] * _pow_neg(denom[n, c, s], power) - coef * x[n, c, s] * acc


@njit(cache=True, inline="always")
def _row_sums(src, before, after, out, square):
    """out[h, w] = Σ_{d=-before..after} f(src[h, w+d]) (zeros outside), f = x² or x."""
    H, W = src.shape
    for h in range(H):
        r = src[h]
        o = out[h]
        for w in range(W):
            o[w] = 0.0
        for d in range(-before, after + 1):
            lo = max(0, -d)
            hi = min(W, W - d)
            if square:
                for w in range(lo, hi):
                    v = r[w + d]
                    o[w] += v * v
            else:
                for w in range(lo, hi):
                    o[w] += r[w + d]


@njit(cache=True, parallel=True, nogil=True)
def lrn_within_forward(x, pre, post, alpha, power, shift, y, denom):
    """Within channel on x[N, C, H, W]: the k×k square window (zeros outside), as a pass along
    the rows (into y, used as scratch) and one down the columns (into denom); no allocation."""
    N, C, H, W = x.shape
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        xp = x[n, c]
        yp = y[n, c]
        den = denom[n, c]
        _row_sums(xp, pre, post, yp, True)
        for h in range(H):
            dr = den[h]
            for w in range(W):
                dr[w] = 0.0
            for a in range(max(h - pre, 0), min(h + post + 1, H)):
                tr = yp[a]
                for w in range(W):
                    dr[w] += tr[w]
        for h in range(H):
            for w in range(W):
                d = shift + alpha * den[h, w]
                den[h, w] = d
                yp[h, w] = xp[h, w] * _pow_neg(d, power)


@njit(cache=True, parallel=True, nogil=True)
def lrn_within_backward(x, y, denom, gy, pre, post, coef, power, gx, scratch):
    """Gradient of `lrn_within_forward` (the window mirrored for the adjoint sum); gx holds
    g·y/S first, scratch (x's shape, contents undefined) its row sums."""
    N, C, H, W = x.shape
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        ratio = gx[n, c]
        tmp = scratch[n, c]
        g = gy[n, c]
        yy = y[n, c]
        dd = denom[n, c]
        xp = x[n, c]
        for h in range(H):
            for w in range(W):
                ratio[h, w] = g[h, w] * yy[h, w] / dd[h, w]
        _row_sums(ratio, post, pre, tmp, False)
        for h in range(H):
            out = ratio[h]
            for w in range(W):
                out[w] = g[h, w] * _pow_neg(dd[h, w], power)
            for a in range(max(h - post, 0), min(h + pre + 1, H)):
                tr = tmp[a]
                for w in range(W):
                    out[w] -= coef * xp[h, w] * tr[w]
