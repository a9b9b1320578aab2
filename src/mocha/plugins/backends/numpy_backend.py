"""The pure NumPy reference backend: the oracle every other backend is checked against.

It overrides no kernel: every kernel it runs is the generic (`"*"`) version of `generic/`,
written with `xp` (which is NumPy here).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import mocha.plugins.backends._blas_threads as blas_threads
import mocha.plugins.backends._thread_settings as thread_settings
from mocha.core.backend import Backend
from mocha.core.hookspecs import hookimpl


class NumpyBackend(Backend):
    """NumPy arrays, generic `xp` kernels. `NumpyBackend(dtype="float64", seed=0,
    threads=None)`: `init()` sets BLAS (through threadpoolctl) to `threads` threads,
    `shutdown()` puts the previous count back."""

    name = "numpy"
    priority = 10
    device = "cpu"
    xp = np

    def init(self) -> None:
        if not self.initialized:
            if not self.threads_given:  # the user's settings and the machine's limits decide
                self.threads, self.threads_reason = thread_settings.default_threads()
            else:
                self.threads_reason = f"threads={self.threads} given"
            self._saved_blas = blas_threads.set_threads(self.threads, refresh=True)
        super().init()

    def thread_info(self) -> dict[str, Any]:
        """`threads` and why (`threads_reason`: the setting that decided the default)."""
        return {"threads": self.threads, "why": getattr(self, "threads_reason", "")}

    def shutdown(self) -> None:
        saved = getattr(self, "_saved_blas", None)
        if self.initialized and saved is not None:
            blas_threads.restore(saved)
            self._saved_blas = None
        super().shutdown()


@hookimpl
def mocha_register_backends(register):
    register(NumpyBackend)
