"""Compiled loops of the Numba backend's convolution (`numba_backend.conv`): im2col, col2im and
the reorders between the matrix-product layout (F, N, S) and NCHW.

Like every module of `loops/`, this one imports numba at the top and is imported only by
`runtime.loops("conv")`, on the first kernel call. Every loop is `@njit(cache=True)`, so a
second process loads the machine code from numba's on-disk cache instead of compiling; the
parallel ones are also `nogil=True`, so several Python threads may run them
side by side. The loops work on C-contiguous arrays and write into arrays given by the caller;
the layout is exactly that of the generic kernels (`generic.conv`), which the tests compare
them with.

Each loop exists as a serial core (`_…_serial`, one thread) and a parallel wrapper over the same
planes. `forward_chunks` / `backward_chunks` run a whole convolution as one parallel region
over chunks of the batch, each chunk start to finish on one thread with the serial cores and
`blas.gemm` (NumPy's BLAS at one thread): no Python, no GIL and no thread hand-over between
the gather, the products and the reorder.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from .blas import gemm


@njit(cache=True, nogil=True)
def _padded_plane(x, kh, kw, ph, pw, sh, sw, oh, ow):
    """A zeroed scratch plane large enough for the padded image and every window: the
    im2col / col2im cores copy an image into its interior (its border stays zero) or sum a
    plane's columns into it, so their inner loops need no bounds test."""
    Hp = max((oh - 1) * sh + kh, x.shape[2] + 2 * ph)
    Wp = max((ow - 1) * sw + kw, x.shape[3] + 2 * pw)
    return np.zeros((Hp, Wp), dtype=x.dtype)


@njit(cache=True, nogil=True)
def _im2col_planes(x, kh, kw, ph, pw, sh, sw, oh, ow, col, t, buf):
    """Plane t = (channel c, image n) of `im2col`, through `buf` (`_padded_plane`): the image
    is copied into its interior, then every (p, q) row segment of the columns is a plain copy
    of a padded row (a contiguous slice when sw == 1). 1.4-4x faster than a bounds test per
    element (LeNet conv2, 16 images: 0.60-0.75 -> 0.43 ms; CIFAR-10 conv1, 8 images: 0.43-0.61
    -> 0.14 ms)."""
    N, C, H, W = x.shape
    S = oh * ow
    col4 = col.reshape(C, kh * kw, N, S)
    c = t // N
    n = t - c * N
    plane = x[n, c]
    for h in range(H):
        d = buf[h + ph, pw : pw + W]
        s = plane[h]
        for w in range(W):
            d[w] = s[w]
    for p in range(kh):
        for q in range(kw):
            dst = col4[c, p * kw + q, n]
            for i in range(oh):
                row = buf[i * sh + p]
                base = i * ow
                if sw == 1:
                    seg = row[q : q + ow]
                    out = dst[base : base + ow]
                    for j in range(ow):
                        out[j] = seg[j]
                else:
                    for j in range(ow):
                        dst[base + j] = row[j * sw + q]


@njit(cache=True, parallel=True, nogil=True)
def im2col(x, kh, kw, ph, pw, sh, sw, oh, ow, col):
    """col[C*kh*kw, N*oh*ow] (row (c*kh+p)*kw+q, column (n*oh+i)*ow+j) of x[N,C,H,W];
    zeros where a window reads the padding. Parallel over (channel, image) planes."""
    for t in prange(x.shape[0] * x.shape[1]):
        buf = _padded_plane(x, kh, kw, ph, pw, sh, sw, oh, ow)
        _im2col_planes(x, kh, kw, ph, pw, sh, sw, oh, ow, col, t, buf)


@njit(cache=True, nogil=True)
def _im2col_serial(x, kh, kw, ph, pw, sh, sw, oh, ow, col):
    buf = _padded_plane(x, kh, kw, ph, pw, sh, sw, oh, ow)
    for t in range(x.shape[0] * x.shape[1]):
        _im2col_planes(x, kh, kw, ph, pw, sh, sw, oh, ow, col, t, buf)


