"""Hook specifications: how a plugin module adds things to Mocha.

Every hook is named `mocha_register_<kind>` and receives `register`, a callable that validates
and records what it is given; hooks return nothing. A plugin module implements the hooks it
needs with `@mocha.hookimpl` (at the bottom of the module that defines the things) and is
listed once under the `mocha` entry-point group of its distribution, with a quoted key
`"<kind>.<module>"`. The `mocha_register_<kind>` hooks run once per plugin manager, when
the registry is first needed (the first `mocha.lookup`, `mocha.<Name>` or net built), one
plugin at a time; the training loop never calls hooks. `mocha_register_commands` runs when
the `mocha` command line starts. Between Mocha's own plugins, registering a name
twice is an error naming both plugins, unless `register(..., replace=True)`. A third-party
plugin never takes a built-in's name (even with `replace=True`) unless the user lists it in
MOCHA_REPLACE; otherwise that plugin is skipped with a warning (see
`mocha.core.registry.build_registry`).

One word per kind: the entry-point key `"<kind>.<module>"`, the folder `mocha/plugins/<kind>/`,
the hook `mocha_register_<kind>` and the registry kind of `mocha.lookup(kind, name)` agree
(e.g. `coffee`: `"coffee.snapshot"`, `plugins/coffee/`, `mocha_register_coffee`,
`lookup("coffee", "Snapshot")`). The earlier spellings `mocha_register_coffee_breaks` and
`lookup("coffee_breaks", ...)` still work.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("mocha")
hookimpl = pluggy.HookimplMarker("mocha")


@hookspec
def mocha_register_layers(register: Any) -> None:
    """Register `Layer` subclasses: `register(LayerClass, name=None)` (name defaults to the
    class name, e.g. "InnerProductLayer"). Runs once, when the registry is built (the first
    `mocha.lookup`, `mocha.<Name>` or net built)."""


@hookspec
def mocha_register_backends(register: Any) -> None:
    """Register `Backend` subclasses: `register(BackendClass)` under `BackendClass.name`.
    Runs once, when the registry is built; a backend class is instantiated later, by
    `make_backend` or the user."""


@hookspec
def mocha_register_kernels(register: Any) -> None:
    """Register kernel implementations: `register(name, impl, backend="*")`. `"*"` is the
    generic `xp` version; a backend name overrides it on that backend. Runs once, when the
    registry is built; a backend resolves its kernel table on first `backend.kernels`."""


@hookspec
def mocha_register_solvers(register: Any) -> None:
    """Register solver methods (`SolverMethod` subclasses such as `SGD`, `Adam`):
    `register(MethodClass, name=None)`. Runs once, when the registry is built."""


@hookspec
def mocha_register_coffee(register: Any) -> None:
    """Register coffee breaks (`CoffeeBreak` subclasses such as `TrainingSummary`):
    `register(CoffeeClass, name=None)`, kind "coffee". Runs once, when the registry is
    built."""


@hookspec
def mocha_register_coffee_breaks(register: Any) -> None:
    """The earlier name of `mocha_register_coffee`, still honoured: what it registers goes to
    the same "coffee" kind. Runs once, when the registry is built."""


@hookspec
def mocha_register_neurons(register: Any) -> None:
    """Register neurons (`Neuron` subclasses): `register(NeuronClass, name=None)`; found as
    `Neurons.<Name>`. Runs once, when the registry is built."""


@hookspec
def mocha_register_initializers(register: Any) -> None:
    """Register parameter initializers (`Initializer` subclasses): `register(cls, name=None)`.
    Runs once, when the registry is built."""


@hookspec
def mocha_register_regularizers(register: Any) -> None:
    """Register regularizers (`Regularizer` subclasses): `register(cls, name=None)`. Runs
    once, when the registry is built."""


@hookspec
def mocha_register_constraints(register: Any) -> None:
    """Register norm constraints (`Constraint` subclasses): `register(cls, name=None)`. Runs
    once, when the registry is built."""


@hookspec
def mocha_register_data_transformers(register: Any) -> None:
    """Register data transformers (`DataTransformer` subclasses): `register(cls, name=None)`;
    found as `DataTransformers.<Name>`. Runs once, when the registry is built."""


@hookspec
def mocha_register_lr_policies(register: Any) -> None:
    """Register learning-rate policies (`Policy` subclasses): `register(PolicyClass,
    name=None)`; found as `LRPolicy.<Name>` and by `type = "<Name>"` in an experiment file's
    `lr_policy`. Runs once, when the registry is built."""


@hookspec
def mocha_register_mom_policies(register: Any) -> None:
    """Register momentum policies (`Policy` subclasses): `register(PolicyClass, name=None)`;
    found as `MomPolicy.<Name>` and by `type = "<Name>"` in an experiment file's
    `mom_policy`. Runs once, when the registry is built."""


@hookspec
def mocha_register_formats(register: Any) -> None:
    """Register interchange formats (`mocha convert/export NAME`): `register(format)` under
    `format.name`; the contract is in `mocha.core.interchange`. Runs once, when the registry
    is built."""


@hookspec
def mocha_register_interchange(register: Any) -> None:
    """Register per-layer interchange rules: `register(ExportRule(format, LayerClass, write))`
    or `register(ImportRule(format, op, read))` (`mocha.core.interchange`). Runs once, when
    the registry is built."""


@hookspec
def mocha_register_commands(app: Any) -> None:
    """Add sub-commands to the root `typer.Typer` of the `mocha` command line:
    `app.command("name")(function)`. Runs when the `mocha` command line starts (never from
    Python); a module listed under a `"commands.<module>"` entry point is imported only
    then."""


@hookspec
def mocha_register_data_providers(register: Any) -> None:
    """Register data providers: `register(function, name="prefix:name")`, where `function()`
    returns a dict of arrays (top name -> array; labels as 0-based class indices). Used when a
    `MemoryDataLayer` of an experiment file says `source = "prefix:name"`: the provider is
    called then, once per layer built. The hook itself runs once, when the registry is
    built."""


@hookspec
def mocha_register_datasets(register: Any) -> None:
    """Register data sets that `mocha data <name> --out DIR [--mirror URL_OR_FOLDER]` prepares:
    `register(prepare, name="mnist")`, where `prepare(out_dir, mirror=None, progress=...,
    log=print, **options)` writes HDF5 files and list files into `out_dir` and returns their
    paths (at least "train" and "test": the list files). The hook runs once, when the
    registry is built; `prepare` is called when that command runs."""
