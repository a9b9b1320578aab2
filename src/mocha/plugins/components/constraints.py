"""Norm constraints (semantics §4.4), applied by the solver after the update."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mocha.core.components import Constraint
from mocha.core.hookspecs import hookimpl


@dataclass(frozen=True)
class NoCons(Constraint):
    """No constraint."""

    every_n_iter: int = 0

    def apply(self, backend: Any, param: Any) -> None:
        pass


@dataclass(frozen=True)
class L2Cons(Constraint):
    """Scale each output unit's weights (each row of an IP weight, each conv filter) whose L2
    norm exceeds `threshold` down to norm `threshold`. A 1-D parameter is one vector."""

    threshold: float = 1.0
    every_n_iter: int = 1

    def __post_init__(self) -> None:
        if not self.threshold > 0:
            raise self.config_error("threshold", self.threshold, "must be > 0")
        if not (isinstance(self.every_n_iter, int) and self.every_n_iter >= 0):
            raise self.config_error("every_n_iter", self.every_n_iter, "must be an int >= 0")

    def apply(self, backend: Any, param: Any) -> None:
        xp = backend.xp
        w = param.data
        rows = w.reshape(1, -1) if w.ndim == 1 else w.reshape(w.shape[0], -1)
        norms = xp.sqrt(xp.sum(rows * rows, axis=1, keepdims=True))
        scale = xp.where(norms > self.threshold, self.threshold / xp.maximum(norms, 1e-30), 1.0)
        # write back through `w`: reshaping a non-contiguous array gives a copy, not a view
        w[...] = (rows * scale.astype(w.dtype)).reshape(w.shape)


@hookimpl
def mocha_register_constraints(register):
    for cls in (NoCons, L2Cons):
        register(cls)