@njit(cache=True, nogil=True)
def _col2im_planes(col, kh, kw, ph, pw, sh, sw, oh, ow, x, t, acc):
    """Plane t = (channel c, image n) of `col2im`: its kh*kw column segments are summed, in
    (p, q) order, into the padded scratch plane `acc` (no bounds test, contiguous slices when
    sw == 1), whose interior is then copied to x[n, c]. Every cell receives the same terms in
    the same order as a bounds-tested sum straight into x, 2-6x faster (LeNet conv2, 16
    images: 1.1-1.3 -> 0.3-0.6 ms; CIFAR-10 conv3, 10 images: 1.2 -> 0.6 ms)."""
    N, C, H, W = x.shape
    S = oh * ow
    col4 = col.reshape(C, kh * kw, N, S)
    c = t // N
    n = t - c * N
    acc[:, :] = 0.0
    for p in range(kh):
        for q in range(kw):
            src = col4[c, p * kw + q, n]
            for i in range(oh):
                row = acc[i * sh + p]
                base = i * ow
                if sw == 1:
                    seg = row[q : q + ow]
                    s = src[base : base + ow]
                    for j in range(ow):
                        seg[j] += s[j]
                else:
                    for j in range(ow):
                        row[j * sw + q] += src[base + j]
    plane = x[n, c]
    for h in range(H):
        a = acc[h + ph, pw : pw + W]
        d = plane[h]
        for w in range(W):
            d[w] = a[w]


@njit(cache=True, parallel=True, nogil=True)
def col2im(col, kh, kw, ph, pw, sh, sw, oh, ow, x):
    """The adjoint of im2col: x[n, c] = Σ of the column entries that read each cell.

    col is [C*kh*kw, N*oh*ow] (row (c*kh+p)*kw+q, column (n*oh+i)*ow+j); x is overwritten.
    Parallel over (channel, image) planes."""
    for t in prange(x.shape[0] * x.shape[1]):
        acc = _padded_plane(x, kh, kw, ph, pw, sh, sw, oh, ow)
        _col2im_planes(col, kh, kw, ph, pw, sh, sw, oh, ow, x, t, acc)


@njit(cache=True, nogil=True)
def _col2im_serial(col, kh, kw, ph, pw, sh, sw, oh, ow, x):
    acc = _padded_plane(x, kh, kw, ph, pw, sh, sw, oh, ow)
    for t in range(x.shape[0] * x.shape[1]):
        _col2im_planes(col, kh, kw, ph, pw, sh, sw, oh, ow, x, t, acc)


@njit(cache=True, nogil=True)
def _swap01_serial(src, bias, dst):
    """dst[a, b, :] = src[b, a, :] (+ bias[b] when bias has entries)."""
    A, B, S = dst.shape
    add = bias.shape[0] > 0
    for a in range(A):
        for b in range(B):
            d = dst[a, b]
            s = src[b, a]
            if add:
                v = bias[b]
                for k in range(S):
                    d[k] = s[k] + v
            else:
                for k in range(S):
                    d[k] = s[k]


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _swap01_rowsum_serial(src, dst, sums):
    """dst[a, b, :] = src[b, a, :] and sums[a, b] = Σ_k src[b, a, k] (float64 accumulation):
    the convolution's top gradient reordered to the GEMM layout, with the bias gradient's
    partial sums taken in the same pass. `reassoc` lets the sum run in vector lanes (a
    sequential float64 chain was slower than the copy itself); the order is fixed per machine,
    so results stay reproducible."""
    A, B, S = dst.shape
    for a in range(A):
        for b in range(B):
            d = dst[a, b]
            s = src[b, a]
            acc = 0.0
            for k in range(S):
                v = s[k]
                d[k] = v
                acc += v
            sums[a, b] = acc


