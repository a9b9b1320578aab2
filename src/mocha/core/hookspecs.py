"""Hook specifications: how a plugin module adds things to Mocha (docs/hooks.md in full).
Notes: docs/core.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pluggy

if TYPE_CHECKING:
    from mocha.core.backend import Backend
    from mocha.core.coffee import CoffeeBreak
    from mocha.core.components import Constraint, DataTransformer, Initializer, Neuron, Regularizer
    from mocha.core.interchange import ExportRule, ImportRule
    from mocha.core.layer import Layer
    from mocha.core.policies import Policy
    from mocha.core.solver import SolverMethod

hookspec = pluggy.HookspecMarker("mocha")
hookimpl = pluggy.HookimplMarker("mocha")
T_contra = TypeVar("T_contra", contravariant=True)


class Registrar(Protocol[T_contra]):
    """`register(obj, name=None, replace=False)`: records `obj` under `name` (default: its
    `registry_name`, else its `__name__`; a backend: its `name`)."""

    def __call__(
        self, obj: T_contra, /, name: str | None = None, replace: bool = False
    ) -> None: ...


class KernelRegistrar(Protocol):
    """`register(name, impl, backend="*", replace=False)`: `name` one of `KERNEL_NAMES`,
    `impl(backend, <the arguments of Kernels.<name>>)`."""

    def __call__(
        self, name: str, impl: Callable[..., Any], /, backend: str = "*", replace: bool = False
    ) -> None: ...


@hookspec
def mocha_register_layers(register: Registrar[type[Layer]]) -> None:
    """`Layer` subclasses, named by class (`"InnerProductLayer"`). Runs once, when the
    registry is built."""


@hookspec
def mocha_register_backends(register: Registrar[type[Backend]]) -> None:
    """`Backend` subclasses, named by their `name`; instantiated later by `make_backend`.
    Runs once, when the registry is built."""


@hookspec
def mocha_register_kernels(register: KernelRegistrar) -> None:
    """Kernel implementations: `register(name, impl, backend="*")`, "*" the generic `xp`
    version that a backend's own overrides. Runs once, when the registry is built."""


@hookspec
def mocha_register_solvers(register: Registrar[type[SolverMethod]]) -> None:
    """Solver methods (`SolverMethod` subclasses: `SGD`, `Adam`, ...). Runs once, when the
    registry is built."""


@hookspec
def mocha_register_coffee(register: Registrar[type[CoffeeBreak]]) -> None:
    """Coffee breaks (`CoffeeBreak` subclasses: `TrainingSummary`, ...), kind "coffee".
    Runs once, when the registry is built."""


@hookspec
def mocha_register_neurons(register: Registrar[type[Neuron]]) -> None:
    """Neurons (`Neuron` subclasses), found as `Neurons.<Name>`. Runs once, when the
    registry is built."""


@hookspec
def mocha_register_initializers(register: Registrar[type[Initializer]]) -> None:
    """Parameter initializers (`Initializer` subclasses). Runs once, when the registry is
    built."""


@hookspec
def mocha_register_regularizers(register: Registrar[type[Regularizer]]) -> None:
    """Regularizers (`Regularizer` subclasses). Runs once, when the registry is built."""


@hookspec
def mocha_register_constraints(register: Registrar[type[Constraint]]) -> None:
    """Norm constraints (`Constraint` subclasses). Runs once, when the registry is built."""


@hookspec
def mocha_register_data_transformers(register: Registrar[type[DataTransformer]]) -> None:
    """Data transformers (`DataTransformer` subclasses), found as `DataTransformers.<Name>`.
    Runs once, when the registry is built."""


@hookspec
def mocha_register_lr_policies(register: Registrar[type[Policy]]) -> None:
    """Learning-rate policies (`Policy` subclasses): `LRPolicy.<Name>`, `lr_policy = {type =
    "<Name>"}`. Runs once, when the registry is built."""


@hookspec
def mocha_register_mom_policies(register: Registrar[type[Policy]]) -> None:
    """Momentum policies (`Policy` subclasses): `MomPolicy.<Name>`, `mom_policy = {type =
    "<Name>"}`. Runs once, when the registry is built."""


@hookspec
def mocha_register_formats(register: Registrar[Any]) -> None:
    """Interchange formats (`mocha convert/export NAME`), named by `format.name`; the
    contract is in `mocha.core.interchange`. Runs once, when the registry is built."""


@hookspec
def mocha_register_interchange(register: Registrar[ExportRule | ImportRule]) -> None:
    """Per-layer interchange rules: `ExportRule(format, LayerClass, write)`,
    `ImportRule(format, op, read)` (`mocha.core.interchange`). Runs once, when the registry
    is built."""


@hookspec
def mocha_register_commands(app: Any) -> None:
    """Sub-commands of the `mocha` command line: `app.command("name")(function)` on the root
    `typer.Typer`. Runs when the command line starts, never from Python."""


@hookspec
def mocha_register_data_providers(register: Registrar[Callable[[], dict[str, Any]]]) -> None:
    """Data providers `register(function, name="prefix:name")`, `function()` -> {top:
    array}, for `source = "prefix:name"`. Runs once, when the registry is built."""


@hookspec
def mocha_register_datasets(register: Registrar[Callable[..., dict[str, Any]]]) -> None:
    """Data sets for `mocha data NAME`: `register(prepare, name="mnist")`, `prepare(out_dir,
    mirror=None, **options)` -> paths. Runs once, when the registry is built."""
