"""Compiled loops of the row-wise convolution (`numba_backend.rowconv`); imported by
`runtime.loops("rowconv")` on first use only.

Layout "rows": a matrix [R, Hp*N*ow] whose columns are (padded row hh, image n, column j),
hh-major, so that the columns of kernel row p for every output row i (hh = i + p) form ONE
contiguous range [p*N*ow, (p+oh)*N*ow): a plain strided 2-D view for BLAS.
"""

from __future__ import annotations

from numba import njit, prange


@njit(cache=True, parallel=True, nogil=True)
def im2row(x, kw, ph, pw, ow, rows):
    """rows[c*kw + q, hh, n, j] = x[n, c, hh - ph, j - pw + q] (zeros outside the image), for
    hh in [0, H + 2ph): the im2col of one kernel row only (stride 1). Parallel over
    (channel, image) planes; fixed-trip inner loops with a bounds test, like `im2col`."""
    N, C, H, W = x.shape
    Hp = H + 2 * ph
    r4 = rows.reshape(C * kw, Hp, N, ow)
    for t in prange(C * N):
        c = t // N
        n = t - c * N
        plane = x[n, c]
        for q in range(kw):
            dst = r4[c * kw + q]
            for hh in range(Hp):
                d = dst[hh, n]
                h = hh - ph
                if h < 0 or h >= H:
                    for j in range(ow):
                        d[j] = 0.0
                    continue
                row = plane[h]
                for j in range(ow):
                    w = j - pw + q
                    if w >= 0 and w < W:
                        d[j] = row[w]
                    else:
                        d[j] = 0.0


@njit(cache=True, parallel=True, nogil=True)
def rows_to_nchw(Y, bias, y):
    """y[n, f, i, j] = Y[f, (i, n, j)] (+ bias[f] when bias has entries)."""
    N, F, oh, ow = y.shape
    Y4 = Y.reshape(F, oh, N, ow)
    add = bias.shape[0] > 0
    for t in prange(N * F):
        n = t // F
        f = t - n * F
        v = bias[f] if add else 0.0
        for i in range(oh):
            s = Y4[f, i, n]
            d = y[n, f, i]
            for j in range(ow):
                d[j] = s[j] + v


@njit(cache=True, parallel=True, nogil=True, fastmath={"reassoc"})
def nchw_to_rows_sum(gy, G, sums):
    """G[f, (i, n, j)] = gy[n, f, i, j] and sums[f, n] = Σ_{i,j} gy[n, f, i, j] (float64;
    `reassoc` lets the sum run in vector lanes, in a fixed order per machine)."""
    N, F, oh, ow = gy.shape
    G4 = G.reshape(F, oh, N, ow)
    for t in prange(N * F):
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
