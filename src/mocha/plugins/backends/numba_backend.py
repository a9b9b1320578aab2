"""The Numba CPU backend: NumPy arrays, hot kernels compiled with Numba.

`NumbaBackend` ("numba") ranks above the NumPy reference backend, so `CPUBackend()` and
`DefaultBackend()` pick it whenever numba imports. Its array module is NumPy; it overrides the
hot kernels of the kernel table with compiled loops: convolution (`numba_conv`, and
`numba_rowconv` for stride-1 convolutions over many channels), pooling, LRN and softmax
(`numba_ops`), neurons, dropout and the softmax-loss gradient (`numba_elementwise`), and
leaves the rest (`gemm`, ...) to the generic versions. This module holds the backend class and
what those modules share: the serial/parallel dispatch `_run`, workspaces and `_out_or` (an
`out=` array to write into directly, else a new one).

Importing these modules does not import numba: `why_unavailable()` imports it when asked, and
the kernels load the compiled loops (`numba_kernels`, ...) on their first call. The loops are
cached on disk (`cache=True`), so only the very first run on a machine pays the compilation.

Workspaces are kept per backend (one flat buffer per role and dtype, grown to the largest
layer), so a training loop allocates no scratch memory after its first iteration; kernel
OUTPUTS are always fresh arrays (or the caller's `out=`), never workspace views.
"""
from __future__ import annotations

import math
import os
from types import ModuleType
from typing import Any

import numpy as np

from mocha.core.backend import Backend
from mocha.core.hookspecs import hookimpl

Pair = tuple[int, int]

_KERNELS: ModuleType | None = None


def _k() -> ModuleType:
    """The compiled kernels module, imported (and numba with it) on first use."""
    global _KERNELS
    if _KERNELS is None:
        # numba's OpenMP pool is started on the first parallel kernel. With the default
        # (spinning) wait policy its idle workers fight OpenBLAS's threads for the cores
        # between kernels: LeNet training at 2 threads ran ~5x slower than at 1 thread here.
        # Sleeping workers cost microseconds per kernel. An explicit setting wins.
        if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        from mocha.plugins.backends import numba_kernels

        _KERNELS = numba_kernels
    return _KERNELS


#: Below this many elements a kernel runs on the calling thread only: waking numba's sleeping
#: workers costs more than the work (batch-1 latency at 2 threads: LeNet 0.29 -> 0.15 ms at
#: 1 << 15; CIFAR-10 0.61 -> 0.50 ms going from 1 << 15 to 1 << 17).
SERIAL_BELOW = 1 << 17


def _threads() -> int:
    """numba's thread count (the kernels' and, by convention, OpenBLAS's)."""
    _k()
    import numba

    return numba.get_num_threads()


def _run(kernel: Any, size: int, *args: Any) -> None:
    """Call compiled kernel `kernel` (a name in `numba_kernels`, or a compiled function of
    another module); serially (one thread) when `size` is below `SERIAL_BELOW`."""
    fn = getattr(_k(), kernel) if isinstance(kernel, str) else kernel
    if size >= SERIAL_BELOW:
        fn(*args)
        return
    import numba

    threads = numba.get_num_threads()
    if threads == 1:
        fn(*args)
        return
    numba.set_num_threads(1)
    try:
        fn(*args)
    finally:
        numba.set_num_threads(threads)


