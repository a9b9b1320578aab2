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


def _dtype_of(value: Any) -> Any:
    """`value` as a NumPy dtype when it names one (`np.float32`, `"float32"`, the manual's
    `Float32` spelled `"Float32"`), else None."""
    import numpy as np

    if not isinstance(value, type | str | np.dtype):  # arrays, dims, lists
        return None
    try:
        return np.dtype(value.lower() if isinstance(value, str) else value)
    except TypeError:
        return None


def _dims(dims: tuple[Any, ...], who: str) -> tuple[int, ...]:
    """`(2, 3)`, `((2, 3),)` or `([2, 3],)` as a shape tuple."""
    if len(dims) == 1 and isinstance(dims[0], tuple | list):
        dims = tuple(dims[0])
    if not dims or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims):
        raise TypeError(f"{who}: dims must be non-negative ints, got {dims!r}")
    return tuple(dims)


def make_blob(backend: Backend, *args: Any, dtype: Any = None) -> Blob:
    """A blob of `backend`, in any of the manual's spellings:

    * `make_blob(backend, np.float32, 2, 3)` or `make_blob(backend, np.float32, (2, 3))`
      (Mocha's `make_blob(backend, Float32, dims...)`): uninitialized, of that dtype;
    * `make_blob(backend, (2, 3))`: uninitialized, of the backend's dtype (or `dtype`);
    * `make_blob(backend, array)`: a copy of a host array, keeping its dtype (a float64 array
      gives a float64 blob, as Mocha's keeps the array's eltype) unless `dtype` is given.
    Dims are in numpy order (batch first)."""
    import numpy as np

    if not args:
        raise TypeError("make_blob(backend, dtype, dims...) or make_blob(backend, array)")
    first = _dtype_of(args[0])
    if first is not None:
        return backend.empty(_dims(args[1:], "make_blob"), first)
    if (
        len(args) == 1
        and isinstance(args[0], tuple | list)
        and all(isinstance(d, int) for d in args[0])
    ):
        return backend.empty(_dims(args, "make_blob"), dtype)
    if len(args) > 1 and all(isinstance(d, int) for d in args):
        return backend.empty(_dims(args, "make_blob"), dtype)
    if len(args) == 2 and _dtype_of(args[1]) is not None:  # make_blob(backend, array, dtype)
        dtype = _dtype_of(args[1])
    host = np.asarray(args[0])
    keep = host.dtype if host.dtype.kind == "f" else None  # ints/bools: the backend's dtype
    return backend.from_host(host, dtype or keep)


def make_zero_blob(backend: Backend, *args: Any, dtype: Any = None) -> Blob:
    """A blob of zeros of `backend`: `make_zero_blob(backend, np.float32, 2, 3)` (the manual's
    order), `make_zero_blob(backend, (2, 3))` or `make_zero_blob(backend, (2, 3), np.float64)`;
    without a dtype, the backend's."""
    if args and _dtype_of(args[0]) is not None:
        return backend.zeros(_dims(args[1:], "make_zero_blob"), _dtype_of(args[0]))
    if len(args) == 2 and _dtype_of(args[1]) is not None:
        return backend.zeros(_dims(args[:1], "make_zero_blob"), _dtype_of(args[1]))
    return backend.zeros(_dims(args, "make_zero_blob"), dtype)


def size(blob: Any, d: int | None = None) -> Any:
    """Mocha's `size(blob)` (the shape, numpy order) and `size(blob, d)`: the length of axis `d`
    (0-based, numpy order; negative from the end), 1 past the last axis as in Julia."""
    shape = tuple(blob.shape)
    if d is None:
        return shape
    if not isinstance(d, int) or isinstance(d, bool) or d < -len(shape):
        raise IndexError(f"size: axis {d!r} of a blob of shape {shape}")
    return shape[d] if d < len(shape) else 1


def length(blob: Any) -> int:
    """Mocha's `length(blob)`: the number of elements (`blob.size`). Python's `len(blob)` is
    the batch size (axis 0), as for a NumPy array."""
    return int(blob.size)


def forward_backward(net: Net, regu_coef: float = 0.0) -> float:
    """`net.forward_backward(regu_coef)`: a forward, then a backward; the objective."""
    return net.forward_backward(regu_coef)


def get_epoch(net: Net) -> int:
    """`net.epoch`: the epoch of the net's first data layer that counts epochs."""
    return net.epoch


def trainable_layers(net: Net) -> list[int]:
    """The indices (0-based, into `net.layers` and `net.states`) of the layers with
    parameters that are not frozen, as Mocha's `trainable_layers(net)` (1-based there)."""
    return [i for i, s in enumerate(net.states) if s.layer.has_param and not s.frozen]


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
