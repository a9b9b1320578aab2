"""Mocha for Python: a plugin-first deep-learning framework in the spirit of Mocha.jl and Caffe.

`import mocha` is cheap and loads no plugins. Core names are imported directly; every other
public name (`InnerProductLayer`, `SGD`, `TrainingSummary`, `XavierInitializer`, ...) is
resolved on first access through the plugin registry, so a third-party plugin's layer is
reachable exactly like a built-in one: `mocha.SwishLayer`.
"""

from __future__ import annotations

from typing import Any

from mocha.core.backend import Backend, KernelTable, init, registry_reset, shutdown
from mocha.core.backends import CPUBackend, DefaultBackend, GPUBackend, make_backend
from mocha.core.blob import Blob, NullBlob
from mocha.core.coffee import CoffeeBreak, CoffeeLounge, add_coffee_break, setup_coffee_lounge
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
from mocha.core.layer import (
    ElementwiseState,
    Layer,
    LayerState,
    SetupContext,
    config_field,
    copy,
    name_field,
)
from mocha.core.model_io import load_network, save_network
from mocha.core.net import Net, freeze, freeze_all, net2dot, unfreeze, unfreeze_all
from mocha.core.parameter import Parameter, make_parameter
from mocha.core.policies import LRPolicy, MomPolicy, setup
from mocha.core.registry import get_registry, lookup
from mocha.core.snapshot import load_snapshot, save_snapshot
from mocha.core.solver import (
    Solver,
    SolverMethod,
    SolverState,
    make_solver_parameters,
    solve,
)

__version__ = "0.1.0"

__all__ = [
    "Backend", "Blob", "CPUBackend", "CoffeeBreak", "CoffeeLounge", "Constraint",
    "DataError", "DataTransformer", "DataTransformers", "DefaultBackend", "ElementwiseState",
    "GPUBackend", "Initializer", "KernelTable", "LRPolicy", "Layer", "LayerConfigError",
    "LayerState", "MochaError", "MomPolicy", "Net", "Neuron", "Neurons", "NullBlob",
    "NullInitializer", "Parameter", "PluginError", "Regularizer", "SetupContext", "ShapeError",
    "SnapshotError", "Solver", "SolverError", "SolverMethod", "SolverState", "TopologyError",
    "UnknownNameError", "add_coffee_break", "config_field", "copy", "freeze", "freeze_all",
    "get_registry", "hookimpl", "init", "load_network", "load_snapshot", "lookup",
    "make_backend", "make_parameter", "save_network", "save_snapshot", "setup",
    "make_solver_parameters", "name_field", "net2dot", "registry_reset", "setup_coffee_lounge",
    "shutdown", "solve", "unfreeze", "unfreeze_all",
]

# Public functions that live in plugin modules (not registry objects), resolved lazily.
_LAZY_FUNCTIONS: dict[str, str] = {
    "Pooling": "mocha.plugins.layers.pooling",  # Pooling.Max() / Pooling.Mean()
    "LRNMode": "mocha.plugins.layers.lrn",  # LRNMode.AcrossChannel() / WithinChannel()
    "ElementWiseFunctors": "mocha.plugins.layers.element_wise",  # ElementWiseFunctors.Add()
    "reset_outputs": "mocha.plugins.layers.memory_output",  # MemoryOutputLayer's state
    "predict": "mocha.prediction",  # predict(net_or_layers, arrays, ...) -> Prediction
    "Prediction": "mocha.prediction",
}


def __getattr__(name: str) -> Any:
    if name.startswith("_"):
        raise AttributeError(name)
    if name in _LAZY_FUNCTIONS:
        import importlib

        return getattr(importlib.import_module(_LAZY_FUNCTIONS[name]), name)
    try:
        return get_registry().find(name)
    except UnknownNameError:
        raise AttributeError(f"module 'mocha' has no attribute {name!r}") from None
