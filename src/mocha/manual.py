"""The manual's free functions, as thin wrappers over the methods they name.

Mocha.jl code calls functions (`forward(net)`, `get_layer(net, "data")`, `destroy(net)`, ...);
Mocha for Python keeps those spellings so that a tutorial ports line by line, and each one
only calls the method that does the work (`net.forward()`, `net.state_of(name).layer`, ...).
README.md's porting table lists every function of the manual with its Python spelling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mocha.core.blob import Blob
from mocha.core.errors import MochaError
from mocha.core.layer import Layer, LayerState
from mocha.core.layer import copy as copy_layer

if TYPE_CHECKING:
    from mocha.core.backend import Backend
    from mocha.core.net import Net


def forward(net: Net, regu_coef: float = 0.0) -> float:
    """`net.forward()`: one forward pass over the next mini-batch; returns the objective."""
    return net.forward(regu_coef)


def backward(net: Net, regu_coef: float = 0.0) -> None:
    """`net.backward()`: back-propagate from the loss layers."""
    net.backward(regu_coef)


def forward_epoch(net: Net) -> None:
    """`net.forward_epoch()`: forward passes until the data layer completes an epoch."""
    net.forward_epoch()


def destroy(obj: Any) -> None:
    """Release what `obj` holds: a net (`net.shutdown()`: every layer's resources) or a
    blob (nothing to do: Python frees arrays)."""
    if isinstance(obj, Blob):
        return
    shutdown = getattr(obj, "shutdown", None)
    if shutdown is None:
        raise TypeError(f"destroy: {obj!r} is neither a Net nor a Blob")
    shutdown()


def get_layer(net: Net, name: str) -> Layer:
    """The layer object named `name` (e.g. a MemoryDataLayer, whose `.data[0]` array the net
    reads at every forward)."""
    return net.state_of(name).layer


def get_layer_state(net: Net, name: str) -> LayerState:
    """The run-time state of the layer named `name` (its `blobs`, `parameters`, ...)."""
    return net.state_of(name)


def check_bp_topology(net: Net) -> None:
    """`net.check_bp_topology()`: refuse a net whose gradients cannot be back-propagated."""
    net.check_bp_topology()


def reset_statistics(net_or_state: Any) -> None:
    """Reset the accumulated statistics of a net's statistics layers (or of one state)."""
    net_or_state.reset_statistics()


def _stat_states(net_or_state: Any) -> list[LayerState]:
    if isinstance(net_or_state, LayerState):
        return [net_or_state]
    return [s for s in net_or_state.states if s.layer.has_stats]


def dump_statistics(storage: Any, net_or_state: Any, show: bool = False) -> dict[str, float]:
    """Record the statistics of a net's statistics layers (or of one layer state) in
    `storage` (a CoffeeLounge, via `update_statistics`); with `show`, also print their
    summaries. Returns the statistics."""
    out: dict[str, float] = {}
    for state in _stat_states(net_or_state):
        values = state.dump_statistics()
        for key, value in values.items():
            update_statistics(storage, key, value)
        if show:
            print(
                "  "
                + (
                    state.statistics_summary()
                    or ", ".join(f"{k} = {v:.8f}" for k, v in values.items())
                ),
                flush=True,
            )
        out.update(values)
    return out


def show_statistics(net: Net, title: str = "Network Statistics") -> str:
    """Print (and return) the summaries of the net's statistics layers, under `title`."""
    dash = "-" * 58
    lines = [f"## {title}", dash]
    for state in _stat_states(net):
        lines.append(
            "  "
            + (
                state.statistics_summary()
                or ", ".join(f"{k} = {v:.8f}" for k, v in state.dump_statistics().items())
            )
        )
    lines.append(dash)
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def update_statistics(storage: Any, key: str, value: float) -> None:
    """`storage.update_statistics(key, value)` (a CoffeeLounge records it at its current
    iteration); a dict gets `storage[key] = value`."""
    if isinstance(storage, dict):
        storage[key] = float(value)
    else:
        storage.update_statistics(key, value)


def make_blob(backend: Backend, shape_or_array: Any, dtype: Any = None) -> Blob:
    """A blob of `backend`: uninitialized of a shape (a tuple), or a copy of a host array."""
    if isinstance(shape_or_array, tuple | list) and all(isinstance(d, int) for d in shape_or_array):
        return backend.empty(tuple(shape_or_array), dtype)
    return backend.from_host(shape_or_array, dtype)


def make_zero_blob(backend: Backend, shape: tuple[int, ...], dtype: Any = None) -> Blob:
    """A blob of zeros of `backend`."""
    return backend.zeros(tuple(shape), dtype)


def reshape_blob(backend: Backend, blob: Blob, *shape: int | tuple[int, ...]) -> Blob:
    """A blob sharing `blob`'s data with another shape of the same size."""
    return blob.reshape(*shape)


def copy(obj: Any, **changes: Any) -> Any:
    """Mocha's `copy`: a layer with some fields changed (`copy(layer, bottoms=["x"])`,
    validated again) or solver parameters with some entries changed
    (`copy(params, load_from="randinit")`)."""
    if isinstance(obj, Layer):
        return copy_layer(obj, **changes)
    if isinstance(obj, dict):
        from mocha.core.solver import SolverParameters

        return SolverParameters(obj).copy(**changes)
    raise MochaError(f"copy: {type(obj).__name__} is neither a layer nor solver parameters")
