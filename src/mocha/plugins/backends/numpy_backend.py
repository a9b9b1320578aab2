"""The pure NumPy reference backend: the oracle every other backend is checked against.

It also registers the generic (`"*"`) versions of the small kernels written with `xp`, which
run unchanged on CuPy. The heavier generic kernels (convolution, pooling, LRN) live in their
own `kernels_*` modules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mocha.core.backend import Backend
from mocha.core.hookspecs import hookimpl


class NumpyBackend(Backend):
    """NumPy arrays, generic `xp` kernels. `NumpyBackend(dtype="float64", seed=0)`."""

    name = "numpy"
    priority = 10
    device = "cpu"
    xp = np


def softmax(backend: Any, x: Any, axis: int = 1, out: Any = None) -> Any:
    """exp(x - max) / sum(exp(x - max)) along `axis`."""
    xp = backend.xp
    shifted = x - x.max(axis=axis, keepdims=True)
    if out is None:
        out = xp.empty_like(x)
    xp.exp(shifted, out=out)
    out /= out.sum(axis=axis, keepdims=True)
    return out


def gemm(
    backend: Any,
    a: Any,
    b: Any,
    out: Any = None,
    trans_a: bool = False,
    trans_b: bool = False,
    alpha: float = 1.0,
    beta: float = 0.0,
) -> Any:
    """out = alpha · op(a) @ op(b) + beta · out."""
    xp = backend.xp
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    if out is None:
        out = xp.matmul(a, b)
        if alpha != 1.0:
            out *= alpha
        return out
    if beta == 0.0:
        xp.matmul(a, b, out=out)
        if alpha != 1.0:
            out *= alpha
    else:
        prod = xp.matmul(a, b)
        out *= beta
        out += alpha * prod if alpha != 1.0 else prod
    return out


@hookimpl
def mocha_register_backends(register):
    register(NumpyBackend)


@hookimpl
def mocha_register_kernels(register):
    register("softmax", softmax)
    register("gemm", gemm)
