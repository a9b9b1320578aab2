"""Neurons: activations applied in place to a layer's output (semantics §4.1).

The backward multiplies the top diff in place by f'(x), written with the output y = f(x).
ReLU, LReLU, Sigmoid and Tanh run the backend's elementwise kernels (`<name>_forward`,
`<name>_backward`; generic versions in `kernels_elementwise`, compiled ones on Numba).
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
        backend.kernels.relu_forward(blob.data, self.epsilon, out=blob.data)

    def backward(self, backend: Any, blob: Any, diff: Any) -> None:
        backend.kernels.relu_backward(blob.data, diff.data, self.epsilon, out=diff.data)


@dataclass(frozen=True)
class LReLU(Neuron):
    """y = x if x > 0 else 0.01·x; dy/dx = 1 if y > 0 else 0.01 (Mocha's fixed slope)."""

    def forward(self, backend: Any, blob: Any) -> None:
        backend.kernels.lrelu_forward(blob.data, out=blob.data)

    def backward(self, backend: Any, blob: Any, diff: Any) -> None:
        backend.kernels.lrelu_backward(blob.data, diff.data, out=diff.data)


@dataclass(frozen=True)
class Sigmoid(Neuron):
    """y = 1/(1+exp(-x)); dy/dx = y(1-y)."""

    def forward(self, backend: Any, blob: Any) -> None:
        backend.kernels.sigmoid_forward(blob.data, out=blob.data)

    def backward(self, backend: Any, blob: Any, diff: Any) -> None:
        backend.kernels.sigmoid_backward(blob.data, diff.data, out=diff.data)


@dataclass(frozen=True)
class Tanh(Neuron):
    """y = tanh(x); dy/dx = 1 - y²."""

    def forward(self, backend: Any, blob: Any) -> None:
        backend.kernels.tanh_forward(blob.data, out=blob.data)

    def backward(self, backend: Any, blob: Any, diff: Any) -> None:
        backend.kernels.tanh_backward(blob.data, diff.data, out=diff.data)


@dataclass(frozen=True)
class Exponential(Neuron):
    """y = exp(x); dy/dx = y."""

    def forward(self, backend: Any, blob: Any) -> None:
        backend.xp.exp(blob.data, out=blob.data)

    def backward(self, backend: Any, blob: Any, diff: Any) -> None:
        diff.data *= blob.data


@dataclass(frozen=True)
class Clip(Neuron):
    """y = min(max(x, min), max); dy/dx = [min < y < max] (no gradient at or beyond a bound).

    `Clip()` is ReLU6 (min 0, max 6: MobileNet's); ONNX's Clip(min, max), PyTorch's clamp and
    hardtanh (Hardtanh's default: `Clip(min=-1, max=1)`). Fields `min` (0), `max` (6), min ≤ max.
    """

    min: float = 0.0
    max: float = 6.0

    def __post_init__(self) -> None:
        for key in ("min", "max"):
            value = getattr(self, key)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise self.config_error(key, value, "must be a number")
        if not self.min <= self.max:
            raise self.config_error("max", self.max, f"must be >= min ({self.min})")

    def forward(self, backend: Any, blob: Any) -> None:
        backend.xp.clip(blob.data, self.min, self.max, out=blob.data)

    def backward(self, backend: Any, blob: Any, diff: Any) -> None:
        y = blob.data
        diff.data *= (y > self.min) & (y < self.max)


@hookimpl
def mocha_register_neurons(register):
    for cls in (Identity, ReLU, LReLU, Sigmoid, Tanh, Exponential, Clip):
        register(cls)
