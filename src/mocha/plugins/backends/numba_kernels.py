"""Numba-compiled loops of the Numba CPU backend (imported on the first kernel call only).

This module imports numba at the top, so nothing imports it eagerly: `numba_backend` loads it
the first time a kernel runs. Every function here is `@njit(cache=True)`, so a second process
loads the machine code from numba's cache instead of compiling (first iteration well within
a second or two once the cache is warm). The parallel loops are also `nogil=True`: the
convolution's chunk threads (`numba_threads`) run them side by side.

The loops work on C-contiguous NCHW arrays and write into arrays given by the caller; the
Python wrappers in `numba_conv` and `numba_ops` choose the outputs and the cached workspaces.
Layout and semantics are exactly those of the generic kernels (`kernels_conv`,
`kernels_pool`, `kernels_lrn`, `numpy_backend.softmax`), which the tests compare them with.
"""

from __future__ import annotations

import math

from numba import njit, prange


# -- convolution ---------------------------------------------------------------------------
@njit(cache=True, parallel=True, nogil=True)
def im2col(x, kh, kw, ph, pw, sh, sw, oh, ow, col):
    """col[C*kh*kw, N*oh*ow] (row (c*kh+p)*kw+q, column (n*oh+i)*ow+j) of x[N,C,H,W];
    zeros where a window reads the padding. Parallel over (channel, image) planes; like
    `col2im`, fixed-trip inner loops with a bounds test (2-3x NumPy's strided copy)."""
    N, C, H, W = x.shape
    S = oh * ow
    col4 = col.reshape(C, kh * kw, N, S)
    for t in prange(C * N):
        c = t // N
        n = t - c * N
        plane = x[n, c]
        for p in range(kh):
            for q in range(kw):
                dst = col4[c, p * kw + q, n]
                for i in range(oh):
                    h = i * sh - ph + p
                    if h < 0 or h >= H:
                        for j in range(ow):
                            dst[i * ow + j] = 0.0
                        continue
                    row = plane[h]
                    for j in range(ow):
                        w = j * sw - pw + q
                        if w >= 0 and w < W:
                            dst[i * ow + j] = row[w]
                        else:
                            dst[i * ow + j] = 0.0


@njit(cache=True, parallel=True, nogil=True)
def col2im(col, kh, kw, ph, pw, sh, sw, oh, ow, x):
    """The adjoint of im2col: x[n, c] = Σ of the column entries that read each cell.

    col is [C*kh*kw, N*oh*ow] (row (c*kh+p)*kw+q, column (n*oh+i)*ow+j); x is overwritten.
    Parallel over (channel, image) planes; each plane sums its kh*kw column segments in
    (p, q) order. The per-element bounds test with the fixed trip count ow compiles to
    faster code than precomputed clipped ranges (LeNet conv2: 2.3 -> 0.6 ms at 1 thread)."""
    N, C, H, W = x.shape
    S = oh * ow
    col4 = col.reshape(C, kh * kw, N, S)
    for t in prange(C * N):
        c = t // N
        n = t - c * N
        plane = x[n, c]
        plane[:, :] = 0.0
        for p in range(kh):
            for q in range(kw):
                src = col4[c, p * kw + q, n]
                for i in range(oh):
                    h = i * sh - ph + p
                    if h < 0 or h >= H:
                        continue
                    row = plane[h]
                    for j in range(ow):
                        w = j * sw - pw + q
                        if w >= 0 and w < W:
                            row[w] += src[i * ow + j]


@njit(cache=True, parallel=True, nogil=True)
def swap01(src, bias, dst):
    """dst[a, b, :] = src[b, a, :] (+ bias[a] when bias has entries): the reorders between the
    GEMM layout (F, N, S) and NCHW (N, F, S), parallel over the rows of dst."""
    A, B, S = dst.shape
    add = bias.shape[0] > 0
    for t in prange(A * B):
        a = t // B
        b = t - a * B
        d = dst[a, b]
        s = src[b, a]
        if add:
            v = bias[b]
            for k in range(S):
                d[k] = s[k] + v
        else:
            for k in range(S):
                d[k] = s[k]


@njit(cache=True, parallel=True, nogil=True, fastmath={"reassoc"})
def swap01_rowsum(src, dst, sums):
    """dst[a, b, :] = src[b, a, :] and sums[a, b] = Σ_k src[b, a, k] (float64 accumulation):
    the convolution's top gradient reordered to the GEMM layout, with the bias gradient's
    partial sums taken in the same parallel pass. `reassoc` lets the sum run in vector lanes
    (a sequential float64 chain was slower than the copy itself); the order is fixed per
    machine, so results stay reproducible."""
    A, B, S = dst.shape
    for t in prange(A * B):
        a = t // B
        b = t - a * B
        d = dst[a, b]
        s = src[b, a]
        acc = 0.0
        for k in range(S):
            v = s[k]
            d[k] = v
            acc += v
        sums[a, b] = acc


# -- pooling -------------------------------------------------------------------------------
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


# -- softmax -------------------------------------------------------------------------------
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


# -- local response normalization -----------------------------------------------------------
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
