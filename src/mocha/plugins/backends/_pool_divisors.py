"""The divisors of mean pooling, shared by the generic and the Numba kernels.

`inverse_divisors(hw, kernel, pad, stride, out_hw, divisor)` is 1/divisor of every output cell
(i, j) as a read-only float64 array, computed once per geometry (a net asks for the same few
every iteration). The divisor of a window counts, along each axis:

* "window": all its cells, k (Mocha's rule: kh·kw everywhere);
* "padded": its cells inside the padded image [−p, size + p) (Caffe's AVE, ONNX's
  `count_include_pad=1`);
* "image": its cells inside the image [0, size) (ONNX's `count_include_pad=0`).
"""

from __future__ import annotations

import functools

import numpy as np

DIVISORS = ("window", "padded", "image")


def _counts(size: int, k: int, p: int, s: int, out: int, divisor: str) -> np.ndarray:
    """How many cells of each window along one axis count for the divisor."""
    a = np.arange(out) * s - p  # window starts
    if divisor == "window":
        return np.full(out, k)
    if divisor == "padded":
        return np.minimum(a + k, size + p) - a
    if divisor == "image":
        return np.minimum(a + k, size) - np.maximum(a, 0)
    raise ValueError(f"unknown mean-pooling divisor {divisor!r}; expected one of {DIVISORS}")


@functools.lru_cache(maxsize=128)
def _cached(hw, kernel, pad, stride, out_hw, divisor: str) -> np.ndarray:
    rows, cols = (
        _counts(n, k, p, s, o, divisor) for n, k, p, s, o in zip(hw, kernel, pad, stride, out_hw)
    )
    inv = 1.0 / (rows[:, None] * cols[None, :]).astype(np.float64)
    inv.flags.writeable = False
    return inv


def inverse_divisors(hw, kernel, pad, stride, out_hw, divisor: str = "window") -> np.ndarray:
    """1/divisor per output cell (float64, read-only, cached per geometry)."""
    key = tuple(tuple(int(v) for v in pair) for pair in (hw, kernel, pad, stride, out_hw))
    return _cached(*key, divisor)
