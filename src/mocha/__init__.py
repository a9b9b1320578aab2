"""Mocha for Python: a plugin-first deep-learning framework in the spirit of Mocha.jl and Caffe.

`import mocha` is cheap and loads no plugins. Core names and the manual's free functions
(`forward`, `get_layer`, `destroy`, ...: `mocha.manual`) are imported directly; every other
public name is resolved on first access through the plugin registry, so a third-party
plugin's layer is reachable exactly like a built-in one: `mocha.SwishLayer`. Those names are
every registered entry (`InnerProductLayer`, `SGD`, `TrainingSummary`, `XavierInitializer`,
`SubMean`, ...; a backend by its class name: `NumbaBackend`) and the names a plugin module
lists in its `__all__` (`Pooling`, `LRNMode`, ...). `from mocha import *` brings all of them
(it builds the registry then).
"""

# ruff: noqa: F401  (the names imported here are the package's API, listed in _CORE_NAMES)
from __future__ import annotations

from typing import Any

from mocha.backend_choice import CPUBackend, DefaultBackend, GPUBackend, make_backend
from mocha.core.backend import Backend, KernelTable, init, registry_reset, shutdown
from mocha.core.blob import Blob, NullBlob
from mocha.core.coffee import (
    CoffeeBreak,
    CoffeeLounge,
    add_coffee_break,
    setup_coffee_lounge,
)
from mocha.core.components import (
    Constraint,
    DataTransformer,
    DataTransformers,
    Initializer,
    Neuron,
    Neurons,
    NullInitializer,
    Regularizer,
)
from mocha.core.errors import (
    DataError,
    LayerConfigError,
    MochaError,
    PluginError,
    ShapeError,
    SnapshotError,
    SolverError,
    TopologyError,
    UnknownNameError,
)
from mocha.core.hookspecs import hookimpl
from mocha.core.interchange import Conversion, ExportRule, FormatOption, ImportRule
from mocha.core.io.model import load_network, save_network
from mocha.core.io.snapshot import load_snapshot
from mocha.core.io.statistics import load_statistics
from mocha.core.layer import (
    ElementwiseState,
    Layer,
    LayerState,
    SetupContext,
    config_field,
    name_field,
)
from mocha.core.net import Net, evaluating, freeze, freeze_all, unfreeze, unfreeze_all
from mocha.core.parameter import Parameter, make_parameter
from mocha.core.policies import LRPolicy, MomPolicy, setup
from mocha.core.registry import get_registry, lookup
from mocha.core.resume import save_snapshot
from mocha.core.solver import (
    Solver,
    SolverMethod,
    SolverState,
    make_solver_parameters,
    solve,
)
from mocha.core.version import __version__
from mocha.manual import (
    backward,
    check_bp_topology,
    copy,
    destroy,
    dump_statistics,
    forward,
    forward_epoch,
    get_layer,
    get_layer_state,
    make_blob,
    make_zero_blob,
    reset_statistics,
    reshape_blob,
    show_statistics,
    update_statistics,
)

_CORE_NAMES = [
    "Backend",
    "Blob",
    "CPUBackend",
    "CoffeeBreak",
    "CoffeeLounge",
    "Constraint",
    "DataError",
    "DataTransformer",
    "Conversion",
    "DataTransformers",
    "DefaultBackend",
    "ElementwiseState",
    "ExportRule",
    "FormatOption",
    "GPUBackend",
    "ImportRule",
    "Initializer",
    "KernelTable",
    "LRPolicy",
    "Layer",
    "LayerConfigError",
    "LayerState",
    "MochaError",
    "MomPolicy",
    "Net",
    "Neuron",
    "Neurons",
    "NullBlob",
    "NullInitializer",
    "Parameter",
    "PluginError",
    "Regularizer",
    "SetupContext",
    "ShapeError",
    "SnapshotError",
    "Solver",
    "SolverError",
    "SolverMethod",
    "SolverState",
    "TopologyError",
    "UnknownNameError",
    "add_coffee_break",
    "config_field",
    "copy",
    "freeze",
    "freeze_all",
    "get_registry",
    "hookimpl",
    "init",
    "load_network",
    "load_snapshot",
    "lookup",
    "make_backend",
    "make_parameter",
    "save_network",
    "save_snapshot",
    "setup",
    "make_solver_parameters",
    "name_field",
    "net2dot",
    "registry_reset",
    "setup_coffee_lounge",
    "shutdown",
    "solve",
    "unfreeze",
    "unfreeze_all",
    "evaluating",
    "load_statistics",
    # the manual's free functions (mocha.manual)
    "backward",
    "check_bp_topology",
    "destroy",
    "dump_statistics",
    "forward",
    "forward_epoch",
    "get_layer",
    "get_layer_state",
    "make_blob",
    "make_zero_blob",
    "reset_statistics",
    "reshape_blob",
    "show_statistics",
    "update_statistics",
    # lazily imported from modules that are not plugins
    "predict",
    "Prediction",
]
_NOT_PLUGINS: dict[str, str] = {
    "predict": "mocha.prediction",
    "Prediction": "mocha.prediction",
    "net2dot": "mocha.cli.graphviz",
}


_NAMESPACED = ("lr_policies", "mom_policies")
_names_cache: list[Any] = [None, {}]  # [registry the names were built from, names]


def _plugin_names() -> dict[str, Any]:
    """Public name -> object of every registered entry and every name listed in the
    `__all__` of a loaded plugin module (the first registration of a name wins)."""
    from mocha.core.plugins import get_plugin_manager

    registry = get_registry()
    if _names_cache[0] is registry:
        return _names_cache[1]
    names: dict[str, Any] = {}
    for kind, table in registry.tables.items():
        if kind in _NAMESPACED:
            continue  # LRPolicy.Fixed and MomPolicy.Fixed: reached through their namespace
        for key, entry in table.items():
            for name in (key, getattr(entry.obj, "__name__", key)):
                if name.isidentifier() and name[:1].isupper():
                    names.setdefault(name, entry.obj)
    for _, module in get_plugin_manager().list_name_plugin():
        for name in getattr(module, "__all__", ()):
            names.setdefault(name, getattr(module, name))
    _names_cache[:] = [registry, names]
    return names


def __getattr__(name: str) -> Any:
    if name == "__all__":
        return sorted(set(_CORE_NAMES) | set(_plugin_names()))
    if name.startswith("_"):
        raise AttributeError(name)
    if name in _NOT_PLUGINS:
        import importlib

        return getattr(importlib.import_module(_NOT_PLUGINS[name]), name)
    found = _plugin_names().get(name)
    if found is None:
        raise AttributeError(f"module 'mocha' has no attribute {name!r}")
    return found


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__getattr__("__all__")))
