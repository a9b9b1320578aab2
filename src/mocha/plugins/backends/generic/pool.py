"""Generic (`xp`) 2-D pooling kernels: max_pool_forward/backward, avg_pool_forward/backward.

Window of output (i, j) (Mocha/Caffe): rows `[i*sh - ph, i*sh - ph + kh)` clipped to
`[0, H)`, columns likewise. The output size `out_hw` is decided by the caller (PoolingLayer
rounds up; ChannelPoolingLayer uses its own rule); cells outside the image are never read.
Callers guarantee that no window is empty.

* Max: the maximum of the clipped window; on ties the FIRST maximum in row-major order wins.
  `argmax_index[n, c, i, j]` (int64) is the flat index `h*W + w` of that cell in the (H, W)
  plane of `x[n, c]`.
* Mean: the sum of the in-image cells divided by the window's divisor (`divisor=`):
  ``"window"`` (default, Mocha): the FULL window `kh*kw` (missing cells act as zeros);
  ``"padded"`` (Caffe's AVE, ONNX/PyTorch `count_include_pad=1`): the cells of the window
  inside the padded image, rows `[i*sh - ph, min(i*sh - ph + kh, H + ph))` times columns
  likewise; ``"image"`` (ONNX/PyTorch `count_include_pad=0`): the in-image cells only.
  `_pool_divisors.inverse_divisors` gives 1/divisor per output cell (shared with Numba).

Written with the backend's array module only; the one Python loop is over the kh*kw kernel
offsets, each a strided view of the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mocha.core.backend import write_into
from mocha.plugins.backends._pool_divisors import inverse_divisors

Pair = tuple[int, int]


def _padded_extent(H: int, W: int, kernel: Pair, pad: Pair, stride: Pair, out_hw: Pair):
    """Size of a padded canvas holding every window and the (padded) image."""
    (kh, kw), (ph, pw), (sh, sw), (oh, ow) = kernel, pad, stride, out_hw
    return max((oh - 1) * sh + kh, ph + H), max((ow - 1) * sw + kw, pw + W)


def _window_view(a: Any, p: int, q: int, stride: Pair, out_hw: Pair) -> Any:
    (sh, sw), (oh, ow) = stride, out_hw
    return a[..., p : p + sh * (oh - 1) + 1 : sh, q : q + sw * (ow - 1) + 1 : sw]


def max_pool_forward(
    backend: Any, x: Any, kernel: Pair, pad: Pair, stride: Pair, out_hw: Pair, out: Any = None
) -> tuple[Any, Any]:
    """Max pooling: x[N,C,H,W] -> (y[N,C,oh,ow], argmax_index[N,C,oh,ow] int64, flat h*W+w).

    `out` = (y | None, argmax_index | None): arrays to write the results into."""
    xp = backend.xp
    N, C, H, W = x.shape
    (kh, kw), (ph, pw), (sh, sw), (oh, ow) = kernel, pad, stride, out_hw
    Hp, Wp = _padded_extent(H, W, kernel, pad, stride, out_hw)
    canvas = xp.full((N, C, Hp, Wp), -xp.inf, dtype=x.dtype)
    canvas[:, :, ph : ph + H, pw : pw + W] = x
    rows = xp.arange(oh) * sh - ph  # window origins
    cols = xp.arange(ow) * sw - pw
    best = xp.full((N, C, oh, ow), -xp.inf, dtype=x.dtype)
    index = xp.full((N, C, oh, ow), -1, dtype=xp.int64)
    for p in range(kh):  # row-major scan with a strict `>`: the first maximum wins
        r = rows + p
        for q in range(kw):
            c = cols + q
            inside = ((r >= 0) & (r < H))[:, None] & ((c >= 0) & (c < W))[None, :]
            v = _window_view(canvas, p, q, stride, out_hw)
            take = inside & ((v > best) | (index < 0))
            best = xp.where(take, v, best)
            index = xp.where(take, (r[:, None] * W + c[None, :]), index)
    if out is None:
        return best, index
    return write_into(out[0], best), write_into(out[1], index)


def max_pool_backward(
    backend: Any, gy: Any, argmax_index: Any, x_shape: tuple[int, ...], out: Any = None
) -> Any:
    """Route each top gradient to its argmax cell: gx[n,c,h,w] = Σ_{(i,j): argmax = (h,w)} gy
    (windows may overlap, so gradients accumulate).

    One scatter-add (`bincount`). On a GPU it adds with atomics: where windows overlap
    (stride < kernel) a cell's few terms are summed in a different order on each run, so the
    result may differ in the last bits between runs (float32: relative ~1e-7 per term); where
    they do not overlap every cell gets at most one term and the result is exact."""
    xp = backend.xp
    N, C, H, W = x_shape
    planes = xp.arange(N * C, dtype=xp.int64).reshape(N, C, 1, 1) * (H * W)
    flat = (planes + argmax_index).ravel()
    gx = xp.bincount(flat, weights=gy.ravel(), minlength=N * C * H * W)
    return write_into(out, gx.astype(gy.dtype, copy=False).reshape(N, C, H, W))


def avg_pool_forward(
    backend: Any,
    x: Any,
    kernel: Pair,
    pad: Pair,
    stride: Pair,
    out_hw: Pair,
    out: Any = None,
    divisor: str = "window",
) -> Any:
    """Mean pooling: y = (Σ in-image cells of the window) / divisor, x[N,C,H,W] ->
    y[N,C,oh,ow] (the module docstring defines the divisors; "window": kh*kw)."""
    xp = backend.xp
    N, C, H, W = x.shape
    (kh, kw), (ph, pw) = kernel, pad
    Hp, Wp = _padded_extent(H, W, kernel, pad, stride, out_hw)
    canvas = xp.zeros((N, C, Hp, Wp), dtype=x.dtype)
    canvas[:, :, ph : ph + H, pw : pw + W] = x
    y = xp.zeros((N, C, *out_hw), dtype=x.dtype)
    for p in range(kh):
        for q in range(kw):
            y += _window_view(canvas, p, q, stride, out_hw)
    if divisor == "window":
        y *= 1.0 / (kh * kw)
    else:
        y *= xp.asarray(inverse_divisors((H, W), kernel, pad, stride, out_hw, divisor), x.dtype)
    return write_into(out, y)


def avg_pool_backward(
    backend: Any,
    gy: Any,
    x_shape: tuple[int, ...],
    kernel: Pair,
    pad: Pair,
    stride: Pair,
    out: Any = None,
    divisor: str = "window",
) -> Any:
    """Adjoint of `avg_pool_forward`: every in-image cell of a window receives gy / divisor."""
    xp = backend.xp
    N, C, H, W = x_shape
    (kh, kw), (ph, pw) = kernel, pad
    out_hw = tuple(gy.shape[-2:])
    Hp, Wp = _padded_extent(H, W, kernel, pad, stride, out_hw)
    canvas = xp.zeros((N, C, Hp, Wp), dtype=gy.dtype)
    if divisor == "window":
        share = gy * (1.0 / (kh * kw))
    else:
        inv = inverse_divisors((H, W), kernel, pad, stride, out_hw, divisor)
        share = gy * xp.asarray(inv, gy.dtype)
    for p in range(kh):
        for q in range(kw):
            _window_view(canvas, p, q, stride, out_hw)[...] += share
    return write_into(out, xp.ascontiguousarray(canvas[:, :, ph : ph + H, pw : pw + W]))


KERNELS: dict[str, Callable[..., Any]] = {
    "max_pool_forward": max_pool_forward,
    "max_pool_backward": max_pool_backward,
    "avg_pool_forward": avg_pool_forward,
    "avg_pool_backward": avg_pool_backward,
}
