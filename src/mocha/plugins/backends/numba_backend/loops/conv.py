"""Compiled loops of the Numba backend's convolution (`numba_backend.conv`): im2col, col2im and
the reorders between the matrix-product layout (F, N, S) and NCHW.

Like every module of `loops/`, this one imports numba at the top and is imported only by
`runtime.loops("conv")`, on the first kernel call. Every loop is `@njit(cache=True)`, so a
second process loads the machine code from numba's on-disk cache instead of compiling; the
parallel ones are also `nogil=True`, so the convolution's chunk threads (`threads`) run them
side by side. The loops work on C-contiguous arrays and write into arrays given by the caller;
the layout is exactly that of the generic kernels (`generic.conv`), which the tests compare
them with.
"""

from __future__ import annotations

from numba import njit, prange


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
