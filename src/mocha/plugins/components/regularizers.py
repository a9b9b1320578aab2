"""Regularizers (semantics §4.3). λ = coefficient × the solver's regu_coef. The gradient is
**added** to the parameter gradient; the loss is informational (never in the objective)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mocha.core.components import Regularizer
from mocha.core.hookspecs import hookimpl


def scratch(backend: Any, like: Any) -> Any:
    """A reusable scratch array shaped like `like` (the backend's "scratch" workspace), or
    None when the backend keeps no workspaces (then callers allocate as usual)."""
    get = getattr(backend, "workspace", None)
    return None if get is None else get("scratch", like.shape, like.dtype)


@dataclass(frozen=True)
class NoRegu(Regularizer):
    """No regularization."""

    coefficient: float = 0.0

    def gradient(self, backend: Any, param: Any, grad: Any, coef: float) -> None:
        pass


@dataclass(frozen=True)
class L2Regu(Regularizer):
    """loss λ‖W‖² (no ½); gradient 2λW."""

    coefficient: float = 1.0

    def __post_init__(self) -> None:
        if not self.coefficient >= 0:
            raise self.config_error("coefficient", self.coefficient, "must be >= 0")

    def gradient(self, backend: Any, param: Any, grad: Any, coef: float) -> None:
        lam = self.coefficient * coef
        if lam != 0:
            tmp = scratch(backend, param.data)
            if tmp is None:
                grad.data += (2 * lam) * param.data
            else:  # same arithmetic, no temporary allocated
                backend.xp.multiply(param.data, 2 * lam, out=tmp)
                grad.data += tmp

    def loss(self, backend: Any, param: Any, coef: float) -> float:
        return float(self.coefficient * coef * backend.xp.sum(param.data * param.data))


@dataclass(frozen=True)
class L1Regu(Regularizer):
    """loss λ·Σ|W|; gradient λ·sign(W) with sign(0) = 0."""

    coefficient: float = 1.0

    def __post_init__(self) -> None:
        if not self.coefficient >= 0:
            raise self.config_error("coefficient", self.coefficient, "must be >= 0")

    def gradient(self, backend: Any, param: Any, grad: Any, coef: float) -> None:
        lam = self.coefficient * coef
        if lam != 0:
            grad.data += lam * backend.xp.sign(param.data)

    def loss(self, backend: Any, param: Any, coef: float) -> float:
        return float(self.coefficient * coef * backend.xp.sum(backend.xp.abs(param.data)))


@hookimpl
def mocha_register_regularizers(register):
    for cls in (NoRegu, L2Regu, L1Regu):
        register(cls)
