"""Fine-tuning: an experiment's `[init]` table starts named layers from a model's weights and
freezes chosen layers.

    [init]
    model = "cifar10_quick/cifar10_quick.h5"   # an HDF5 model (`mocha convert`, a snapshot)
    layers = ["conv1", "conv2", "conv3"]       # default: every layer the model has weights for
    freeze = ["conv1", "conv2"]                # not trained (Mocha's freeze: lr 0, no decay)

A layer listed in `layers` takes every parameter from the model's `<layer>___<param>`
datasets (shapes checked); its initializer is not run. Layers left out (a new head) start
from their initializers. A frozen layer must be loaded (it is never initialized). A snapshot
resumed by `mocha run` overrides the loaded weights, as for any run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mocha.experiment.base import Experiment, ExperimentError

KEYS = ("model", "layers", "freeze")


def parse_init(exp: Experiment, table: Any) -> dict[str, Any]:
    """Check the `[init]` table against the file's layers; returns it with `model` resolved."""
    where = f"{exp.path.name}: [init]"
    if not isinstance(table, dict):
        raise ExperimentError(f"{where} must be a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ExperimentError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
    if not isinstance(table.get("model"), str):
        raise ExperimentError(f"{where}: `model` (the HDF5 model file to start from) is required")
    model = Path(exp.resolve(table["model"]))
    if not model.is_file():
        raise ExperimentError(f"{where}: model {str(model)!r} does not exist")
    with_params = {e.layer.name for e in exp.layers if e.layer.has_param}
    out: dict[str, Any] = {"model": model}
    for key in ("layers", "freeze"):
        names = table.get(key)
        if names is None:
            continue
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ExperimentError(f"{where}: `{key}` must be a list of layer names")
        missing = [n for n in names if n not in with_params]
        if missing:
            raise ExperimentError(
                f"{where}: {key} names {missing[0]!r}, which is not a layer with parameters "
                f"of this file (those: {', '.join(sorted(with_params)) or 'none'})"
            )
        out[key] = list(names)
    loaded = set(out.get("layers", with_params))
    unloaded = [n for n in out.get("freeze", []) if n not in loaded]
    if unloaded and "layers" in out:
        raise ExperimentError(
            f"{where}: freeze names {unloaded[0]!r}, which `layers` does not load (a frozen "
            f"layer is never initialized)"
        )
    return out


def apply_init(init: dict[str, Any] | None, net: Any) -> list[str]:
    """Load the `[init]` layers into `net` and freeze the chosen ones; returns the datasets."""
    if not init:
        return []
    import h5py

    from mocha.core.components import NullInitializer
    from mocha.core.errors import SnapshotError
    from mocha.core.io.model import copy_into_parameter, dataset_name, verify_weights
    from mocha.core.net import freeze

    model, names = init["model"], init.get("layers")
    loaded: list[str] = []
    try:
        f = h5py.File(model, "r")
    except OSError as exc:
        raise ExperimentError(f"[init] model {str(model)!r}: cannot read it: {exc}") from None
    with f:
        try:
            verify_weights(f, f"[init] model {str(model)!r}")  # as load_network does
        except SnapshotError as exc:
            raise ExperimentError(str(exc)) from None
        for state in net.states:
            layer = state.layer
            if not layer.has_param or (names is not None and layer.name not in names):
                continue
            keys = [dataset_name(layer.name, p.name) for p in state.parameters]
            present = [k in f for k in keys]
            if names is None and not all(present):
                continue  # by default: the layers the model has every parameter of
            for param, key, there in zip(state.parameters, keys, present):
                if not there:
                    raise ExperimentError(
                        f"[init] model {str(model)!r} has no dataset {key!r} for parameter "
                        f"{param.name!r} of layer {layer.name!r}"
                    )
                copy_into_parameter(net.backend, param, f[key][()], f"{model}:{key}")
                param.initializer = NullInitializer()
                loaded.append(key)
    frozen = init.get("freeze", [])
    missed = [n for n in frozen if not any(k.startswith(f"{n}___") for k in loaded)]
    if missed:
        raise ExperimentError(
            f"[init] freeze names {missed[0]!r}, but the model {str(model)!r} has no weights "
            f"for it (a frozen layer is never initialized)"
        )
    freeze(net, *frozen)
    return loaded
