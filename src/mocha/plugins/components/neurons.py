"""Neurons: activations applied in place to a layer's output (semantics §4.1).

The backward multiplies the top diff in place by f'(x), written with the output y = f(x).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mocha.core.components import Neuron
from mocha.core.hookspecs import hookimpl


@dataclass(frozen=True)
class Identity(Neuron):
    """y = x (skipped by the net)."""

    is_identity = True

    def forward(self, backend: Any, blob: Any) -> None:
        pass

    def backward(self, backend: Any, blob: Any, diff: Any) -> None:
        pass


@dataclass(frozen=True)
class ReLU(Neuron):
    """y = max(epsilon, x); dy/dx = [y > epsilon]."""

    epsilon: float = 0.0

    def forward(self, backend: Any, blob: Any) -> None:
        backend.xp.maximum(blob.data, self.epsilon, out=blob.data)

    def backward(self, backend: Any, blob: Any, diff: Any) -> None:
        diff.data *= blob.data > self.epsilon


@dataclass(frozen=True)
class LReLU(Neuron):
    """y = x if x > 0 else 0.01·x; dy/dx = 1 if y > 0 else 0.01 (Mocha's fixed slope)."""

    def forward(self, backend: Any, blob: Any) -> None:
        x = blob.data
        x *= backend.xp.where(x > 0, 1.0, 0.01).astype(x.dtype)

    def backward(self, backend: Any, blob: Any, diff: Any) -> None:
        y = blob.data
        diff.data *= backend.xp.where(y > 0, 1.0, 0.01).astype(y.dtype)


@dataclass(frozen=True)
class Sigmoid(Neuron):
    """y = 1/(1+exp(-x)); dy/dx = y(1-y)."""

    def forward(self, backend: Any, blob: Any) -> None:
        xp, x = backend.xp, blob.data
        # stable form: exp of a non-positive number only
        e = xp.exp(-xp.abs(x))
        x[...] = xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

    def backward(self, backend: Any, blob: Any, diff: Any) -> None:
        y = blob.data
        diff.data *= y * (1 - y)


@dataclass(frozen=True)
class Tanh(Neuron):
    """y = tanh(x); dy/dx = 1 - y²."""

    def forward(self, backend: Any, blob: Any) -> None:
        backend.xp.tanh(blob.data, out=blob.data)

    def backward(self, backend: Any, blob: Any, diff: Any) -> None:
        y = blob.data
        diff.data *= 1 - y * y


@dataclass(frozen=True)
class Exponential(Neuron):
    """y = exp(x); dy/dx = y."""

    def forward(self, backend: Any, blob: Any) -> None:
        backend.xp.exp(blob.data, out=blob.data)

    def backward(self, backend: Any, blob: Any, diff: Any) -> None:
        diff.data *= blob.data


@hookimpl
def mocha_register_neurons(register):
    for cls in (Identity, ReLU, LReLU, Sigmoid, Tanh, Exponential):
        register(cls)
