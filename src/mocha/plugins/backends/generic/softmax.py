"""The generic (`xp`) softmax kernel: exp(x - max) / Σ exp(x - max) along an axis.

Written with the backend's array module only, so it runs unchanged on NumPy and CuPy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def softmax(backend: Any, x: Any, axis: int = 1, out: Any = None) -> Any:
    """exp(x - max) / sum(exp(x - max)) along `axis`."""
    xp = backend.xp
    shifted = x - x.max(axis=axis, keepdims=True)
    if out is None:
        out = xp.empty_like(x)
    xp.exp(shifted, out=out)
    out /= out.sum(axis=axis, keepdims=True)
    return out


KERNELS: dict[str, Callable[..., Any]] = {"softmax": softmax}
