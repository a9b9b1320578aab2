"""Compiled loops of the Numba backend's pooling (`numba_backend.pool`): max and mean pooling,
forward and backward, on C-contiguous NCHW arrays; the window rules are those of the generic
kernels (`generic.pool`). Imported by `runtime.loops("pool")` on the first call only.

Formulation: every plane (n, c) is flat (h*W + w). The output rows and columns whose windows
lie fully inside the image (`_interior`) take a specialised row loop for the common shapes
(2x2 and 3x3 windows, column stride 2): the window is unrolled into straight-line code over
per-row slices of the plane, indexed from 0 up (no negative-index wraparound code, no runtime
trip counts, no branches), and the results are stored once per output. Border windows (clipped
by the padding or the image edge) and every other shape take the generic clipped loop. Each
output sees the same cells in the same row-major order with the same arithmetic as the generic
loop, so the results are bit-identical whichever path computes them.

Measured at one numba thread, float32, max forward (before -> after, best of 30-50 runs, on a
2-core machine busy with another benchmark, so +-30%):
  LeNet pool1 (64,20,24,24) 2x2/2   1.5-2.4 -> 0.5-0.76 ms
  LeNet pool2 (64,50,8,8)   2x2/2   0.46-0.69 -> 0.34-0.53 ms
  CIFAR pool1 (100,32,32,32) 3x3/2 -> 16x16   10-16 -> 7.5-9 ms
A stand-alone 2x2/2-only loop (no border path) measured 0.41 ms for pool1: the dispatch and
border code cost the rest. The mean-pooling loops and max_pool_backward are unchanged.
LLVM does not vectorize these loops: a row has 4-16 outputs and the vectorizer's runtime alias
and overflow checks only pay off beyond ~36; the gain is from scalar code without the
wraparound selects and the loop overhead of 2-3 trip inner loops.
"""

from __future__ import annotations

from numba import njit, prange


@njit(cache=True, nogil=True, inline="always")
def _interior(n_out, k, p, s, n_in):
    """[lo, hi): the outputs o whose window [o*s - p, o*s - p + k) lies inside [0, n_in)."""
    lo = (p + s - 1) // s
    hi = (n_in + p - k) // s + 1
    hi = max(0, min(hi, n_out))
    lo = min(lo, hi)
    return lo, hi


@njit(cache=True, nogil=True, inline="always")
def _max_window(plane, W, H, kh, kw, h0, w0):
    """(max, flat index) of the window at (h0, w0) clipped to the image: `best` starts at the
    first in-image cell and is replaced only when `v > best` (the first maximum wins)."""
    h1 = min(h0 + kh, H)
    h0 = max(h0, 0)
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
    return best, bi


@njit(cache=True, nogil=True)
def _max_row_2x2s2(plane, W, k0, n, yp, ip, o0):
    """Interior 2x2 windows, column stride 2, of one output row: window jj starts at flat
    index k0 + 2*jj. Same scan order and `>` as `_max_window`."""
    yo = yp[o0 : o0 + n]
    io = ip[o0 : o0 + n]
    r0 = plane[k0 : k0 + 2 * n]
    r1 = plane[k0 + W : k0 + W + 2 * n]
    for jj in range(n):
        c = 2 * jj
        best = r0[c]
        off = 0
        v = r0[c + 1]
        m = v > best
        best = v if m else best
        off = 1 if m else off
        v = r1[c]
        m = v > best
        best = v if m else best
        off = W if m else off
        v = r1[c + 1]
        m = v > best
        best = v if m else best
        off = W + 1 if m else off
        yo[jj] = best
        io[jj] = k0 + c + off


