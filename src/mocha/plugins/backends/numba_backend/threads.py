"""How the Numba backend's convolutions and large products use the threads: chunks of the batch
(or of a product's rows), each run start to finish on one thread inside ONE compiled parallel
region (`loops/conv.py`'s `forward_chunks`, ...), BLAS at one thread.

Why one region: every hand-over between threads costs a wake-up of the other thread, and on a
VM an idle vCPU takes about 0.5 ms to wake (measured here: two 0.6 ms jobs on two Python
threads took 1.15 ms, i.e. ran one after the other; as one numba region with OpenMP's default
wait policy, 0.63 ms). Python helper threads pay that wake-up at every GIL hand-over between
the gather, the products and the reorder; a compiled region pays it at most once, and not at
all while OpenMP's workers still spin from the previous region (GNU OpenMP spins for a while
before sleeping, unless `OMP_WAIT_POLICY=PASSIVE`).

Results never depend on the thread count: the chunks are a function of the problem alone
(the batch, the scratch per image, `conv_chunk_bytes`; their count rounded up to a multiple of
`CHUNK_MULTIPLE` so that two threads get equal shares), so every BLAS call has the same shape
at 1 thread as at 8, and sums over chunks (∇W, ∇b) are kept per chunk and added in chunk order
afterwards (`reduce_partials`), whichever thread ran which chunk. Small convolutions
(`CHUNK_THREADS_MIN_FLOPS`) run the same chunks on the calling thread only.

Like every parallel numba loop on the GNU OpenMP layer, these regions are not fork-safe: a
child forked (without exec) from a process that ran one is stopped by numba if it runs one
too. Start such workers with the "spawn" or "forkserver" start method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

import mocha.plugins.backends.numba_backend.runtime as runtime

#: Convolutions of fewer floating-point operations (per pass over the batch) run their chunks
#: on the calling thread: a parallel region costs some microseconds to start, tens when a
#: worker has to be woken.
CHUNK_THREADS_MIN_FLOPS = 10_000_000
#: A batch of at least this many images is cut into a multiple of this many chunks (the chunk
#: plan never depends on the thread count; 2 balances the 2-core machines this was tuned on).
CHUNK_MULTIPLE = 2


@dataclass(frozen=True)
class ChunkPlan:
    """The chunks (n0, n1) of a batch and how many threads run them."""

    chunks: list[tuple[int, int]]
    threads: int
    bounds: np.ndarray = field(init=False, repr=False, compare=False)
    largest: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        edges = [n0 for n0, _ in self.chunks] + [self.chunks[-1][1] if self.chunks else 0]
        object.__setattr__(self, "bounds", np.asarray(edges, dtype=np.int64))
        object.__setattr__(self, "largest", max((n1 - n0 for n0, n1 in self.chunks), default=0))


def plan_chunks(backend: Any, N: int, bytes_per_image: int, flops: float) -> ChunkPlan:
    """Chunks of the batch whose scratch (`bytes_per_image` each) fits the backend's
    `conv_chunk_bytes` (0: the whole batch), a multiple of `CHUNK_MULTIPLE` of them; run on
    the threads when the work (`flops`) is worth them. The chunks do not depend on the
    thread count (so neither do the results)."""
    budget = getattr(backend, "conv_chunk_bytes", 0) or N * bytes_per_image
    chunks = balanced_chunks(N, budget // max(bytes_per_image, 1), CHUNK_MULTIPLE)
    return plan_over(chunks, flops)


def plan_over(
    chunks: list[tuple[int, int]], flops: float, min_flops: float | None = None
) -> ChunkPlan:
    """A plan over GIVEN chunks (those a cached buffer was laid out by, a product's blocks),
    spread over the threads when the work (`flops`) is at least `min_flops`
    (`CHUNK_THREADS_MIN_FLOPS` by default)."""
    threads = runtime.get_threads()
    least = CHUNK_THREADS_MIN_FLOPS if min_flops is None else min_flops
    spread = threads > 1 and flops >= least
    return ChunkPlan(list(chunks), min(threads, len(chunks)) if spread else 1)


def run_plan(plan: ChunkPlan, loop: Any, *args: Any) -> None:
    """Call the compiled chunk `loop(*args)` (a parallel loop over the plan's chunks, each
    thread t using its own scratch row t) on `plan.threads` numba threads, or on 1 when the
    adaptive `runtime.TUNER` measured that faster (the scratch rows are those of
    `plan.threads` threads either way)."""
    current = runtime.get_threads()
    tuner = runtime.TUNER
    if plan.threads == current and (plan.threads == 1 or not tuner.enabled):
        loop(*args)
        return
    runtime.set_threads(plan.threads)
    try:
        if plan.threads > 1 and tuner.enabled:  # at plan.threads or 1, as measured
            key = (loop, tuple(plan.chunks), *(getattr(a, "shape", None) for a in args[:2]))
            tuner.call(key, plan.threads, runtime.set_threads, loop, *args)
        else:
            loop(*args)
    finally:
        runtime.set_threads(current)


def chunk_partials(
    backend: Any, role: str, plan: ChunkPlan, shape: tuple[int, ...], dtype: Any, bias_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Workspaces for the per-chunk partial sums of a backward region: parts[c] (`shape`, the
    ∇W term of chunk c, written whole by the region) and rowsums[c, f, n] (float64, zeroed:
    the ∇b partial sums of image n of chunk c; shorter chunks leave their tail at 0)."""
    n = len(plan.chunks)
    parts = backend.workspace(role, (n, *shape), dtype)
    rowsums = backend.workspace(f"{role}_db", (n, bias_size, plan.largest), np.float64)
    rowsums.fill(0.0)
    return parts, rowsums


def reduce_partials(parts: np.ndarray, rowsums: np.ndarray, db: np.ndarray) -> np.ndarray:
    """Add the ∇b partials into `db` and return the ∇W total parts[0] + parts[1] + ...
    (summed into parts[0]), both in chunk order: the result does not depend on which thread
    ran which chunk."""
    db += rowsums.sum(axis=2).sum(axis=0).astype(db.dtype)
    acc = parts[0]
    for i in range(1, len(parts)):
        acc += parts[i]
    return acc


def balanced_chunks(N: int, per_chunk: int, multiple: int) -> list[tuple[int, int]]:
    """Chunks of at most `per_chunk` images whose count is a multiple of `multiple` when it
    can be (so that as many threads get the same number of images)."""
    per_chunk = max(1, min(N, per_chunk))
    n = -(-N // per_chunk)
    if multiple > 1 and N >= multiple:
        n = -(-n // multiple) * multiple
    B = -(-N // n)
    return [(n0, min(N, n0 + B)) for n0 in range(0, N, B)]
