"""Row-wise convolution of the Numba backend: im2col of one kernel row, then kh products.

im2col writes C·kh·kw values per output pixel (25x the input for a 5x5 kernel) and col2im
reads as many back. For stride-1 convolutions with many input channels the Numba backend
instead builds R = im2row(x): C·kw rows over the PADDED input rows, columns ordered
(padded row hh, image n, column j). The columns that kernel row p needs for every output
row i (hh = i + p) are then one contiguous range of R, so the kh kernel rows become kh
matrix products over shifted views of the same buffer, summed: the same FLOPs as im2col's
one product, kh times less gather traffic, and a buffer that stays in cache.

    forward:  Y[F, (i,n,j)] = Σ_p W_p @ R[:, (i+p, n, j)],      W_p[f, (c,q)] = w[f, c, p, q]
              y[n, f, i, j] = Y[f, (i,n,j)] + b[f]
    ∇W:       ∇W_pᵀ[(c,q), f] = R[:, (i+p, n, j)] @ Gᵀ,          G[f, (i,n,j)] = gy[n, f, i, j]
    ∇b:       Σ_{n,i,j} gy[n, f, i, j]  (summed while gy is reordered into G)
    ∇x:       dx[n,c,h,w] = Σ_{f,p,q} w[f,c,p,q] gy[n,f,h+ph-p, w+pw-q]: the forward of gy with
              the kernel flipped and transposed, wt[c,f,p',q'] = w[f,c,kh-1-p',kw-1-q'], and
              padding (kh-1-ph, kw-1-pw) — so no col2im at all.

`conv.conv_forward/conv_backward` use it when `eligible` (stride 1, one group,
C·kw ≥ `ROWS_MIN_K`, padding < kernel) and the layer does not keep the im2col columns.
Measured on CIFAR-10's conv2 (32 → 32 channels, 5x5, 16x16, batch 100, 1 thread): forward
11.9 → 9.6 ms. Narrow inputs (C·kw small, e.g. RGB) make the kh products too thin: im2col wins.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import mocha.plugins.backends.numba_backend.threads as threads
from mocha.plugins.backends.numba_backend.runtime import contiguous, loops

#: Fewest rows (C·kw) per kernel-row product for which the row-wise path is used.
ROWS_MIN_K = 128
#: The backward pass goes row-wise only for outputs at least this wide: on CIFAR-10's conv3
#: (8x8 outputs) the row-wise ∇x was slower than im2col's (10.1 vs 9.5 ms at 1 thread,
#: 7.4 vs 6.0 at 2), on conv2 (16x16) faster (19.2 vs 22.1 ms at 1 thread, even at 2).
ROWS_BACKWARD_MIN_WIDTH = 16
#: Fewest output columns (N·oh·ow) per product: below, the kh thin products cost more than
#: they save (conv3 of CIFAR-10, 8x8 outputs, forward at batch 1: 88 vs 64 µs; batch 8:
#: 382 vs 415 µs).
ROWS_MIN_COLUMNS = 512


def eligible(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    pad: tuple[int, int],
    stride: tuple[int, int],
    groups: int,
    backward: bool = False,
) -> bool:
    """Whether the row-wise path computes this convolution (see the module docstring)."""
    _F, Cg, kh, kw = w_shape
    ok = (
        tuple(stride) == (1, 1)
        and groups == 1
        and Cg * kw >= ROWS_MIN_K
        and kh > 1
        and 0 <= pad[0] < kh
        and 0 <= pad[1] < kw
    )
    oh, ow = x_shape[-2] + 2 * pad[0] - kh + 1, x_shape[-1] + 2 * pad[1] - kw + 1
    return (
        ok
        and x_shape[0] * oh * ow >= ROWS_MIN_COLUMNS
        and (not backward or ow >= ROWS_BACKWARD_MIN_WIDTH)
    )


def _products(
    backend: Any,
    x: np.ndarray,
    wp: np.ndarray,
    pad: tuple[int, int],
    oh: int,
    ow: int,
    bias: np.ndarray,
    y: np.ndarray,
) -> None:
    """y[n] = Σ_p wp[p] @ im2row(x)[:, shifted by p] (+ bias), chunk by chunk of the batch in
    one parallel region (`loops.rowconv.forward_chunks`); y is C-contiguous (N, F, oh, ow)."""
    N, C, H = x.shape[:3]
    kh, F, R = wp.shape
    Hp = H + 2 * pad[0]
    dtype = x.dtype
    plan = threads.plan_chunks(
        backend, N, R * Hp * ow * dtype.itemsize, 2.0 * N * F * kh * R * oh * ow
    )
    L = plan.largest * ow
    Rs = backend.workspace("rows", (plan.threads, R * Hp * L), dtype)
    Ys = backend.workspace("rows_y", (plan.threads, F * oh * L), dtype)
    threads.run_plan(
        plan, loops("rowconv").forward_chunks, x, wp, *pad, oh, ow, bias, plan.bounds, Rs, Ys, y
    )


def forward(
    backend: Any, x: np.ndarray, w: np.ndarray, b: Any, pad: tuple[int, int], y: np.ndarray
) -> None:
    """y = conv(x, w) + b, stride 1, into the C-contiguous y (N, F, oh, ow)."""
    F, C, kh, kw = w.shape
    wp = np.ascontiguousarray(w.transpose(2, 0, 1, 3)).reshape(kh, F, C * kw)
    bias = np.zeros(0, x.dtype) if b is None else contiguous(b, x.dtype).reshape(F)
    _products(backend, x, wp, pad, y.shape[2], y.shape[3], bias, y)


def backward(
    backend: Any,
    x: np.ndarray,
    w: np.ndarray,
    gy: np.ndarray,
    pad: tuple[int, int],
    dw: np.ndarray,
    db: np.ndarray,
    dx: Any,
) -> None:
    """∇W into dw (F, C, kh, kw), ∇b ADDED to db (F,), ∇x into dx (or skipped when None);
    all C-contiguous, x and gy C-contiguous."""
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    oh, ow = gy.shape[2:]
    R, Hp, dtype = C * kw, H + 2 * pad[0], x.dtype
    plan = threads.plan_chunks(
        backend, N, R * Hp * ow * dtype.itemsize, 2.0 * N * F * kh * R * oh * ow
    )
    L = plan.largest * ow
    Rs = backend.workspace("rows", (plan.threads, R * Hp * L), dtype)
    Gs = backend.workspace("rows_g", (plan.threads, F * oh * L), dtype)
    parts, rowsums = threads.chunk_partials(backend, "rows_dwt", plan, (kh, R, F), dtype, F)
    threads.run_plan(
        plan, loops("rowconv").backward_chunks, x, gy, kw, *pad, plan.bounds, Rs, Gs, parts, rowsums
    )
    dwt = threads.reduce_partials(parts, rowsums, db)
    dw[...] = dwt.reshape(kh, C, kw, F).transpose(3, 1, 0, 2)
    if dx is not None:
        flipped = w[:, :, ::-1, ::-1]  # wt[c, f, p', q'] = w[f, c, kh-1-p', kw-1-q']
        wtp = np.ascontiguousarray(flipped.transpose(2, 1, 0, 3)).reshape(kh, C, F * kw)
        _products(
            backend, gy, wtp, (kh - 1 - pad[0], kw - 1 - pad[1]), H, W, np.zeros(0, dtype), dx
        )
