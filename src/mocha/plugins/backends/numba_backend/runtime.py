"""What the Numba backend's kernels share: the one loader of the compiled loops, numba's thread
count, the serial/parallel dispatch and the array helpers of the `out=` convention.

Nothing here imports numba at import time. `loops(topic)` imports `loops/<topic>.py` (and
numba with it) on the first call of a kernel of that topic; `numba()` imports only numba
(through the `loops` package, the one place that imports it), for the availability check and
the thread count.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np

from mocha.plugins.backends.numba_backend.tuner import Tuner

Pair = tuple[int, int]

#: Below this many elements a kernel runs on the calling thread only: starting a parallel
#: region costs more than the work. (With OpenMP's workers put to sleep after every region,
#: `OMP_WAIT_POLICY=PASSIVE`, which this backend set until 2026-11-28, every region paid a
#: wake-up of about 0.5 ms on this project's VM, and this threshold had to be 1 << 21.)
SERIAL_BELOW = 1 << 16

_LOOPS = __name__.rsplit(".", 1)[0] + ".loops"
_loaded: dict[str, ModuleType] = {}
#: The adaptive thread count of the parallel regions (on for a default `NumbaBackend`).
TUNER = Tuner()
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

    numba's OpenMP workers keep GNU OpenMP's default wait policy: after a parallel region they
    spin for a while (GOMP_SPINCOUNT) before they sleep, so the next region, a few
    microseconds later in a training step, finds them awake. Putting them to sleep at once
    (`OMP_WAIT_POLICY=PASSIVE`, which this backend set until 2026-11-28, when BLAS still ran
    its own threads beside numba's) costs a wake-up per region: about 0.5 ms on this
    project's VM, as much as the work of a LeNet convolution chunk. A policy set in the
    environment is respected.
    """
    module = _loaded.get(topic)
    if module is None:
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
    `SERIAL_BELOW`, else at the count the `TUNER` picks (when on)."""
    threads = get_threads()
    if threads == 1:
        loop(*args)
        return
    if size >= SERIAL_BELOW:
        if TUNER.enabled:
            TUNER.call((loop, size), threads, set_threads, loop, *args)
        else:
            loop(*args)
        return
    set_threads(1)
    try:
        loop(*args)
    finally:
        set_threads(threads)


#: The dtypes the compiled elementwise and update loops are built for.
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def flat_views(*arrays: Any) -> list[np.ndarray] | None:
    """Flat (1-D) views of `arrays` when a flat compiled loop can take them: C-contiguous
    NumPy arrays of one shape and one float dtype (`FLOATS`); else None."""
    first = arrays[0]
    for a in arrays:
        if not (
            isinstance(a, np.ndarray)
            and a.flags.c_contiguous
            and a.dtype == first.dtype
            and a.shape == first.shape
        ):
            return None
    return [a.reshape(-1) for a in arrays] if first.dtype in FLOATS else None


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
