"""Pooling, LRN and softmax kernels of the Numba backend (Python wrappers of the compiled
loops in `numba_kernels`; outputs written into the caller's `out=` where its layout allows)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mocha.core.backend import write_into
from mocha.plugins.backends.numba_backend import Pair, _c, _out_or, _run, _workspace


def max_pool_forward(backend: Any, x: Any, kernel: Pair, pad: Pair, stride: Pair,
                     out_hw: Pair, out: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(y, argmax_index) as `kernels_pool.max_pool_forward` (int64 flat h*W + w); `out` =
    (y | None, argmax_index | None) are written directly when C-contiguous."""
    x = _c(x)
    shape = (*x.shape[:2], *out_hw)
    o_y, o_i = (None, None) if out is None else out
    y, index = _out_or(o_y, shape, x.dtype), _out_or(o_i, shape, np.dtype(np.int64))
    _run("max_pool_forward", x.size, x, *kernel, *pad, *stride, y, index)
    return write_into(o_y, y), write_into(o_i, index)


def max_pool_backward(backend: Any, gy: Any, argmax_index: Any,
                      x_shape: tuple[int, ...], out: Any = None) -> np.ndarray:
    """gx with every top gradient added at its argmax cell (into `out` when given)."""
    gy = _c(gy)
    gx = _out_or(out, tuple(x_shape), gy.dtype)
    _run("max_pool_backward", gx.size, gy, _c(argmax_index, np.int64), gx)
    return write_into(out, gx)


def avg_pool_forward(backend: Any, x: Any, kernel: Pair, pad: Pair, stride: Pair,
                     out_hw: Pair, out: Any = None) -> np.ndarray:
    """Mean pooling dividing by the full window, as `kernels_pool.avg_pool_forward`."""
    x = _c(x)
    y = _out_or(out, (*x.shape[:2], *out_hw), x.dtype)
    _run("avg_pool_forward", x.size, x, *kernel, *pad, *stride, y)
    return write_into(out, y)


def avg_pool_backward(backend: Any, gy: Any, x_shape: tuple[int, ...], kernel: Pair, pad: Pair,
                      stride: Pair, out: Any = None) -> np.ndarray:
    """Adjoint of `avg_pool_forward` (into `out` when given)."""
    gy = _c(gy)
    gx = _out_or(out, tuple(x_shape), gy.dtype)
    _run("avg_pool_backward", gx.size, gy, *kernel, *pad, *stride, gx)
    return write_into(out, gx)


def _lrn_setup(x: Any, kernel: int, mode: str) -> tuple[np.ndarray, int, int, int]:
    if mode not in ("across_channel", "within_channel"):
        raise ValueError(f"unknown LRN mode {mode!r}; expected one of "
                         f"('across_channel', 'within_channel')")
    pre = (kernel - 1) // 2
    x = _c(x)
    if mode == "across_channel":
        return x.reshape(x.shape[0], x.shape[1], -1), pre, kernel - 1 - pre, kernel
    return x, pre, kernel - 1 - pre, kernel * kernel


def lrn_forward(backend: Any, x: Any, kernel: int, scale: float, power: float, shift: float,
                mode: str, out: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(y, denom) as `kernels_lrn.lrn_forward`; `out` = (y | None, denom | None)."""
    xv, pre, post, n = _lrn_setup(x, kernel, mode)
    o_y, o_d = (None, None) if out is None else out
    y, denom = _out_or(o_y, x.shape, xv.dtype), _out_or(o_d, x.shape, xv.dtype)
    name = "lrn_across_forward" if mode == "across_channel" else "lrn_within_forward"
    _run(name, xv.size, xv, pre, post, scale / n, float(power), float(shift),
         y.reshape(xv.shape), denom.reshape(xv.shape))
    return write_into(o_y, y), write_into(o_d, denom)


def lrn_backward(backend: Any, x: Any, y: Any, denom: Any, gy: Any, kernel: int, scale: float,
                 power: float, shift: float, mode: str, out: Any = None) -> np.ndarray:
    """Gradient of `lrn_forward`, as `kernels_lrn.lrn_backward` (into `out` when given)."""
    xv, pre, post, n = _lrn_setup(x, kernel, mode)
    yv, dv, gv = (_c(a, xv.dtype).reshape(xv.shape) for a in (y, denom, gy))
    gx = _out_or(out, x.shape, xv.dtype)
    coef = 2.0 * power * scale / n
    if mode == "across_channel":
        _run("lrn_across_backward", xv.size, xv, yv, dv, gv, pre, post, coef, float(power),
             gx.reshape(xv.shape))
    else:
        scratch = _workspace(backend, "lrn", xv.shape, xv.dtype)
        _run("lrn_within_backward", xv.size, xv, yv, dv, gv, pre, post, coef, float(power),
             gx, scratch)
    return write_into(out, gx)


def softmax(backend: Any, x: Any, axis: int = 1, out: Any = None) -> np.ndarray:
    """Numerically stable softmax along `axis` (any axis; one compiled pass)."""
    x = _c(x)
    axis = axis + x.ndim if axis < 0 else axis
    shape3 = (math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1:]))
    y = np.empty_like(x) if out is None else out
    if y.flags.c_contiguous:
        _run("softmax_ncs", x.size, x.reshape(shape3), y.reshape(shape3))
        return y
    tmp = np.empty_like(x)
    _run("softmax_ncs", x.size, x.reshape(shape3), tmp.reshape(shape3))
    y[...] = tmp
    return y
