"""Chunk-level parallelism for the Numba backend's convolutions.

A convolution runs over chunks of the mini-batch (gather, matrix products, reorder). With
T > 1 threads, `map_chunks` runs the chunks on T threads at once (the caller and T − 1 helpers,
each taking the next chunk when it is free), each chunk start to finish with one numba thread
and one BLAS thread (numba's setting is per thread; BLAS's is process-wide: an initialized
`NumbaBackend` keeps it at 1, and a map sets it to 1 for its duration in any case). Each chunk
is then one long serial job instead of several short parallel ones: no wake-ups of sleeping
workers between the steps, and matrix products that OpenBLAS's own threading split poorly (a
thin side of 32-64 filters against thousands of columns) run at single-thread speed on every
core. Small convolutions (`CHUNK_THREADS_MIN_FLOPS`) stay on the calling thread.

Every chunk writes its own slice of the outputs; sums over chunks (∇W, ∇b) are kept per chunk
and added in chunk order afterwards, so results are reproducible for a given chunk plan.
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
            _pool = ThreadPoolExecutor(
                count, thread_name_prefix="mocha-chunks", initializer=_serial_thread
            )
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


#: Loops over at least this many elements that `run_batched` splits by images over the threads
#: (below it: `runtime.run`, serial under `runtime.SERIAL_BELOW`).
BATCH_SPLIT_MIN = 1 << 18


def run_batched(loop: Any, size: int, *args: Any) -> None:
    """`runtime.run(loop, size, *args)`, except that with T > 1 threads and `size` >=
    `BATCH_SPLIT_MIN` the batch is cut into about 4T chunks of images handed out to the
    threads (`map_chunks`: one numba thread each, a busy core delays nothing). Every array
    argument must have the batch as its first axis (each chunk gets its slice), and the loop
    must treat images independently."""
    T = runtime.get_threads()
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    N = arrays[0].shape[0] if arrays else 0
    if (
        T == 1
        or size < BATCH_SPLIT_MIN
        or N < 2
        or any(a.ndim == 0 or a.shape[0] != N for a in arrays)
    ):
        runtime.run(loop, size, *args)
        return

    def job(t: int, n0: int, n1: int) -> None:
        loop(*(a[n0:n1] if isinstance(a, np.ndarray) else a for a in args))

    chunks = balanced_chunks(N, -(-N // (4 * T)), T)
    map_chunks(ChunkPlan(chunks, min(T, len(chunks))), job)


def map_chunks(plan: ChunkPlan, job: Callable[[int, int, int], None]) -> None:
    """Call job(t, n0, n1) for every chunk of the plan on up to T = plan.threads threads, t
    being the thread's index (0: the caller), for its own scratch memory.

    Chunks are handed out one at a time to whichever thread is free (not t, t + T, ...
    fixed in advance): on a busy machine a helper that the scheduler keeps waiting simply
    takes fewer chunks, and the caller does the rest instead of waiting for it. Sums over
    chunks must therefore not depend on which thread ran a chunk (`ChunkSums` keys them by
    chunk). Exceptions of any thread propagate, after every chunk started has finished."""
    chunks, T = plan.chunks, plan.threads
    if T == 1:
        for n0, n1 in chunks:
            job(0, n0, n1)
        return
    work = _Work(chunks, job)
    # BLAS's thread count is process-wide, so it is set to 1 for the whole map (the
    # helpers' products included) and restored at the end; an initialized NumbaBackend
    # already keeps it at 1
    previous = blas_threads.set_threads(1)
    threads = runtime.get_threads()
    runtime.set_threads(1)
    try:
        pool = _helpers(T - 1)
        for t in range(1, T):
            pool.submit(work.run, t)
        work.run(0)
        work.wait()
    finally:
        runtime.set_threads(threads)
        blas_threads.restore(previous)
    if work.error is not None:
        raise work.error


class _Work:
    """The chunks of one map, handed out one by one; `wait()` returns once no chunk is being
    run (a helper that starts after the caller took the last chunk finds nothing to do)."""

    def __init__(self, chunks: list[tuple[int, int]], job: Callable[[int, int, int], None]):
        self.chunks, self.job = chunks, job
        self.next = self.active = 0
        self.error: BaseException | None = None
        self.cond = threading.Condition()

    def run(self, t: int) -> None:
        cond = self.cond
        while True:
            with cond:
                if self.next >= len(self.chunks) or self.error is not None:
                    return
                n0, n1 = self.chunks[self.next]
                self.next += 1
                self.active += 1
            try:
                self.job(t, n0, n1)
            except BaseException as exc:  # noqa: BLE001 (re-raised by map_chunks)
                with cond:
                    self.error = self.error or exc
            finally:
                with cond:
                    self.active -= 1
                    if self.active == 0:
                        cond.notify_all()

    def wait(self) -> None:
        with self.cond:
            while self.active:
                self.cond.wait()


class ChunkSums:
    """Sums over the chunks of a map (∇W and ∇b), one term per chunk, added in chunk order
    at the end: results do not depend on which thread ran which chunk.

    The job of chunk (n0, n1) writes its ∇W term into `slot(n0)` and adds its ∇b partial
    sums into `bias_row(n0)` (float64). `total()` is the ∇W sum (a workspace view),
    `bias.sum(axis=0)` the ∇b sum."""

    def __init__(
        self,
        backend: Any,
        role: str,
        shape: tuple[int, ...],
        dtype: Any,
        chunks: list[tuple[int, int]],
        bias_size: int,
    ) -> None:
        self._index = {n0: i for i, (n0, _) in enumerate(chunks)}
        self._slots = backend.workspace(role, (len(chunks), *shape), dtype)
        self.bias = np.zeros((len(chunks), bias_size))

    def slot(self, n0: int) -> np.ndarray:
        return self._slots[self._index[n0]]

    def bias_row(self, n0: int) -> np.ndarray:
        return self.bias[self._index[n0]]

    def total(self) -> np.ndarray:
        acc = self._slots[0]
        for i in range(1, len(self._slots)):
            acc += self._slots[i]
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
