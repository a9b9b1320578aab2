"""Base classes of the small pluggable components a layer is configured with: neurons,
initializers, regularizers, norm constraints and data transformers. The built-ins live in
`mocha.plugins.components.*` and are registered through entry points like everything else.
Notes: docs/core.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mocha.core.blob import Blob
from mocha.core.errors import LayerConfigError
from mocha.core.registry import get_registry, lookup

if TYPE_CHECKING:
    from mocha.core.backend import Backend


class Component:
    """Shared bits: a readable error for a bad field and equality by value (dataclasses)."""

    def config_error(self, field_name: str, value: Any, rule: str) -> LayerConfigError:
        return LayerConfigError(
            f"{type(self).__name__}: field {field_name!r} = {value!r} is invalid: {rule}"
        )


class Neuron(Component):
    is_identity = False

    def forward(self, backend: Backend, blob: Blob) -> None:
        raise NotImplementedError

    def backward(self, backend: Backend, blob: Blob, diff: Blob) -> None:
        raise NotImplementedError


class Initializer(Component):
    def init(self, backend: Backend, blob: Blob) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class NullInitializer(Initializer):
    """Leaves the blob untouched (shared or loaded parameters)."""

    def init(self, backend: Backend, blob: Blob) -> None:
        pass


class Regularizer(Component):
    def gradient(self, backend: Backend, param: Blob, grad: Blob, coef: float) -> None:
        raise NotImplementedError

    def loss(self, backend: Backend, param: Blob, coef: float) -> float:
        return 0.0


class Constraint(Component):
    every_n_iter: int = 1

    def apply(self, backend: Backend, param: Blob) -> None:
        raise NotImplementedError


class DataTransformer(Component):
    def setup(self, backend: Backend, shape: tuple[int, ...]) -> None:
        """Called once with the shape of the blob it will transform."""

    def transform(self, backend: Backend, blob: Blob) -> None:
        raise NotImplementedError


class RegistryNamespace:
    """`Neurons.ReLU(...)`, `LRPolicy.Fixed(...)`: a namespace resolving names through the
    plugin registry (kind `kind`); `dir()` lists the registered names."""

    def __init__(self, kind: str, label: str) -> None:
        self._kind = kind
        self._label = label
        self.__name__ = label

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lookup(self._kind, name)

    def __dir__(self) -> list[str]:
        return get_registry().names(self._kind)

    def __repr__(self) -> str:
        return f"<{self._label}: {', '.join(self.__dir__())}>"


Neurons = RegistryNamespace("neurons", "Neurons")
DataTransformers = RegistryNamespace("data_transformers", "DataTransformers")
