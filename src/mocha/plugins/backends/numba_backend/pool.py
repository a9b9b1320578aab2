"""Pooling kernels of the Numba backend: max and mean pooling, forward and backward (Python
wrappers of the compiled loops in `loops/pool.py`; outputs written into the caller's `out=`
where its layout allows). The window rules are those of `generic.pool`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mocha.core.backend import write_into
from mocha.plugins.backends._pool_divisors import inverse_divisors
from mocha.plugins.backends.numba_backend.runtime import Pair, contiguous, loops, out_or, run


def max_pool_forward(
    backend: Any, x: Any, kernel: Pair, pad: Pair, stride: Pair, out_hw: Pair, out: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """(y, argmax_index) as `generic.pool.max_pool_forward` (int64 flat h*W + w); `out` =
    (y | None, argmax_index | None) are written directly when C-contiguous."""
    x = contiguous(x)
    shape = (*x.shape[:2], *out_hw)
    o_y, o_i = (None, None) if out is None else out
    y, index = out_or(o_y, shape, x.dtype), out_or(o_i, shape, np.dtype(np.int64))
    run(loops("pool").max_pool_forward, x.size, x, *kernel, *pad, *stride, y, index)
    return write_into(o_y, y), write_into(o_i, index)


def max_pool_backward(
    backend: Any, gy: Any, argmax_index: Any, x_shape: tuple[int, ...], out: Any = None
) -> np.ndarray:
    """gx with every top gradient added at its argmax cell (into `out` when given)."""
    gy = contiguous(gy)
    gx = out_or(out, tuple(x_shape), gy.dtype)
    run(loops("pool").max_pool_backward, gx.size, gy, contiguous(argmax_index, np.int64), gx)
    return write_into(out, gx)


def avg_pool_forward(
    backend: Any,
    x: Any,
    kernel: Pair,
    pad: Pair,
    stride: Pair,
    out_hw: Pair,
    out: Any = None,
    divisor: str = "window",
) -> np.ndarray:
    """Mean pooling as `generic.pool.avg_pool_forward` (same `divisor` rules)."""
    x = contiguous(x)
    y = out_or(out, (*x.shape[:2], *out_hw), x.dtype)
    inv = inverse_divisors(x.shape[2:], kernel, pad, stride, out_hw, divisor)
    run(loops("pool").avg_pool_forward, x.size, x, *kernel, *pad, *stride, inv, y)
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
) -> np.ndarray:
    """Adjoint of `avg_pool_forward` (into `out` when given)."""
    gy = contiguous(gy)
    gx = out_or(out, tuple(x_shape), gy.dtype)
    inv = inverse_divisors(x_shape[2:], kernel, pad, stride, gy.shape[2:], divisor)
    run(loops("pool").avg_pool_backward, gx.size, gy, *kernel, *pad, *stride, inv, gx)
    return write_into(out, gx)


KERNELS: dict[str, Callable[..., Any]] = {
    "max_pool_forward": max_pool_forward,
    "max_pool_backward": max_pool_backward,
    "avg_pool_forward": avg_pool_forward,
    "avg_pool_backward": avg_pool_backward,
}
