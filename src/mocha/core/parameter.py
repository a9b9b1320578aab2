"""Parameters: a learnable blob with its gradient and how to initialize, regularize,
constrain and scale its learning rate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mocha.core.blob import Blob
from mocha.core.components import Constraint, Initializer, NullInitializer, Regularizer
from mocha.core.errors import ShapeError

if TYPE_CHECKING:
    from mocha.core.backend import Backend


@dataclass(eq=False)
class Parameter:
    """One learnable tensor of a layer ("weight", "bias", "filter", ...).

    `learning_rate` is the local multiplier of the global rate (Mocha's `weight_lr`,
    `bias_lr`). A parameter shared through the backend registry has the same `blob` but its own
    `gradient`; `NullInitializer` marks it as already initialized (shared or loaded).
    """

    name: str
    blob: Blob
    gradient: Blob
    initializer: Any
    regularizer: Any
    constraint: Any
    learning_rate: float = 1.0
    owner: str = ""  # the name of the layer that holds it
    shared_from: str = field(default="", repr=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.blob.shape

    def share(self, backend: Backend, owner: str = "") -> Parameter:
        """A parameter with the same data blob, a new gradient blob and `NullInitializer`."""
        return Parameter(
            name=self.name,
            blob=self.blob,
            gradient=backend.zeros(self.blob.shape),
            initializer=NullInitializer(),
            regularizer=self.regularizer,
            constraint=self.constraint,
            learning_rate=self.learning_rate,
            owner=owner or self.owner,
            shared_from=self.owner,
        )


def make_parameter(
    backend: Backend,
    name: str,
    shape: tuple[int, ...],
    *,
    initializer: Initializer,
    regularizer: Regularizer,
    constraint: Constraint,
    learning_rate: float = 1.0,
    owner: str,
    shared: list[Parameter] | None,
) -> Parameter:
    """A fresh parameter `name` of `shape` for the layer named `owner`, or, when `shared` is
    a list (the `ctx.shared_params` a `SetupContext` gives a layer whose `param_key` is already
    in the backend's registry), a share of its parameter of the same name, checked for shape
    and dtype. Everything after `shape` is a keyword: `initializer`, `regularizer`,
    `constraint` (e.g. `ConstantInitializer(1.0)`, `NoRegu()`, `NoCons()`), `learning_rate`
    (the local multiplier of the solver's rate), `owner` and `shared`.
    """
    if shared is not None:
        for p in shared:
            if p.name == name:
                if p.blob.shape != tuple(shape):
                    raise ShapeError(
                        f"layer {owner!r}: parameter {name!r} is shared (param_key) with layer "
                        f"{p.owner!r} whose {name!r} has shape {p.blob.shape}, but this layer "
                        f"needs {tuple(shape)}; use another name/param_key or registry_reset()"
                    )
                if p.blob.dtype != backend.dtype:
                    raise ShapeError(
                        f"layer {owner!r}: shared parameter {name!r} has dtype {p.blob.dtype}, "
                        f"the backend uses {backend.dtype}"
                    )
                return p.share(backend, owner)
        raise ShapeError(
            f"layer {owner!r}: the registry holds parameters "
            f"{[p.name for p in shared]} for this key but not {name!r}"
        )
    return Parameter(
        name=name,
        blob=backend.zeros(tuple(shape)),
        gradient=backend.zeros(tuple(shape)),
        initializer=initializer,
        regularizer=regularizer,
        constraint=constraint,
        learning_rate=float(learning_rate),
        owner=owner,
    )
