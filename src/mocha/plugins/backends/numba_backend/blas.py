"""The Numba backend's matrix product: large products split over the backend's threads.

An initialized `NumbaBackend` keeps BLAS at one thread (so that BLAS's idle workers never spin
against numba's and the convolutions' threads), and spreads a large product itself: the rows
of `out` are cut into one block per thread, each block one single-threaded BLAS call on its own
thread (`threads.map_chunks`). Every element is the same dot product as in one call, over the
same inner dimension. Products under `SPLIT_MIN_FLOPS`, or with fewer rows than threads, are one
call on the calling thread. No compiled loop of its own: BLAS does the arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import mocha.plugins.backends._blas_threads as blas_threads
import mocha.plugins.backends.numba_backend.runtime as runtime
import mocha.plugins.backends.numba_backend.threads as threads

#: Products of fewer floating-point operations run as one call: handing a block to a helper
#: thread costs some tens of microseconds.
SPLIT_MIN_FLOPS = 4_000_000


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
    """out = alpha · op(a) @ op(b) + beta · out (see `generic.blas.gemm`)."""
    generic = backend.kernels.generic("gemm")
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape[:2]
    n = b.shape[0] if trans_b else b.shape[-1]
    T = runtime.get_threads() if a.ndim == 2 and b.ndim == 2 else 1
    if T == 1 or m < 2 * T or 2.0 * m * n * k < SPLIT_MIN_FLOPS or not blas_threads.available():
        return generic(a, b, out=out, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta)
    dtype = np.result_type(a.dtype, b.dtype)
    target = out
    if (
        out is None
        or not isinstance(out, np.ndarray)
        or out.shape != (m, n)
        or not out.flags.c_contiguous
    ):
        target = np.empty((m, n), dtype) if beta == 0.0 or out is None else np.array(out, dtype)

    def job(t: int, r0: int, r1: int) -> None:
        rows = a[:, r0:r1] if trans_a else a[r0:r1]
        generic(
            rows, b, out=target[r0:r1], trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta
        )

    chunks = threads.balanced_chunks(m, -(-m // T), T)
    threads.map_chunks(threads.ChunkPlan(chunks, min(T, len(chunks))), job)
    if out is None or target is out:
        return target
    out[...] = target
    return out


KERNELS: dict[str, Callable[..., Any]] = {"gemm": gemm}
