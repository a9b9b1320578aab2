"""Regularizers (semantics §4.3). λ = coefficient × the solver's regu_coef. The gradient is
**added** to the parameter gradient; the loss is informational (never in the objective)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mocha.core.components import Regularizer
from mocha.core.hookspecs import hookimpl


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
            backend.kernels.add_scaled(grad.data, param.data, 2 * lam)

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
