"""Parameter initializers (semantics §4.2). All randomness comes from `backend.rng`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mocha.core.components import Initializer, NullInitializer
from mocha.core.hookspecs import hookimpl


def fan_in(shape: tuple[int, ...]) -> int:
    """Inputs feeding one output unit: prod(shape[1:]) (IP weight (out, F): F; conv filter
    (F, C/G, kh, kw): C/G·kh·kw; a 1-D bias (out,): 1)."""
    return int(np.prod(shape[1:])) if len(shape) > 1 else 1


@dataclass(frozen=True)
class ConstantInitializer(Initializer):
    """Fill with `value`."""

    value: float = 0.0

    def init(self, backend: Any, blob: Any) -> None:
        blob.fill(self.value)


@dataclass(frozen=True)
class XavierInitializer(Initializer):
    """Uniform on [-s, s) with s = sqrt(3 / fan_in) (fan-out ignored, as Mocha)."""

    def init(self, backend: Any, blob: Any) -> None:
        s = math.sqrt(3.0 / fan_in(blob.shape))
        blob.data[...] = backend.random_uniform(blob.shape, -s, s)


@dataclass(frozen=True)
class GaussianInitializer(Initializer):
    """randn · std + mean (drawn in float64, then converted)."""

    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        if not self.std >= 0:
            raise self.config_error("std", self.std, "must be >= 0")

    def init(self, backend: Any, blob: Any) -> None:
        blob.data[...] = backend.random_normal(blob.shape, self.mean, self.std)


@dataclass(frozen=True)
class OrthogonalInitializer(Initializer):
    """Lasagne's rule on the numpy shape: flatten to (shape[0], prod(shape[1:])), take the
    thin SVD of a Gaussian matrix of that shape, keep U or V^T (whichever has the flat shape),
    scale by `gain`. Rows (if fewer) or columns are orthonormal."""

    gain: float = 1.0

    def init(self, backend: Any, blob: Any) -> None:
        shape = blob.shape
        flat = (shape[0], int(np.prod(shape[1:])) if len(shape) > 1 else 1)
        a = backend.rng.standard_normal(size=flat)
        u, _, vt = np.linalg.svd(a, full_matrices=False)
        q = u if u.shape == flat else vt
        blob.data[...] = backend.asarray((self.gain * q).reshape(shape))


@hookimpl
def mocha_register_initializers(register):
    for cls in (
        NullInitializer,
        ConstantInitializer,
        XavierInitializer,
        GaussianInitializer,
        OrthogonalInitializer,
    ):
        register(cls)
