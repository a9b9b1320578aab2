"""The CuPy GPU backend: `xp` is `cupy`; the generic `xp` kernels (`generic/`) run unchanged on
it (it registers no kernel of its own).

CuPy is imported lazily: registering this backend costs nothing on a machine without CuPy,
and `why_unavailable()` says why it cannot be used (no CuPy installed, no CUDA device).
Randomness is drawn from the backend's seeded host RNG and copied to the device, so a run
on the GPU sees the same random numbers as on the CPU (reproducible and resumable).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mocha.core.backend import Backend
from mocha.core.errors import MochaError
from mocha.core.extras import install_hint
from mocha.core.hookspecs import hookimpl


def _import_cupy() -> Any:
    import cupy

    return cupy


class CupyBackend(Backend):
    """CuPy arrays on the current CUDA device. `CupyBackend(dtype="float32", seed=0)`."""

    name = "cupy"
    priority = 100
    device = "gpu"

    def __init__(self, dtype: Any = "float32", seed: int = 0, threads: int | None = None) -> None:
        reason = self.why_unavailable()
        if reason:
            raise MochaError(f"the cupy backend is not available: {reason}")
        super().__init__(dtype=dtype, seed=seed, threads=threads)
        self.xp = _import_cupy()

    @classmethod
    def why_unavailable(cls) -> str | None:
        try:
            cupy = _import_cupy()
        except Exception as exc:  # ImportError, or a broken CUDA installation
            return (
                f"cupy cannot be imported ({type(exc).__name__}: {exc}); install the "
                f"'gpu' extra: {install_hint('gpu')}"
            )
        try:
            if cupy.cuda.runtime.getDeviceCount() < 1:
                return "no CUDA device is visible"
        except Exception as exc:
            return f"no usable CUDA device ({type(exc).__name__}: {exc})"
        return None

    def asarray(self, host: Any, dtype: Any = None) -> Any:
        return self.xp.asarray(host, dtype=dtype or self.dtype)

    def to_host(self, array: Any) -> np.ndarray:
        return self.xp.asnumpy(array)

    def synchronize(self) -> None:
        self.xp.cuda.get_current_stream().synchronize()


@hookimpl
def mocha_register_backends(register):
    register(CupyBackend)
