"""The generic (`xp`) matrix product: gemm, out = alpha · op(a) @ op(b) + beta · out.

Written with the backend's array module only (`xp.matmul`, which is BLAS on NumPy and cuBLAS
on CuPy), so it runs unchanged on every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


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


KERNELS: dict[str, Callable[..., Any]] = {"gemm": gemm}
