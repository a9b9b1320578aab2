"""Chunk-level parallelism for the Numba backend's convolutions.

A convolution runs over chunks of the mini-batch (gather, matrix products, reorder). With
T > 1 threads, `map_chunks` runs the chunks on T threads at once (the caller and T − 1 helpers),
each running ITS chunks start to finish with one numba thread and one OpenBLAS thread
(numba's setting is per thread; BLAS's is process-wide: an initialized `NumbaBackend` keeps
it at 1, and a map sets it to 1 for its duration in any case). Each chunk is then one long
serial job instead of several short parallel ones: no wake-ups of sleeping workers between
the steps, and matrix products that OpenBLAS's own threading split poorly (a thin side of
32-64 filters against thousands of columns) run at single-thread speed on every core. Small
convolutions (`CHUNK_THREADS_MIN_FLOPS`) stay on the calling thread.

Every chunk writes its own slice of the outputs; sums over chunks (∇W, ∇b) are kept per thread
and added in thread order afterwards, so results are reproducible for a given thread count.
Where threadpoolctl finds no BLAS whose thread count it can set, chunks run one after the
other, as with one thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

import mocha.plugins.backends._blas_threads as blas_threads
import mocha.plugins.backends.numba_backend.runtime as runtime

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_pid = 0


def _serial_thread() -> None:
    """Helper-thread initializer: one numba thread on this thread (numba's setting is per
    thread; OpenBLAS's is set by `map_chunks` for the duration of each map)."""
    runtime.set_threads(1)


def _helpers(count: int) -> ThreadPoolExecutor:
    """The helper pool of `count` threads (a new one in a forked child, whose copy of the
    parent's pool has no threads behind it)."""
    global _pool, _pool_size, _pool_pid
    with _lock:
        if _pool is None or _pool_size != count or _pool_pid != os.getpid():
            if _pool is not None and _pool_pid == os.getpid():
                _pool.shutdown(wait=True)
            _pool = ThreadPoolExecutor(count, thread_name_prefix="mocha-chunks",
                                       initializer=_serial_thread)
            _pool_size, _pool_pid = count, os.getpid()
        return _pool


#: Convolutions of fewer floating-point operations (per pass over the batch) keep their chunks
#: on the calling thread, OpenBLAS threading the products: handing chunks to a helper thread
#: costs some tens of microseconds. Measured at 2 threads: LeNet training 121-124 it/s with
#: no chunk threads, 126-131 with all its convolutions (37-410 MFLOP) on chunk threads;
#: CIFAR-10 (490-1310 MFLOP) 53 -> 44 ms per iteration.
CHUNK_THREADS_MIN_FLOPS = 10_000_000


@dataclass(frozen=True)
class ChunkPlan:
    """The chunks (n0, n1) of a batch and how many threads `map_chunks` runs them on."""

    chunks: list[tuple[int, int]]
    threads: int


def plan_chunks(backend: Any, N: int, bytes_per_image: int, flops: float) -> ChunkPlan:
    """Chunks of the batch whose scratch (`bytes_per_image` each) fits the backend's
    `conv_chunk_bytes` (0: the whole batch), balanced over the threads when the work (`flops`)
    is worth them. Chunks that stay on the calling thread are 4x as large with 2+ threads, so
    that OpenBLAS's threads share products over more columns."""
    threads = runtime.get_threads()
    spread = _spread(threads, flops)
    budget = getattr(backend, "conv_chunk_bytes", 0) or N * bytes_per_image
    if threads > 1 and not spread and budget < N * bytes_per_image:
        budget *= 4
    chunks = balanced_chunks(N, budget // max(bytes_per_image, 1), threads if spread else 1)
    return ChunkPlan(chunks, min(threads, len(chunks)) if spread else 1)


def plan_over(chunks: list[tuple[int, int]], flops: float) -> ChunkPlan:
    """A plan over GIVEN chunks (those a cached buffer was laid out by), spread over the
    threads when the work (`flops`) is worth them, as `plan_chunks` decides."""
    threads = runtime.get_threads()
    return ChunkPlan(list(chunks), min(threads, len(chunks)) if _spread(threads, flops) else 1)


def _spread(threads: int, flops: float) -> bool:
    """Whether a map of `flops` runs its chunks on `threads` threads at once."""
    return threads > 1 and flops >= CHUNK_THREADS_MIN_FLOPS and blas_threads.available()


def map_chunks(plan: ChunkPlan, job: Callable[[int, int, int], None]) -> None:
    """Call job(t, n0, n1) for every chunk of the plan, thread t taking chunks t, t + T,
    t + 2T, ... (T = plan.threads). Exceptions of any thread propagate (after all threads
    have finished)."""
    chunks, T = plan.chunks, plan.threads
    if T == 1:
        for n0, n1 in chunks:
            job(0, n0, n1)
        return

    def run(t: int) -> None:
        for n0, n1 in chunks[t::T]:
            job(t, n0, n1)

    # BLAS's thread count is process-wide, so it is set to 1 for the whole map (the
    # helpers' products included) and restored at the end; an initialized NumbaBackend
    # already keeps it at 1
    previous = blas_threads.set_threads(1)
    threads = runtime.get_threads()
    runtime.set_threads(1)
    try:
        futures = [_helpers(T - 1).submit(run, t) for t in range(1, T)]
        try:
            run(0)
        finally:
            errors = [f.exception() for f in futures]
    finally:
        runtime.set_threads(threads)
        blas_threads.restore(previous)
    for error in errors:
        if error is not None:
            raise error


class ChunkSums:
    """Sums over the chunks of a map (∇W and ∇b), kept per thread and added in thread order
    at the end, so that results are reproducible for a given thread count.

    Thread t writes its chunk's ∇W term into `slot(t)` (its accumulator itself for its first
    chunk, a scratch workspace after), then calls `add(t)`; ∇b partial sums go to `bias[t]`
    (float64). `total()` is the ∇W sum (a workspace view), `bias.sum(axis=0)` the ∇b sum."""

    def __init__(self, backend: Any, role: str, shape: tuple[int, ...], dtype: Any,
                 threads: int, bias_size: int) -> None:
        self._backend, self._role, self._shape, self._dtype = backend, role, shape, dtype
        self._acc = [backend.workspace(f"{role}{t}", shape, dtype) for t in range(threads)]
        self._started = [False] * threads
        self.bias = np.zeros((threads, bias_size))

    def slot(self, t: int) -> np.ndarray:
        if not self._started[t]:
            return self._acc[t]
        return self._backend.workspace(f"{self._role}_part{t}", self._shape, self._dtype)

    def add(self, t: int) -> None:
        if self._started[t]:
            self._acc[t] += self.slot(t)
        self._started[t] = True

    def total(self) -> np.ndarray:
        acc = self._acc[0]
        for t in range(1, len(self._acc)):
            if self._started[t]:
                acc += self._acc[t]
        return acc


def balanced_chunks(N: int, per_chunk: int, threads: int) -> list[tuple[int, int]]:
    """Chunks of at most `per_chunk` images whose count is a multiple of `threads` when it
    can be (so that every thread gets the same number of images)."""
    per_chunk = max(1, min(N, per_chunk))
    n = -(-N // per_chunk)
    if threads > 1 and N >= threads:
        n = -(-n // threads) * threads
    B = -(-N // n)
    return [(n0, min(N, n0 + B)) for n0 in range(0, N, B)]
