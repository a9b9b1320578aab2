"""Chunk-level parallelism for the Numba backend's convolutions.

A convolution runs over chunks of the mini-batch (gather, matrix products, reorder). With
T > 1 threads, `map_chunks` hands the chunks to T threads at once — the calling thread and
T − 1 helper threads — each running ITS chunks start to finish with one numba thread and one
OpenBLAS thread (`numba.set_num_threads` and OpenBLAS's `openblas_set_num_threads_local` are
per thread, so nothing else is affected). Each chunk is then one long serial job instead of
several short parallel ones: no wake-ups of sleeping workers between the steps, and matrix
products that OpenBLAS's own threading split poorly (a thin side of 32-64 filters against
thousands of columns) run at single-thread speed on every core.

Every chunk writes its own slice of the outputs; sums over chunks (∇W, ∇b) are kept per thread
and added in thread order afterwards, so results are reproducible for a given thread count.
Without OpenBLAS's per-thread setting (a NumPy built on another BLAS) chunks run one after the
other, as with one thread.
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from mocha.plugins.backends import numba_backend as nb

_lock = threading.Lock()
_set_local: Any = None  # openblas_set_num_threads_local once looked up; False: unavailable
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def blas_set_local() -> Any:
    """NumPy's OpenBLAS `openblas_set_num_threads_local(n) -> previous`, or False."""
    global _set_local
    if _set_local is None:
        found: Any = False
        root = os.path.dirname(os.path.dirname(np.__file__))
        patterns = ("numpy.libs/*openblas*", "numpy/.dylibs/*openblas*")
        for path in sorted(p for pat in patterns for p in glob.glob(os.path.join(root, pat))):
            try:
                fn = ctypes.CDLL(path).openblas_set_num_threads_local
            except (OSError, AttributeError):
                continue
            fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
            found = fn
            break
        _set_local = found
    return _set_local


def _serial_thread() -> None:
    """Helper-thread initializer: one numba thread, one OpenBLAS thread, on this thread."""
    import numba

    numba.set_num_threads(1)
    blas_set_local()(1)


def _helpers(count: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != count:
            if _pool is not None:
                _pool.shutdown(wait=True)
            _pool = ThreadPoolExecutor(count, thread_name_prefix="mocha-chunks",
                                       initializer=_serial_thread)
            _pool_size = count
        return _pool


def workers(n_chunks: int) -> int:
    """How many threads `map_chunks` would use for `n_chunks` chunks."""
    threads = nb._threads()
    if threads < 2 or n_chunks < 2 or not blas_set_local():
        return 1
    return min(threads, n_chunks)


def map_chunks(chunks: list[tuple[int, int]], job: Callable[[int, int, int], None]) -> int:
    """Call job(t, n0, n1) for every chunk, thread t taking chunks t, t + T, t + 2T, ...;
    returns T. Exceptions of any thread propagate (after all threads have finished)."""
    T = workers(len(chunks))
    if T == 1:
        for n0, n1 in chunks:
            job(0, n0, n1)
        return 1

    def run(t: int) -> None:
        for n0, n1 in chunks[t::T]:
            job(t, n0, n1)

    futures = [_helpers(T - 1).submit(run, t) for t in range(1, T)]
    import numba

    threads = numba.get_num_threads()
    set_local = blas_set_local()
    numba.set_num_threads(1)
    previous = set_local(1)
    try:
        run(0)
    finally:
        set_local(previous)
        numba.set_num_threads(threads)
        errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
    return T


def plan_chunks(backend: Any, N: int, bytes_per_image: int) -> list[tuple[int, int]]:
    """Chunks of the batch whose scratch (`bytes_per_image` each) fits the backend's
    `conv_chunk_bytes` (0: the whole batch), balanced over the threads of `map_chunks`. Where
    chunks cannot go to separate threads (no per-thread OpenBLAS setting), they are 4x as large
    with 2+ threads, so that OpenBLAS's threads share products over more columns."""
    threads = nb._threads()
    per_thread = bool(blas_set_local())
    budget = getattr(backend, "conv_chunk_bytes", 0) or N * bytes_per_image
    if threads > 1 and not per_thread and budget < N * bytes_per_image:
        budget *= 4
    return balanced_chunks(N, budget // max(bytes_per_image, 1), threads if per_thread else 1)


def balanced_chunks(N: int, per_chunk: int, threads: int) -> list[tuple[int, int]]:
    """Chunks of at most `per_chunk` images whose count is a multiple of `threads` when it
    can be (so that every thread gets the same number of images)."""
    per_chunk = max(1, min(N, per_chunk))
    n = -(-N // per_chunk)
    if threads > 1 and N >= threads:
        n = -(-n // threads) * threads
    B = -(-N // n)
    return [(n0, min(N, n0 + B)) for n0 in range(0, N, B)]
