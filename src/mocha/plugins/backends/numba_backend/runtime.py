"""What the Numba backend's kernels share: the one loader of the compiled loops, numba's thread
count, the serial/parallel dispatch and the array helpers of the `out=` convention.

Nothing here imports numba at import time. `loops(topic)` imports `loops/<topic>.py` (and
numba with it) on the first call of a kernel of that topic; `numba()` imports only numba
(through the `loops` package, the one place that imports it), for the availability check and
the thread count.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import numpy as np

Pair = tuple[int, int]

#: Below this many elements a kernel runs on the calling thread only: waking numba's sleeping
#: workers costs more than the work (batch-1 latency at 2 threads: LeNet 0.29 -> 0.15 ms at
#: 1 << 15; CIFAR-10 0.61 -> 0.50 ms going from 1 << 15 to 1 << 17), and every parallel loop
#: is a rendezvous of all the threads, which on a busy machine waits for the one the scheduler
#: has set aside (numba's loops split the work statically). LeNet training at 2 threads with
#: other jobs running (load average ~4 on 2 cores), 3 interleaved runs each: 6.1-12.3 it/s at
#: 1 << 17, 11.0-20.4 at 1 << 21 (every LeNet loop serial; the convolutions and large matrix
#: products still spread their chunks over the threads, `threads.map_chunks`).
SERIAL_BELOW = 1 << 21

_LOOPS = __name__.rsplit(".", 1)[0] + ".loops"
_loaded: dict[str, ModuleType] = {}
_numba: ModuleType | None = None


def numba() -> ModuleType:
    """numba itself (imported on first use; ImportError, or numba's own error, when it cannot
    be imported)."""
    global _numba
    if _numba is None:
        _numba = importlib.import_module(_LOOPS).numba
    return _numba


def loops(topic: str) -> ModuleType:
    """The compiled loops of `topic` (`loops/<topic>.py`), imported on first use.

    numba's OpenMP pool is started on the first parallel kernel. With the default (spinning)
    wait policy its idle workers fight OpenBLAS's threads for the cores between kernels: LeNet
    training at 2 threads ran ~5x slower than at 1 thread here. Sleeping workers cost
    microseconds per kernel. So unless `OMP_WAIT_POLICY` or `GOMP_SPINCOUNT` is set, the first
    load sets `OMP_WAIT_POLICY=PASSIVE` before any loop runs.
    """
    module = _loaded.get(topic)
    if module is None:
        if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        module = _loaded[topic] = importlib.import_module(f"{_LOOPS}.{topic}")
    return module


def get_threads() -> int:
    """numba's thread count on the calling thread (the kernels' and, by convention,
    OpenBLAS's)."""
    return numba().get_num_threads()


def set_threads(count: int) -> None:
    """Set numba's thread count on the calling thread (numba's setting is per thread)."""
    numba().set_num_threads(count)


def run(loop: Any, size: int, *args: Any) -> None:
    """Call the compiled `loop` on `args`; serially (one thread) when `size` is below
    `SERIAL_BELOW`."""
    if size >= SERIAL_BELOW:
        loop(*args)
        return
    threads = get_threads()
    if threads == 1:
        loop(*args)
        return
    set_threads(1)
    try:
        loop(*args)
    finally:
        set_threads(threads)


def contiguous(a: Any, dtype: Any = None) -> np.ndarray:
    """`a` as a C-contiguous NumPy array (of `dtype` when given); no copy when it is one."""
    return np.ascontiguousarray(a, dtype=dtype)


def out_or(o: Any, shape: tuple[int, ...], dtype: np.dtype, fill: bool = False) -> np.ndarray:
    """`o` when a compiled loop can write it directly (a C-contiguous NumPy array of the right
    shape and dtype; zeroed when `fill`), else a new array (zeros when `fill`)."""
    if (
        o is not None
        and isinstance(o, np.ndarray)
        and o.dtype == dtype
        and o.shape == tuple(shape)
        and o.flags.c_contiguous
    ):
        if fill:
            o.fill(0)
        return o
    return np.zeros(shape, dtype=dtype) if fill else np.empty(shape, dtype=dtype)
