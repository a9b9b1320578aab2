"""Compiled elementwise loops of the Numba backend (`numba_backend.elementwise`).

This module imports numba at the top; `runtime.loops("elementwise")` loads it the first time
one of its kernels runs. Each loop is `@njit(cache=True, parallel=True, nogil=True)` over flat
(1-D) views of C-contiguous arrays of one dtype, reading element i of the inputs before
writing element i of `out`, so `out` may be one of the inputs. Scalars arrive already rounded to the
arrays' dtype (`one`, `zero`, `slope`, ...), so float32 arrays are computed in float32. The
expressions are those of the generic kernels (`generic.elementwise`), which the tests compare
them with.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True, nogil=True)
def relu_forward(x, eps, out):
    """out = max(eps, x), NumPy's `maximum`: x when x > eps or x is NaN, else eps."""
    for i in prange(x.size):
        v = x[i]
        out[i] = v if (v > eps or v != v) else eps


@njit(cache=True, parallel=True, nogil=True)
def relu_backward(y, g, eps, zero, out):
    """out = g · [y > eps] (g · 0 keeps NumPy's -0 and NaN for negative and infinite g)."""
    for i in prange(y.size):
        v = g[i]
        out[i] = v if y[i] > eps else v * zero


@njit(cache=True, parallel=True, nogil=True)
def lrelu_forward(x, slope, out):
    """out = x if x > 0 else slope · x."""
    for i in prange(x.size):
        v = x[i]
        out[i] = v if v > 0 else v * slope


@njit(cache=True, parallel=True, nogil=True)
def lrelu_backward(y, g, slope, out):
    """out = g if y > 0 else slope · g."""
    for i in prange(y.size):
        v = g[i]
        out[i] = v if y[i] > 0 else v * slope


@njit(cache=True, parallel=True, nogil=True)
def sigmoid_forward(x, one, out):
    """out = 1/(1+e) for x ≥ 0, e/(1+e) otherwise, with e = exp(-|x|)."""
    for i in prange(x.size):
        v = x[i]
        e = np.exp(-abs(v))
        d = one + e
        out[i] = one / d if v >= 0 else e / d


@njit(cache=True, parallel=True, nogil=True)
def sigmoid_backward(y, g, one, out):
    """out = g · (y · (1 - y))."""
    for i in prange(y.size):
        v = y[i]
        out[i] = g[i] * (v * (one - v))


@njit(cache=True, parallel=True, nogil=True)
def tanh_forward(x, out):
    """out = tanh x."""
    for i in prange(x.size):
        out[i] = np.tanh(x[i])


@njit(cache=True, parallel=True, nogil=True)
def tanh_backward(y, g, one, out):
    """out = g · (1 - y · y)."""
    for i in prange(y.size):
        v = y[i]
        out[i] = g[i] * (one - v * v)


@njit(cache=True, parallel=True, nogil=True)
def dropout_mask(u, ratio, scale, zero, out):
    """out = scale where u > ratio, else 0."""
    for i in prange(u.size):
        out[i] = scale if u[i] > ratio else zero


@njit(cache=True, parallel=True, nogil=True)
def dropout_apply(x, mask, out):
    """out = x · mask."""
    for i in prange(x.size):
        out[i] = x[i] * mask[i]


@njit(cache=True, parallel=True, nogil=True)
def softmax_loss_backward(prob, label, coef, w, one, out):
    """out[a, c, b] = (prob[a, c, b] - [c == label[a, b]]) · coef [· w[a, b]].

    prob and out are [pre, C, post] (the class axis in the middle), label (int64) and w are
    [pre, post]; an empty w (size 0) means no class weights. Parallel over `pre`."""
    pre, C, post = prob.shape
    weighted = w.size > 0
    for a in prange(pre):
        for c in range(C):
            for b in range(post):
                v = prob[a, c, b]
                if label[a, b] == c:
                    v = v - one
                v = v * coef
                if weighted:
                    v = v * w[a, b]
                out[a, c, b] = v