class NumbaBackend(Backend):
    """NumPy arrays with Numba-compiled kernels. `NumbaBackend(dtype="float32", seed=0)`.

    Threads: the compiled loops use numba's thread pool (`NUMBA_NUM_THREADS`), the matrix
    products OpenBLAS's (`OMP_NUM_THREADS` / `OPENBLAS_NUM_THREADS` or threadpoolctl). Unless
    `OMP_WAIT_POLICY` or `GOMP_SPINCOUNT` is set, the first kernel call sets
    `OMP_WAIT_POLICY=PASSIVE` before numba starts its OpenMP pool, so that idle workers sleep
    instead of spinning against OpenBLAS's threads. Convolutions over 10 MFLOP run their
    chunks on as many Python threads as numba has (`numba_threads`), each with one numba
    thread and, for the duration, one OpenBLAS thread (OpenBLAS's setting is process-wide).
    Results are reproducible for a given thread count.
    """

    name = "numba"
    priority = 20
    #: Convolutions run over chunks of the mini-batch whose gathered columns take at most this
    #: many bytes (so they stay in cache); 0 means the whole batch at once. With more than one
    #: thread the chunks go to separate threads (`numba_threads`); where they cannot, the
    #: budget is 4x as large, because OpenBLAS then splits each product between the threads
    #: and products over few columns did not scale (CIFAR-10 conv2 at 2 threads: 2 images per
    #: chunk ran its forward product at 113 GFLOP/s, 8 images at 222).
    conv_chunk_bytes: int = 2 << 20
    #: The convolution layer's cache keeps the im2col columns of the whole batch for the
    #: backward pass only up to this many bytes (they should stay in the last-level cache;
    #: beyond it, writing them to memory and reading them back cost more than a second
    #: im2col of each chunk in the backward pass). 0: never keep.
    conv_keep_cols_bytes: int = 16 << 20
    device = "cpu"
    xp = np

    def __init__(self, dtype: Any = "float32", seed: int = 0) -> None:
        super().__init__(dtype=dtype, seed=seed)
        self._workspaces: dict[tuple[str, np.dtype], np.ndarray] = {}

    @classmethod
    def why_unavailable(cls) -> str | None:
        try:
            import numba  # noqa: F401
        except Exception as exc:  # ImportError, or a numba that refuses this numpy
            return f"numba cannot be imported ({type(exc).__name__}: {exc})"
        return None

    def workspace(self, role: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """A scratch array of `shape` for `role`, reused across calls (contents undefined).

        One flat buffer per (role, dtype), grown to the largest request; a view of it is valid
        until the next request for the same role, so kernels use it only within one call. Like
        the RNG, workspaces make a backend object unfit for concurrent use by several threads.
        """
        dtype = np.dtype(dtype)
        size = math.prod(shape)
        buf = self._workspaces.get((role, dtype))
        if buf is None or buf.size < size:
            buf = np.empty(size, dtype=dtype)
            self._workspaces[(role, dtype)] = buf
        return buf[:size].reshape(shape)

    def shutdown(self) -> None:
        self._workspaces.clear()
        super().shutdown()


def _workspace(backend: Any, role: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    get = getattr(backend, "workspace", None)
    return get(role, shape, dtype) if get is not None else np.empty(shape, dtype=dtype)


def _c(a: Any, dtype: Any = None) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=dtype)


def _out_or(o: Any, shape: tuple[int, ...], dtype: np.dtype, fill: bool = False) -> np.ndarray:
    """`o` when it can be written directly (C-contiguous, right shape and dtype), else new."""
    if (o is not None and isinstance(o, np.ndarray) and o.dtype == dtype
            and o.shape == tuple(shape) and o.flags.c_contiguous):
        if fill:
            o.fill(0)
        return o
    return np.zeros(shape, dtype=dtype) if fill else np.empty(shape, dtype=dtype)


OVERRIDDEN: tuple[str, ...] = (
    "im2col", "col2im", "conv_forward", "conv_backward", "max_pool_forward",
    "max_pool_backward", "avg_pool_forward", "avg_pool_backward", "lrn_forward",
    "lrn_backward", "softmax",
)


@hookimpl
def mocha_register_backends(register):
    register(NumbaBackend)


@hookimpl
def mocha_register_kernels(register):
    from mocha.plugins.backends import numba_conv, numba_ops

    for name in OVERRIDDEN:
        module = numba_conv if hasattr(numba_conv, name) else numba_ops
        register(name, getattr(module, name), backend="numba")
