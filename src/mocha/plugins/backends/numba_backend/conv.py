"""Convolution kernels of the Numba backend: im2col / col2im, conv_forward, conv_backward
(the compiled loops are in `loops/conv.py`).

A convolution is one compiled parallel region over cache-sized chunks of the mini-batch
(`loops.conv.forward_chunks` / `backward_chunks`, planned by `threads`): each chunk, on one
thread, is an im2col into that thread's workspace, one BLAS product per group (NumPy's BLAS
at one thread, called from the compiled code: `loops/blas.py`), and one pass that reorders
and adds the bias straight into the caller's `out`. With a `cache` dict (the convolution layer
keeps one per bottom) the columns of the whole batch are kept there (when they fit
`conv_keep_cols_bytes`) and the backward pass reuses them instead of a second im2col; it then
overwrites them with the column gradient, which `col2im` sums back. Stride-1 convolutions
over many input channels whose columns are not kept take the row-wise path of `rowconv`
instead. The gather and scatter loops go through a zero-padded scratch plane, so their inner
loops are plain copies and sums without bounds tests (`loops/conv.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import mocha.plugins.backends.numba_backend.rowconv as rowconv
import mocha.plugins.backends.numba_backend.threads as threads
from mocha.core.backend import write_into
from mocha.plugins.backends.numba_backend.runtime import Pair, contiguous, loops, out_or, run


def _out_size(size: int, kernel: int, pad: int, stride: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def _conv_geometry(shape: tuple[int, ...], kernel: Pair, pad: Pair, stride: Pair):
    H, W = shape[-2:]
    oh, ow = (
        _out_size(H, kernel[0], pad[0], stride[0]),
        _out_size(W, kernel[1], pad[1], stride[1]),
    )
    if oh < 1 or ow < 1:
        raise ValueError(f"kernel {kernel} with pad {pad} does not fit an image of {H}x{W}")
    return oh, ow


# -- convolution -----------------------------------------------------------------------------
def im2col(backend: Any, x: Any, kernel: Pair, pad: Pair, stride: Pair) -> np.ndarray:
    """x[C,H,W] -> col[C*kh*kw, oh*ow] or x[N,C,H,W] -> col[C*kh*kw, N*oh*ow] (as generic)."""
    x4 = contiguous(x[None] if x.ndim == 3 else x)
    oh, ow = _conv_geometry(x4.shape, kernel, pad, stride)
    N, C = x4.shape[:2]
    col = np.empty((C * kernel[0] * kernel[1], N * oh * ow), dtype=x4.dtype)
    run(loops("conv").im2col, col.size, x4, *kernel, *pad, *stride, oh, ow, col)
    return col


def col2im(
    backend: Any, col: Any, x_shape: tuple[int, ...], kernel: Pair, pad: Pair, stride: Pair
) -> np.ndarray:
    """Adjoint of `im2col` (overlaps sum) back to an image of `x_shape` (3-D or 4-D)."""
    single = len(x_shape) == 3
    shape4 = (1, *x_shape) if single else tuple(x_shape)
    oh, ow = _conv_geometry(shape4, kernel, pad, stride)
    col = contiguous(col).reshape(shape4[1] * kernel[0] * kernel[1], -1)
    x = np.empty(shape4, dtype=col.dtype)
    run(loops("conv").col2im, col.size, col, *kernel, *pad, *stride, oh, ow, x)
    return x[0] if single else x


def _cache_key(x: np.ndarray, kernel: Pair, pad: Pair, stride: Pair) -> tuple:
    return (
        x.ctypes.data,
        x.shape,
        x.strides,
        x.dtype.str,
        tuple(kernel),
        tuple(pad),
        tuple(stride),
    )


def _cached_cols(cache: Any, size: int, dtype: np.dtype) -> np.ndarray:
    """The caller-owned flat buffer for the columns of a whole batch (grown as needed)."""
    buf = cache.get("cols")
    if buf is None or buf.size < size or buf.dtype != dtype:
        buf = np.empty(size, dtype=dtype)
        cache["cols"] = buf
    return buf


def conv_forward(
    backend: Any,
    x: Any,
    w: Any,
    b: Any,
    pad: Pair,
    stride: Pair,
    groups: int,
    out: Any = None,
    cache: Any = None,
) -> np.ndarray:
    """Grouped cross-correlation plus bias (see `generic.conv.conv_forward`); `out` optional.

    One compiled parallel region over chunks of the batch (`loops.conv.forward_chunks`): per
    chunk, im2col into a per-thread workspace, one GEMM per group into Y[F, B*oh*ow], then one
    pass y[n, f] = Y[f, n] + b[f]. With a `cache` dict the columns go to a buffer kept in it
    instead (one contiguous block per chunk), and `conv_backward` with the same cache and the
    same (unchanged) x reuses them."""
    dtype = np.result_type(x.dtype, w.dtype)
    x, w = contiguous(x, dtype), contiguous(w, dtype)
    N, C = x.shape[:2]
    F, Cg, kh, kw = w.shape
    oh, ow = _conv_geometry(x.shape, (kh, kw), pad, stride)
    K, S = Cg * kh * kw, oh * ow
    wm = w.reshape(F, K)
    y = out_or(out, (N, F, oh, ow), dtype)
    bias = np.zeros(0, dtype) if b is None else contiguous(b, dtype).reshape(F)
    CK = C * kh * kw
    if cache is not None and N * CK * S * dtype.itemsize > getattr(
        backend, "conv_keep_cols_bytes", 1 << 62
    ):
        cache["key"] = None
        cache.pop("cols", None)
        cache = None
    if cache is None and rowconv.eligible(x.shape, w.shape, pad, stride, groups):
        rowconv.forward(backend, x, w, b, pad, y)
        return write_into(out, y)
    plan = threads.plan_chunks(backend, N, CK * S * dtype.itemsize, 2.0 * N * F * K * S)
    B = plan.largest
    if cache is not None:
        cache["key"] = None
        cols = _cached_cols(cache, N * CK * S, dtype).reshape(1, -1)
    else:
        cols = backend.workspace("col", (plan.threads, CK * B * S), dtype)
    Ys = backend.workspace("conv_y", (plan.threads, F * B * S), dtype)
    threads.run_plan(
        plan,
        loops("conv").forward_chunks,
        x, wm, bias, groups, kh, kw, *pad, *stride, oh, ow, plan.bounds, cols,
        cache is not None, Ys, y,
    )  # fmt: skip
    if cache is not None:
        # the columns are laid out chunk by chunk of THIS plan: the backward pass must walk
        # the same chunks (its own plan may cut the batch differently)
        cache["chunks"] = plan.chunks
        cache["key"] = _cache_key(x, (kh, kw), pad, stride)
    return write_into(out, y)


def conv_backward(
    backend: Any,
    x: Any,
    w: Any,
    gy: Any,
    pad: Pair,
    stride: Pair,
    groups: int,
    need_dx: bool = True,
    out: Any = None,
    cache: Any = None,
) -> tuple[Any, np.ndarray, np.ndarray]:
    """(dx | None, dw, db) of `conv_forward` (see `generic.conv.conv_backward`).

    `out` = (dx | None, dw | None, db | None) are written directly where their layout allows
    (else copied into). With the `cache` of the `conv_forward` of this very x, its columns are
    reused instead of a second im2col (the column buffer then holds dcol, so the cache entry is
    dropped when dx is computed).

    One compiled parallel region over chunks of the batch (`loops.conv.backward_chunks`): per
    chunk G = gy reordered, ∇W_gᵀ partial = col_g @ G_gᵀ, dcol_g = W_gᵀ @ G_g written over the
    columns, col2im into the chunk of dx; the ∇W and ∇b partials are summed here in chunk
    order, so the result does not depend on which thread ran which chunk."""
    dtype = np.result_type(x.dtype, w.dtype, gy.dtype)
    x, w, gy = contiguous(x, dtype), contiguous(w, dtype), contiguous(gy, dtype)
    N, C = x.shape[:2]
    F, Cg, kh, kw = w.shape
    oh, ow = gy.shape[2:]
    K, S, Fg = Cg * kh * kw, oh * ow, F // groups
    o_dx, o_dw, o_db = (None, None, None) if out is None else out
    dw4 = out_or(o_dw, w.shape, dtype)
    dw = dw4.reshape(F, K)
    db = out_or(o_db, (F,), dtype, fill=True)
    dx = out_or(o_dx, x.shape, dtype) if need_dx else None
    CK = C * kh * kw
    flops = 2.0 * N * F * K * S * (2 if need_dx else 1)
    kept = cache is not None and cache.get("key") == _cache_key(x, (kh, kw), pad, stride)
    if kept:
        # the chunks the forward pass laid the cached columns out by
        plan = threads.plan_over(cache["chunks"], flops)
        cols = cache["cols"].reshape(1, -1)
        if need_dx:
            cache["key"] = None
    elif rowconv.eligible(x.shape, w.shape, pad, stride, groups, backward=True):
        rowconv.backward(backend, x, w, gy, pad, dw4, db, dx)
        return _finish((dx, dw4, db), (o_dx, o_dw, o_db))
    else:
        plan = threads.plan_chunks(backend, N, CK * S * dtype.itemsize, flops)
    B = plan.largest
    if not kept:
        cols = backend.workspace("col", (plan.threads, CK * B * S), dtype)
    Gs = backend.workspace("conv_y", (plan.threads, F * B * S), dtype)
    parts, rowsums = threads.chunk_partials(backend, "conv_dwt", plan, (groups, K, Fg), dtype, F)
    threads.run_plan(
        plan,
        loops("conv").backward_chunks,
        x, w.reshape(F, K), gy, groups, kh, kw, *pad, *stride, plan.bounds, cols, kept, Gs,
        parts, rowsums, need_dx, x if dx is None else dx,
    )  # fmt: skip
    dwt = threads.reduce_partials(parts, rowsums, db)
    for g in range(groups):
        dw[g * Fg : (g + 1) * Fg] = dwt[g].T
    return _finish((dx, dw4, db), (o_dx, o_dw, o_db))


def _finish(res: tuple, outs: tuple) -> tuple[Any, np.ndarray, np.ndarray]:
    """The results, copied into the caller's `out` arrays they were not written into."""
    done = [r if r is None else write_into(o, r) for r, o in zip(res, outs)]
    return done[0], done[1], done[2]


KERNELS: dict[str, Callable[..., Any]] = {
    "im2col": im2col,
    "col2im": col2im,
    "conv_forward": conv_forward,
    "conv_backward": conv_backward,
}
