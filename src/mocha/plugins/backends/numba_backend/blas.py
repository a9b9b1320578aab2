"""The Numba backend's matrix product: large products split over the backend's threads.

An initialized `NumbaBackend` keeps BLAS at one thread (so that BLAS's idle workers never spin
against numba's), and spreads a large product itself: `out` is cut into one block per thread,
each block one single-threaded BLAS call, all in one compiled parallel region (NumPy's own
BLAS). The blocks depend on the product's shape only, never on the thread count
(`SPLIT_BLOCKS` blocks of a multiple of `SPLIT_ALIGN` rows or columns, run serially at one
thread), so a product's result is the same bits at any thread count and with any BLAS kernel
(OpenBLAS's kernels may round differently for other call shapes). The cut goes along the side
of the larger operand, so that each thread reads only its
share of it: by columns when op(b) is larger than op(a) (a layer's forward, x @ Wᵀ, and its
∇x, g @ W, where W is the large one: LeNet's ip1 forward at 2 threads 1.0 ms cut by rows,
0.68 ms by columns), by rows otherwise (`loops.blas.gemm_rows` / `gemm_cols`). Every element
is the same dot product as in one call, over the same inner dimension. Products under
`SPLIT_MIN_FLOPS`, or with fewer rows or columns than 2 · `SPLIT_ALIGN`, are one
`numpy.matmul` call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import mocha.plugins.backends.numba_backend.runtime as runtime
import mocha.plugins.backends.numba_backend.threads as threads

#: Products of fewer floating-point operations run as one call: starting a parallel region
#: costs some microseconds (tens when a worker has to be woken).
SPLIT_MIN_FLOPS = 4_000_000
#: A split product is cut into this many blocks (at most), whatever the thread count.
SPLIT_BLOCKS = 4
#: Block sides are multiples of this (the BLAS kernels' register tiles: no ragged edge tiles
#: inside the product but the last).
SPLIT_ALIGN = 16


def _operand(a: np.ndarray) -> np.ndarray:
    """`a` as a 2-D array whose rows or columns are contiguous (what BLAS takes)."""
    return a if a.flags.c_contiguous or a.flags.f_contiguous else np.ascontiguousarray(a)


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
    dtype = np.result_type(a.dtype, b.dtype)
    by_cols = n > m
    side = n if by_cols else m
    if (
        a.ndim != 2
        or b.ndim != 2
        or side < 2 * SPLIT_ALIGN
        or 2.0 * m * n * k < SPLIT_MIN_FLOPS
        or dtype not in (np.float32, np.float64)
    ):
        return generic(a, b, out=out, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta)
    target = out
    if (
        out is None
        or not isinstance(out, np.ndarray)
        or out.shape != (m, n)
        or out.dtype != dtype
        or not out.flags.c_contiguous
    ):
        keep = beta != 0.0 and out is not None
        target = np.array(out, dtype, order="C") if keep else np.empty((m, n), dtype)
    A = _operand(np.asarray(a, dtype))
    B = _operand(np.asarray(b, dtype))
    plan = threads.plan_over(split_blocks(side), 2.0 * m * n * k, SPLIT_MIN_FLOPS)
    loops = runtime.loops("blas")
    threads.run_plan(
        plan,
        loops.gemm_cols if by_cols else loops.gemm_rows,
        A.T if trans_a else A,
        B.T if trans_b else B,
        target,
        alpha,
        beta,
        plan.bounds,
    )
    if out is None or target is out:
        return target
    out[...] = target
    return out


def split_blocks(side: int) -> list[tuple[int, int]]:
    """The blocks (i0, i1) a product's side of `side` rows or columns is cut into: at most
    `SPLIT_BLOCKS`, each a multiple of `SPLIT_ALIGN` long but the last; the shape alone
    decides them."""
    width = -(-side // SPLIT_BLOCKS)
    width = -(-width // SPLIT_ALIGN) * SPLIT_ALIGN
    return [(i, min(side, i + width)) for i in range(0, side, width)]


KERNELS: dict[str, Callable[..., Any]] = {"gemm": gemm}
