"""The Numba CPU backend: NumPy arrays, hot kernels compiled with Numba.

`NumbaBackend` ("numba") ranks above the NumPy reference backend, so `CPUBackend()` and
`DefaultBackend()` pick it whenever numba imports. Its array module is NumPy; it overrides the
hot kernels of the kernel table with compiled loops and leaves the rest (`im2col`, ...) to the
generic versions. The package mirrors `generic/`, one module per topic, each ending with its
`KERNELS` table (kernel name -> implementation), all registered by this module's hook:

==================  ============================================================================
``conv``            im2col, col2im, conv_forward, conv_backward (im2col + one BLAS product per
                    group and chunk, each convolution one compiled parallel region over the
                    chunks; ``rowconv``: the row-wise path for stride-1 convolutions over many
                    channels; ``threads``: how the chunks are planned and run)
``blas``            gemm: large products cut by rows or columns over the threads, one-thread
                    BLAS each, in one compiled region
``pool``            max / mean pooling, forward and backward
``lrn``             local response normalization, both modes
``batchnorm``       batch normalization: per-channel statistics, normalize, gradients
``softmax``         softmax over any axis
``elementwise``     neurons, dropout, the softmax-loss gradient
``update``          the SGD momentum step and the scaled add of the L2 regularizer
``runtime``         what they share: the one loader of the compiled loops, numba's thread
                    count, the serial/parallel dispatch `run`, `contiguous`, `out_or`
``loops/<topic>``   the compiled loops, the only modules that import numba (``loops/blas``:
                    NumPy's own BLAS product, callable from compiled code)
==================  ============================================================================

Importing the package does not import numba: `why_unavailable()` imports it when asked, and
the kernels load their loops (`runtime.loops(topic)`) on their first call. The loops are
cached on disk (`cache=True`), so only the very first run on a machine pays the compilation.
Kernel outputs are always fresh arrays (or the caller's `out=`), never workspace views; scratch
memory comes from `Backend.workspace`, so a training loop allocates none after its first
iteration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import mocha.plugins.backends._blas_threads as blas_threads
import mocha.plugins.backends.numba_backend.batchnorm as batchnorm
import mocha.plugins.backends.numba_backend.blas as blas
import mocha.plugins.backends.numba_backend.conv as conv
import mocha.plugins.backends.numba_backend.elementwise as elementwise
import mocha.plugins.backends.numba_backend.lrn as lrn
import mocha.plugins.backends.numba_backend.pool as pool
import mocha.plugins.backends.numba_backend.runtime as runtime
import mocha.plugins.backends.numba_backend.softmax as softmax
import mocha.plugins.backends.numba_backend.update as update
from mocha.core.backend import Backend
from mocha.core.hookspecs import hookimpl

#: The topic modules whose `KERNELS` the backend registers.
TOPICS = (blas, conv, pool, lrn, batchnorm, softmax, elementwise, update)
#: Every kernel the Numba backend overrides: name -> implementation.
KERNELS: dict[str, Callable[..., Any]] = {
    name: impl for topic in TOPICS for name, impl in topic.KERNELS.items()
}
OVERRIDDEN: tuple[str, ...] = tuple(KERNELS)


class NumbaBackend(Backend):
    """NumPy arrays with Numba-compiled kernels.
    `NumbaBackend(dtype="float32", seed=0, threads=None)`.

    Threads: `threads` (default: the cores this process may run on) is applied by `init()`
    and undone by `shutdown()`: numba's thread count (`numba.set_num_threads`, on the calling
    thread) becomes `threads`, and every BLAS library's (through threadpoolctl) becomes 1.
    The backend parallelizes the products itself: a convolution over 10 MFLOP is one
    compiled parallel region whose `threads` threads each run whole chunks of the batch
    (gather, one-thread BLAS products, reorder; `threads.py`), and large matrix products are
    cut into one block per thread the same way (`blas.py`). So BLAS never wakes its own
    workers, and no environment variable is needed for full speed. numba's OpenMP workers
    keep OpenMP's default wait policy (a short spin, then sleep), so a region a few
    microseconds after the previous one finds them awake (`runtime.loops`). Results are
    reproducible for a given thread count.
    """

    name = "numba"
    priority = 20
    #: Convolutions run over chunks of the mini-batch whose gathered columns take at most this
    #: many bytes (so they stay in cache); 0 means the whole batch at once. With more than one
    #: thread the chunks are shared out between the threads (`threads`).
    conv_chunk_bytes: int = 2 << 20
    #: The convolution layer's cache keeps the im2col columns of the whole batch for the
    #: backward pass only up to this many bytes (they should stay in the last-level cache;
    #: beyond it, writing them to memory and reading them back cost more than a second
    #: im2col of each chunk in the backward pass). 0: never keep.
    conv_keep_cols_bytes: int = 16 << 20
    device = "cpu"
    xp = np

    def init(self) -> None:
        """Apply `threads`: numba's count on the calling thread, BLAS at 1 thread (the
        previous settings are kept for `shutdown`)."""
        if self.initialized:
            return
        numba = runtime.numba()
        limit = numba.config.NUMBA_NUM_THREADS
        if self.threads > limit and not self.threads_given:
            self.threads = limit  # the default: all the cores numba's pool may use
        if self.threads > limit:
            raise ValueError(
                f"NumbaBackend: threads={self.threads} is more than numba's pool has "
                f"(NUMBA_NUM_THREADS={limit}); ask for at most {limit}"
            )
        self._saved_threads = (runtime.get_threads(), blas_threads.set_threads(1, refresh=True))
        runtime.set_threads(self.threads)
        super().init()

    def shutdown(self) -> None:
        """Put numba's and BLAS's thread counts back as `init` found them."""
        saved = getattr(self, "_saved_threads", None)
        if self.initialized and saved is not None:
            runtime.set_threads(saved[0])
            blas_threads.restore(saved[1])
            self._saved_threads = None
        super().shutdown()

    def thread_info(self) -> dict[str, Any]:
        """`threads`, numba's count on the calling thread (`numba_threads`) and its threading
        layer (None before the first parallel loop)."""
        numba = runtime.numba()
        try:
            layer = numba.threading_layer()
        except ValueError:  # no parallel loop has run yet
            layer = None
        return {
            "threads": self.threads,
            "numba_threads": runtime.get_threads(),
            "threading_layer": layer,
        }

    @classmethod
    def why_unavailable(cls) -> str | None:
        try:
            runtime.numba()
        except Exception as exc:  # ImportError, or a numba that refuses this numpy
            if "CBLAS" in str(exc):  # loops/blas.py: no BLAS product to call from the loops
                return str(exc)
            return f"numba cannot be imported ({type(exc).__name__}: {exc})"
        return None


@hookimpl
def mocha_register_backends(register):
    register(NumbaBackend)


@hookimpl
def mocha_register_kernels(register):
    for name, impl in KERNELS.items():
        register(name, impl, backend="numba")
