"""The softmax kernel of the Numba backend: one compiled pass (`loops/softmax.py`) over any
axis, numerically stable, as `generic.softmax`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mocha.plugins.backends.numba_backend.runtime import contiguous, loops, run


def softmax(backend: Any, x: Any, axis: int = 1, out: Any = None) -> np.ndarray:
    """Numerically stable softmax along `axis` (any axis; one compiled pass)."""
    x = contiguous(x)
    axis = axis + x.ndim if axis < 0 else axis
    shape3 = (math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1 :]))
    y = np.empty_like(x) if out is None else out
    if y.flags.c_contiguous:
        run(loops("softmax").softmax_ncs, x.size, x.reshape(shape3), y.reshape(shape3))
        return y
    tmp = np.empty_like(x)
    run(loops("softmax").softmax_ncs, x.size, x.reshape(shape3), tmp.reshape(shape3))
    y[...] = tmp
    return y


KERNELS: dict[str, Callable[..., Any]] = {"softmax": softmax}