# -- whole convolutions: one parallel region over chunks of the batch --------------------------
@njit(cache=True, parallel=True, nogil=True)
def forward_chunks(x, wm, bias, groups, kh, kw, ph, pw, sh, sw, oh, ow, bounds, cols, kept, Ys, y):
    """y = conv(x, w) + bias over the chunks [bounds[c], bounds[c+1]) of the batch, in parallel.

    Per chunk: col = im2col(x chunk); Y_g = W_g @ col_g per group (`gemm`); y chunk = Y
    reordered to NCHW plus the bias. `kept`: cols[0] is the buffer of the whole batch's
    columns (chunk c at offset bounds[c]·CK·S, kept for the backward pass); else cols[t] is
    thread t's scratch. Ys[t]: thread t's product buffer. y is C-contiguous."""
    C = x.shape[1]
    F, K = wm.shape
    CK, S, Fg = C * kh * kw, oh * ow, F // groups
    for c in prange(bounds.shape[0] - 1):
        n0, n1 = bounds[c], bounds[c + 1]
        nb = n1 - n0
        t = numba.get_thread_id()
        if kept:
            col = cols[0, n0 * CK * S : n1 * CK * S].reshape(CK, nb * S)
        else:
            col = cols[t, : CK * nb * S].reshape(CK, nb * S)
        Y = Ys[t, : F * nb * S].reshape(F, nb * S)
        _im2col_serial(x[n0:n1], kh, kw, ph, pw, sh, sw, oh, ow, col)
        for g in range(groups):
            fs, ks = slice(g * Fg, (g + 1) * Fg), slice(g * K, (g + 1) * K)
            gemm(wm[fs], col[ks], Y[fs], 1.0, 0.0)
        _swap01_serial(Y.reshape(F, nb, S), bias, y[n0:n1].reshape(nb, F, S))


@njit(cache=True, parallel=True, nogil=True)
def backward_chunks(
    x, wm, gy, groups, kh, kw, ph, pw, sh, sw, bounds, cols, kept, Gs, parts, rowsums, need_dx, dx
):
    """The gradients of `forward_chunks`, chunk by chunk in parallel:

        G = gy reordered to (F, n·S), rowsums[c, f, n] = Σ_s gy[n, f, s]  (∇b partial sums)
        parts[c, g] = col_g @ G_gᵀ  (∇W_gᵀ of chunk c, K×Fg: colᵀ-major, 1.5-2x faster in
                                     OpenBLAS than G_g @ col_gᵀ for these thin shapes)
        dcol_g = W_gᵀ @ G_g over the columns' buffer, then col2im into dx (when need_dx)

    `kept`: cols[0] holds the forward pass's columns of the whole batch (laid out by these
    same bounds); else cols[t] is thread t's scratch and the columns are gathered again.
    The caller sums parts and rowsums over c in chunk order (reproducible)."""
    C = x.shape[1]
    F, K = wm.shape
    oh, ow = gy.shape[2], gy.shape[3]
    CK, S, Fg = C * kh * kw, oh * ow, F // groups
    for c in prange(bounds.shape[0] - 1):
        n0, n1 = bounds[c], bounds[c + 1]
        nb = n1 - n0
        t = numba.get_thread_id()
        G = Gs[t, : F * nb * S].reshape(F, nb * S)
        _swap01_rowsum_serial(gy[n0:n1].reshape(nb, F, S), G.reshape(F, nb, S), rowsums[c])
        if kept:
            col = cols[0, n0 * CK * S : n1 * CK * S].reshape(CK, nb * S)
        else:
            col = cols[t, : CK * nb * S].reshape(CK, nb * S)
            _im2col_serial(x[n0:n1], kh, kw, ph, pw, sh, sw, oh, ow, col)
        for g in range(groups):
            fs, ks = slice(g * Fg, (g + 1) * Fg), slice(g * K, (g + 1) * K)
            gemm(col[ks], G[fs].T, parts[c, g], 1.0, 0.0)
        if need_dx:
            for g in range(groups):
                fs, ks = slice(g * Fg, (g + 1) * Fg), slice(g * K, (g + 1) * K)
                gemm(wm[fs].T, G[fs], col[ks], 1.0, 0.0)
            _col2im_serial(col, kh, kw, ph, pw, sh, sw, oh, ow, dx[n0:n1])