@njit(cache=True, nogil=True)
def _max_row_3x3s2(plane, W, k0, n, yp, ip, o0):
    """Interior 3x3 windows, column stride 2, of one output row (as `_max_row_2x2s2`)."""
    yo = yp[o0 : o0 + n]
    io = ip[o0 : o0 + n]
    r0 = plane[k0 : k0 + 2 * n + 1]
    r1 = plane[k0 + W : k0 + W + 2 * n + 1]
    r2 = plane[k0 + 2 * W : k0 + 2 * W + 2 * n + 1]
    for jj in range(n):
        c = 2 * jj
        best = r0[c]
        off = 0
        v = r0[c + 1]
        m = v > best
        best = v if m else best
        off = 1 if m else off
        v = r0[c + 2]
        m = v > best
        best = v if m else best
        off = 2 if m else off
        v = r1[c]
        m = v > best
        best = v if m else best
        off = W if m else off
        v = r1[c + 1]
        m = v > best
        best = v if m else best
        off = W + 1 if m else off
        v = r1[c + 2]
        m = v > best
        best = v if m else best
        off = W + 2 if m else off
        v = r2[c]
        m = v > best
        best = v if m else best
        off = 2 * W if m else off
        v = r2[c + 1]
        m = v > best
        best = v if m else best
        off = 2 * W + 1 if m else off
        v = r2[c + 2]
        m = v > best
        best = v if m else best
        off = 2 * W + 2 if m else off
        yo[jj] = best
        io[jj] = k0 + c + off


@njit(cache=True, nogil=True)
def _max_plane(plane, H, W, kh, kw, ph, pw, sh, sw, oh, ow, ilo, ihi, jlo, jhi, shape, yp, ip):
    """One plane of `max_pool_forward`."""
    for i in range(oh):
        h0 = i * sh - ph
        o = i * ow
        if ilo <= i < ihi:
            for j in range(jlo):
                yp[o + j], ip[o + j] = _max_window(plane, W, H, kh, kw, h0, j * sw - pw)
            k0 = h0 * W + jlo * sw - pw
            if shape == 2:
                _max_row_2x2s2(plane, W, k0, jhi - jlo, yp, ip, o + jlo)
            else:
                _max_row_3x3s2(plane, W, k0, jhi - jlo, yp, ip, o + jlo)
            for j in range(jhi, ow):
                yp[o + j], ip[o + j] = _max_window(plane, W, H, kh, kw, h0, j * sw - pw)
        else:
            for j in range(ow):
                yp[o + j], ip[o + j] = _max_window(plane, W, H, kh, kw, h0, j * sw - pw)


@njit(cache=True, parallel=True, nogil=True)
def max_pool_forward(x, kh, kw, ph, pw, sh, sw, y, index):
    """y = max over each clipped window (first maximum wins), index = flat h*W + w.

    Interior windows of 2x2/3x3 kernels with column stride 2: `_max_row_*` (straight-line
    selects over row slices); all other windows: `_max_window` (the clipped loop)."""
    N, C, H, W = x.shape
    oh, ow = y.shape[2], y.shape[3]
    xf = x.reshape(N * C, H * W)
    yf = y.reshape(N * C, oh * ow)
    idf = index.reshape(N * C, oh * ow)
    shape = 2 if kh == 2 and kw == 2 and sw == 2 else (3 if kh == 3 and kw == 3 and sw == 2 else 0)
    ilo, ihi = _interior(oh, kh, ph, sh, H)
    jlo, jhi = _interior(ow, kw, pw, sw, W)
    if shape == 0:
        ilo = ihi = 0
    for t in prange(N * C):
        _max_plane(
            xf[t], H, W, kh, kw, ph, pw, sh, sw, oh, ow, ilo, ihi, jlo, jhi, shape, yf[t], idf[t]
        )


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
def avg_pool_forward(x, kh, kw, ph, pw, sh, sw, inv, y):
    """y = Σ in-image cells of the window · inv[i, j] (1/divisor; 1/(kh*kw) by default)."""
    N, C, H, W = x.shape
    oh, ow = y.shape[2], y.shape[3]
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
                y[n, c, i, j] = acc * inv[i, j]


@njit(cache=True, parallel=True, nogil=True)
def avg_pool_backward(gy, kh, kw, ph, pw, sh, sw, inv, gx):
    """Every in-image cell of a window receives gy · inv[i, j] (gx is zeroed here first)."""
    N, C, H, W = gx.shape
    oh, ow = gy.shape[2], gy.shape[3]
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
                share = gy[n, c, i, j] * inv[i, j]
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        plane[h, w] += share
