"""Compiled loops of the row-wise convolution (`numba_backend.rowconv`); imported by
`runtime.loops("rowconv")` on first use only.

Layout "rows": a matrix [R, Hp*N*ow] whose columns are (padded row hh, image n, column j),
hh-major, so that the columns of kernel row p for every output row i (hh = i + p) form ONE
contiguous range [p*N*ow, (p+oh)*N*ow): a plain strided 2-D view for BLAS.

Like `loops/conv.py`: serial cores per plane, and `forward_chunks` / `backward_chunks` run a
whole row-wise convolution as one parallel region over chunks of the batch.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from .blas import gemm


@njit(cache=True, nogil=True)
def _im2row(x, kw, ph, pw, ow, rows):
    """rows[c*kw + q, hh, n, j] = x[n, c, hh - ph, j - pw + q] (zeros outside the image), for
    hh in [0, H + 2ph): the im2col of one kernel row only (stride 1), plane by plane. Each
    image row is copied once into a zero-padded scratch row, and every (q, hh) segment is then
    a plain slice copy (no bounds test per element, as in `conv._im2col_planes`)."""
    N, C, H, W = x.shape
    Hp = H + 2 * ph
    r4 = rows.reshape(C * kw, Hp, N, ow)
    padded = np.zeros(max(W + 2 * pw, ow + kw - 1), dtype=x.dtype)
    for t in range(C * N):
        c = t // N
        n = t - c * N
        plane = x[n, c]
        for hh in range(Hp):
            h = hh - ph
            if h < 0 or h >= H:
                for q in range(kw):
                    d = r4[c * kw + q, hh, n]
                    for j in range(ow):
                        d[j] = 0.0
                continue
            inner = padded[pw : pw + W]
            row = plane[h]
            for w in range(W):
                inner[w] = row[w]
            for q in range(kw):
                d = r4[c * kw + q, hh, n]
                seg = padded[q : q + ow]
                for j in range(ow):
                    d[j] = seg[j]


@njit(cache=True, nogil=True)
def _rows_to_nchw(Y, bias, y):
    """y[n, f, i, j] = Y[f, (i, n, j)] (+ bias[f] when bias has entries)."""
    N, F, oh, ow = y.shape
    Y4 = Y.reshape(F, oh, N, ow)
    add = bias.shape[0] > 0
    for t in range(N * F):
        n = t // F
        f = t - n * F
        v = bias[f] if add else 0.0
        for i in range(oh):
            s = Y4[f, i, n]
            d = y[n, f, i]
            for j in range(ow):
                d[j] = s[j] + v


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _nchw_to_rows_sum(gy, G, sums):
    """G[f, (i, n, j)] = gy[n, f, i, j] and sums[f, n] = Σ_{i,j} gy[n, f, i, j] (float64;
    `reassoc` lets the sum run in vector lanes, in a fixed order per machine)."""
    N, F, oh, ow = gy.shape
    G4 = G.reshape(F, oh, N, ow)
    for t in range(N * F):
        n = t // F
        f = t - n * F
        acc = 0.0
        for i in range(oh):
            s = gy[n, f, i]
            d = G4[f, i, n]
            for j in range(ow):
                v = s[j]
                d[j] = v
                acc += v
        sums[f, n] = acc


@njit(cache=True, parallel=True, nogil=True)
def forward_chunks(x, wp, ph, pw, oh, ow, bias, bounds, Rs, Ys, y):
    """y[n] = Σ_p wp[p] @ im2row(x)[:, shifted by p] (+ bias) over the chunks
    [bounds[c], bounds[c+1]) of the batch in parallel; Rs[t], Ys[t]: thread t's scratch for
    the rows and the product; y C-contiguous (N, F, oh, ow)."""
    N, C, H = x.shape[:3]
    kh, F, R = wp.shape
    kw = R // C
    Hp = H + 2 * ph
    for c in prange(bounds.shape[0] - 1):
        n0, n1 = bounds[c], bounds[c + 1]
        L = (n1 - n0) * ow  # columns per padded row
        t = numba.get_thread_id()
        rows = Rs[t, : R * Hp * L].reshape(R, Hp * L)
        _im2row(x[n0:n1], kw, ph, pw, ow, rows)
        Y = Ys[t, : F * oh * L].reshape(F, oh * L)
        gemm(wp[0], rows[:, : oh * L], Y, 1.0, 0.0)
        for p in range(1, kh):
            gemm(wp[p], rows[:, p * L : (p + oh) * L], Y, 1.0, 1.0)
        _rows_to_nchw(Y, bias, y[n0:n1])


@njit(cache=True, parallel=True, nogil=True)
def backward_chunks(x, gy, kw, ph, pw, bounds, Rs, Gs, parts, rowsums):
    """∇W and ∇b partials of chunk c, in parallel over the chunks: G = gy reordered to
    (F, (i, n, j)) with rowsums[c, f, n] = Σ_{i,j} gy[n, f, i, j]; rows = im2row(x chunk);
    parts[c, p] = rows[:, shifted by p] @ Gᵀ (∇W_pᵀ of the chunk). The caller sums over c in
    chunk order."""
    N, C, H = x.shape[:3]
    F, oh, ow = gy.shape[1], gy.shape[2], gy.shape[3]
    kh = parts.shape[1]
    R = C * kw
    Hp = H + 2 * ph
    for c in prange(bounds.shape[0] - 1):
        n0, n1 = bounds[c], bounds[c + 1]
        L = (n1 - n0) * ow
        t = numba.get_thread_id()
        G = Gs[t, : F * oh * L].reshape(F, oh * L)
        _nchw_to_rows_sum(gy[n0:n1], G, rowsums[c])
        rows = Rs[t, : R * Hp * L].reshape(R, Hp * L)
        _im2row(x[n0:n1], kw, ph, pw, ow, rows)
        for p in range(kh):
            gemm(rows[:, p * L : (p + oh) * L], G.T, parts[c, p], 1.0, 0.0)
