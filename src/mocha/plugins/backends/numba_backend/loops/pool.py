"""Compiled loops of the Numba backend's pooling (`numba_backend.pool`): max and mean pooling,
forward and backward, on C-contiguous NCHW arrays; the window rules are those of the generic
kernels (`generic.pool`). Imported by `runtime.loops("pool")` on the first call only.
"""

from __future__ import annotations

from numba import njit, prange


@njit(cache=True, parallel=True, nogil=True)
def max_pool_forward(x, kh, kw, ph, pw, sh, sw, y, index):
    """y = max over each clipped window (first maximum wins), index = flat h*W + w.

    Branch-free update (`best = v if v > best else best`): with random data the maximum moves
    a few times per window, and the mispredicted branches cost more than the selects."""
    N, C, H, W = x.shape
    oh, ow = y.shape[2], y.shape[3]
    xf = x.reshape(N * C, H * W)
    yf = y.reshape(N * C, oh * ow)
    idf = index.reshape(N * C, oh * ow)
    for t in prange(N * C):
        plane = xf[t]
        yp = yf[t]
        ip = idf[t]
        for i in range(oh):
            h0 = i * sh - ph
            h1 = min(h0 + kh, H)
            h0 = max(h0, 0)
            for j in range(ow):
                w0 = j * sw - pw
                w1 = min(w0 + kw, W)
                w0 = max(w0, 0)
                bi = h0 * W + w0
                best = plane[bi]
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        k = h * W + w
                        v = plane[k]
                        m = v > best
                        best = v if m else best
                        bi = k if m else bi
                yp[i * ow + j] = best
                ip[i * ow + j] = bi


@njit(cache=True, parallel=True, nogil=True)
def max_pool_backward(gy, index, gx):
    """gx[n, c].flat[index] += gy (gx is zeroed here first). Flat planes: no division by W
    per element (which made this 3-5x slower)."""
    N, C, H, W = gx.shape
    S = gy.shape[2] * gy.shape[3]
    gxf = gx.reshape(N * C, H * W)
    gyf = gy.reshape(N * C, S)
    idf = index.reshape(N * C, S)
    for t in prange(N * C):
        plane = gxf[t]
        plane[:] = 0.0
        g = gyf[t]
        k = idf[t]
        for s in range(S):
            plane[k[s]] += g[s]


@njit(cache=True, parallel=True, nogil=True)
def avg_pool_forward(x, kh, kw, ph, pw, sh, sw, y):
    """y = Σ in-image cells of the window / (kh*kw)."""
    N, C, H, W = x.shape
    oh, ow = y.shape[2], y.shape[3]
    inv = 1.0 / (kh * kw)
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        plane = x[n, c]
        for i in range(oh):
            h0 = i * sh - ph
            h1 = min(h0 + kh, H)
            h0 = max(h0, 0)
            for j in range(ow):
                w0 = j * sw - pw
                w1 = min(w0 + kw, W)
                w0 = max(w0, 0)
                acc = 0.0
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        acc += plane[h, w]
                y[n, c, i, j] = acc * inv


@njit(cache=True, parallel=True, nogil=True)
def avg_pool_backward(gy, kh, kw, ph, pw, sh, sw, gx):
    """Every in-image cell of a window receives gy / (kh*kw) (gx is zeroed here first)."""
    N, C, H, W = gx.shape
    oh, ow = gy.shape[2], gy.shape[3]
    inv = 1.0 / (kh * kw)
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        plane = gx[n, c]
        plane[:, :] = 0.0
        for i in range(oh):
            h0 = i * sh - ph
            h1 = min(h0 + kh, H)
            h0 = max(h0, 0)
            for j in range(ow):
                w0 = j * sw - pw
                w1 = min(w0 + kw, W)
                w0 = max(w0, 0)
                share = gy[n, c, i, j] * inv
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        plane[h, w] += share
