"""The pure NumPy reference backend: the oracle every other backend is checked against.

It overrides no kernel: every kernel it runs is the generic (`"*"`) version of `generic/`,
written with `xp` (which is NumPy here).
"""

from __future__ import annotations

import numpy as np

from mocha.core.backend import Backend
from mocha.core.hookspecs import hookimpl


class NumpyBackend(Backend):
    """NumPy arrays, generic `xp` kernels. `NumpyBackend(dtype="float64", seed=0)`."""

    name = "numpy"
    priority = 10
    device = "cpu"
    xp = np


@hookimpl
def mocha_register_backends(register):
    register(NumpyBackend)
