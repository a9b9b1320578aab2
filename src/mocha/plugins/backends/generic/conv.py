"""Generic (`xp`) convolution kernels: im2col, col2im, conv_forward, conv_backward.

They are written with the backend's array module only (NumPy or CuPy) and registered for every
backend (`"*"`, by `generic`); a faster backend registers its own versions under the same
names.

Column layout
-------------
`im2col` turns a batch `x[N, C, H, W]` into `col[C*kh*kw, N*oh*ow]` whose row
`(c*kh + p)*kw + q` and column `(n*oh + i)*ow + j` hold `x[n, c, i*sh - ph + p, j*sw - pw + q]`
(zero outside the image). A single image `x[C, H, W]` is the case N = 1 (`col[C*kh*kw,
oh*ow]`). Keeping the batch inside the columns lets a convolution be ONE matrix product per
group over the whole mini-batch. Output sizes use floor: `oh = (H + 2*ph - kh) // sh + 1`.
`im2col` is one strided view of the padded batch copied once (a single copy kernel on a GPU,
not one launch per kernel offset). `col2im` loops over the kh*kw offsets (each a strided add)
on a CPU backend; on a GPU backend it is a zero fill, one strided assignment and one reduction
(`_col2im_gather`), whatever the kernel size. Neither uses atomics: both sum in a fixed order
(bitwise reproducible on a GPU too).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Pair = tuple[int, int]


def conv_out_size(size: int, kernel: int, pad: int, stride: int) -> int:
    """Convolution output length along one axis: floor((size + 2*pad - kernel) / stride) + 1."""
    return (size + 2 * pad - kernel) // stride + 1


def _geometry(shape: tuple[int, ...], kernel: Pair, pad: Pair, stride: Pair):
    H, W = shape[-2:]
    (kh, kw), (ph, pw), (sh, sw) = kernel, pad, stride
    oh, ow = conv_out_size(H, kh, ph, sh), conv_out_size(W, kw, pw, sw)
    if oh < 1 or ow < 1:
        raise ValueError(f"kernel {kernel} with pad {pad} does not fit an image of {H}x{W}")
    return H, W, kh, kw, ph, pw, sh, sw, oh, ow


def _col6(backend: Any, x: Any, kernel: Pair, pad: Pair, stride: Pair) -> Any:
    """x[N,C,H,W] -> col[C, kh, kw, N, oh, ow] (contiguous)."""
    xp = backend.xp
    N, C = x.shape[:2]
    H, W, kh, kw, ph, pw, sh, sw, oh, ow = _geometry(x.shape, kernel, pad, stride)
    if ph or pw:
        xpad = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
        xpad[:, :, ph : ph + H, pw : pw + W] = x
    else:
        xpad = x
    # one strided view of every patch, copied once (a single kernel on a GPU):
    # view[c, p, q, n, i, j] = xpad[n, c, i*sh + p, j*sw + q]
    sn, sc, sy, sx = xpad.strides
    view = xp.lib.stride_tricks.as_strided(
        xpad, (C, kh, kw, N, oh, ow), (sc, sy, sx, sn, sy * sh, sx * sw)
    )
    return xp.ascontiguousarray(view)


def im2col(backend: Any, x: Any, kernel: Pair, pad: Pair, stride: Pair) -> Any:
    """Image patches as columns: x[C,H,W] -> col[C*kh*kw, oh*ow], or x[N,C,H,W] ->
    col[C*kh*kw, N*oh*ow] (see the module docstring for the layout). Zero padding."""
    single = x.ndim == 3
    x4 = x[None] if single else x
    col = _col6(backend, x4, kernel, pad, stride)
    C, kh, kw, N, oh, ow = col.shape
    return col.reshape(C * kh * kw, N * oh * ow)


def col2im(
    backend: Any, col: Any, x_shape: tuple[int, ...], kernel: Pair, pad: Pair, stride: Pair
) -> Any:
    """The adjoint of `im2col`: scatter columns back to an image of `x_shape` ((C,H,W) or
    (N,C,H,W)), SUMMING the entries of overlapping patches; padding cells are dropped."""
    xp = backend.xp
    single = len(x_shape) == 3
    N, C = (1, x_shape[0]) if single else x_shape[:2]
    H, W, kh, kw, ph, pw, sh, sw, oh, ow = _geometry(tuple(x_shape), kernel, pad, stride)
    col6 = col.reshape(C, kh, kw, N, oh, ow)
    if getattr(backend, "device", "cpu") == "gpu":
        xpad = _col2im_gather(backend, col6, H + 2 * ph, W + 2 * pw, (sh, sw))
    else:
        xpad = xp.zeros((C, N, H + 2 * ph, W + 2 * pw), dtype=col.dtype)
        for p in range(kh):
            for q in range(kw):
                xpad[:, :, p : p + sh * (oh - 1) + 1 : sh, q : q + sw * (ow - 1) + 1 : sw] += col6[
                    :, p, q
                ]
    x = xpad[:, :, ph : ph + H, pw : pw + W].transpose(1, 0, 2, 3)
    return xp.ascontiguousarray(x[0] if single else x)


def _col2im_gather(backend: Any, col6: Any, Hp: int, Wp: int, stride: Pair) -> Any:
    """col2im for a device (a GPU): three operations whatever the kernel size, no atomics.

    xpad[c, n, y, x] = Σ_{p,q} D[c, p, q, n, y - p + kh - 1, x - q + kw - 1], where D holds
    col6[c, p, q, n, i, j] at row kh - 1 + i·sh, column kw - 1 + j·sw and zeros elsewhere
    (the columns spread out by the stride, bordered by kh - 1 and kw - 1 zeros): a zero fill,
    one strided assignment, and one reduction over (p, q) of a strided view of D."""
    xp = backend.xp
    C, kh, kw, N, oh, ow = col6.shape
    sh, sw = stride
    d = xp.zeros((C, kh, kw, N, Hp + kh - 1, Wp + kw - 1), dtype=col6.dtype)
    d[..., kh - 1 : kh + sh * (oh - 1) : sh, kw - 1 : kw + sw * (ow - 1) : sw] = col6
    sc, sp, sq, sn, sy, sx = d.strides
    view = xp.lib.stride_tricks.as_strided(
        d[..., kh - 1 :, kw - 1 :], (C, N, Hp, Wp, kh, kw), (sc, sn, sy, sx, sp - sy, sq - sx)
    )
    return view.sum(axis=(4, 5))


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
) -> Any:
    """Cross-correlation of a batch with grouped filters, plus the bias.

    y[n,f,i,j] = b[f] + Σ_{c,p,q} w[f,c,p,q] · x[n, g·C/G + c, i·sh − ph + p, j·sw − pw + q]
    with g = f // (F/G). x[N,C,H,W], w[F, C/G, kh, kw], b[F] or None -> y[N, F, oh, ow].
    One GEMM per group: y_g (F/G, N·oh·ow) = w_g (F/G, C/G·kh·kw) @ col_g.
    `out` (optional) receives y; `cache` (optional dict owned by the caller, passed again to
    `conv_backward` for the same, unchanged x) lets a backend keep the columns; ignored here.
    """
    xp = backend.xp
    N = x.shape[0]
    F, Cg, kh, kw = w.shape
    col = _col6(backend, x, (kh, kw), pad, stride)
    oh, ow = col.shape[-2:]
    K, L = Cg * kh * kw, N * oh * ow
    col = col.reshape(groups, K, L)
    wg = w.reshape(groups, F // groups, K)
    y = xp.matmul(wg, col)  # (G, F/G, N*oh*ow)
    y = y.reshape(F, N, oh, ow).transpose(1, 0, 2, 3)
    if b is not None:
        y = y + b.reshape(1, F, 1, 1)
    if out is not None:
        out[...] = y
        return out
    return xp.ascontiguousarray(y)


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
) -> tuple[Any, Any, Any]:
    """Gradients of `conv_forward` for the top gradient gy[N, F, oh, ow]: (dx | None, dw, db).

    With Y_g = W_g @ col_g (see conv_forward):
      dW_g = G_g @ col_gᵀ,   db[f] = Σ_{n,i,j} gy[n,f,i,j],   dcol_g = W_gᵀ @ G_g,
    and dx = col2im(dcol) (overlapping patches sum). Nothing is accumulated into the inputs.
    `out` (optional) is (dx | None, dw | None, db | None): arrays that receive the results
    (and are returned). `cache`: see `conv_forward` (ignored here).
    """
    xp = backend.xp
    N = x.shape[0]
    F, Cg, kh, kw = w.shape
    K = Cg * kh * kw
    col = _col6(backend, x, (kh, kw), pad, stride)
    oh, ow = col.shape[-2:]
    L = N * oh * ow
    col = col.reshape(groups, K, L)
    g = xp.ascontiguousarray(gy.transpose(1, 0, 2, 3)).reshape(groups, F // groups, L)
    dw = xp.matmul(g, col.transpose(0, 2, 1)).reshape(w.shape)
    db = gy.sum(axis=(0, 2, 3))
    dx = None
    if need_dx:
        wg = w.reshape(groups, F // groups, K)
        dcol = xp.matmul(wg.transpose(0, 2, 1), g)  # (G, K, L)
        dx = col2im(backend, dcol, x.shape, (kh, kw), pad, stride)
    if out is not None:
        res = [dx, dw, db]
        for i, o in enumerate(out):
            if o is not None and res[i] is not None:
                o[...] = res[i]
                res[i] = o
        dx, dw, db = res
    return dx, dw, db


KERNELS: dict[str, Callable[..., Any]] = {
    "im2col": im2col,
    "col2im": col2im,
    "conv_forward": conv_forward,
    "conv_backward": conv_backward,
}
