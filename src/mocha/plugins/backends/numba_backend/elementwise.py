"""The Numba backend's elementwise kernels: neurons, dropout masks, the softmax-loss gradient.

Compiled versions (`loops/elementwise.py`) of the generic kernels of `generic.elementwise`
(same names, signatures and numbers; see its docstring for the table).
Each wrapper checks that its arrays can go straight to a flat compiled loop: NumPy arrays of
one shape and one float dtype (float32 or float64), C-contiguous, and an `out` that is either
one of the inputs or overlaps none of them. Anything else (a strided view, mixed dtypes,
broadcasting, a partial overlap) runs the generic kernel instead, so the results never depend
on which path was taken beyond the last bit of exp and tanh.

Like the other Numba kernels, a call under `runtime.SERIAL_BELOW` elements runs on the calling
thread only. Importing this module does not import numba: the loops load on the first call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mocha.core.backend import LRELU_SLOPE
from mocha.plugins.backends.numba_backend.runtime import flat_views, loops, run


def _run(name: str, size: int, *args: Any) -> None:
    """Call compiled loop `name` of `loops/elementwise.py` (one thread below
    `runtime.SERIAL_BELOW` elements)."""
    run(getattr(loops("elementwise"), name), size, *args)


def _same_buffer(a: np.ndarray, b: np.ndarray) -> bool:
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0]


def _flat(out: Any, *arrays: Any) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """(out, flat views of arrays + out) when the compiled loop can run, else None.

    The arrays must be C-contiguous NumPy arrays of one shape and one float dtype; `out`
    (allocated when None) likewise, and either the very buffer of an input or disjoint from
    all of them (a flat loop would read what it already overwrote otherwise)."""
    if flat_views(*arrays) is None:
        return None
    first = arrays[0]
    if out is None:
        out = np.empty(first.shape, dtype=first.dtype)
    elif not (
        isinstance(out, np.ndarray)
        and out.flags.c_contiguous
        and out.flags.writeable
        and out.dtype == first.dtype
        and out.shape == first.shape
    ):
        return None
    else:
        for a in arrays:
            if a is not out and np.may_share_memory(a, out) and not _same_buffer(a, out):
                return None
    return out, [a.reshape(-1) for a in (*arrays, out)]


def _map(
    backend: Any, name: str, arrays: tuple, out: Any, scalars: tuple, generic_args: tuple
) -> Any:
    """Compiled loop `name`(flat arrays..., scalars in the arrays' dtype..., flat out) into
    `out` (new when None) and return it; the generic kernel `name`(*generic_args, out=out)
    where `_flat` refuses the arrays."""
    flat = _flat(out, *arrays)
    if flat is None:
        return backend.kernels.generic(name)(*generic_args, out=out)
    result, views = flat
    t = arrays[0].dtype.type
    _run(name, result.size, *views[:-1], *(t(v) for v in scalars), views[-1])
    return result


# -- neurons ---------------------------------------------------------------------------------
def relu_forward(backend: Any, x: Any, epsilon: float, out: Any = None) -> Any:
    """y = max(epsilon, x) (see `generic.elementwise.relu_forward`)."""
    return _map(backend, "relu_forward", (x,), out, (epsilon,), (x, epsilon))


def relu_backward(backend: Any, y: Any, g: Any, epsilon: float, out: Any = None) -> Any:
    """dx = g · [y > epsilon]."""
    return _map(backend, "relu_backward", (y, g), out, (epsilon, 0.0), (y, g, epsilon))


def lrelu_forward(backend: Any, x: Any, out: Any = None) -> Any:
    """y = x if x > 0 else 0.01 · x."""
    return _map(backend, "lrelu_forward", (x,), out, (LRELU_SLOPE,), (x,))


def lrelu_backward(backend: Any, y: Any, g: Any, out: Any = None) -> Any:
    """dx = g · (1 if y > 0 else 0.01)."""
    return _map(backend, "lrelu_backward", (y, g), out, (LRELU_SLOPE,), (y, g))


def sigmoid_forward(backend: Any, x: Any, out: Any = None) -> Any:
    """y = 1/(1 + exp(-x)) (the overflow-free form of the generic kernel)."""
    return _map(backend, "sigmoid_forward", (x,), out, (1.0,), (x,))


def sigmoid_backward(backend: Any, y: Any, g: Any, out: Any = None) -> Any:
    """dx = g · y(1 - y)."""
    return _map(backend, "sigmoid_backward", (y, g), out, (1.0,), (y, g))


def tanh_forward(backend: Any, x: Any, out: Any = None) -> Any:
    """y = tanh x."""
    return _map(backend, "tanh_forward", (x,), out, (), (x,))


def tanh_backward(backend: Any, y: Any, g: Any, out: Any = None) -> Any:
    """dx = g · (1 - y²)."""
    return _map(backend, "tanh_backward", (y, g), out, (1.0,), (y, g))


# -- dropout ---------------------------------------------------------------------------------
def dropout_mask(backend: Any, u: Any, ratio: float, scale: float = 1.0, out: Any = None) -> Any:
    """m = [u > ratio] · scale (exactly 0 or `scale` in u's dtype)."""
    return _map(backend, "dropout_mask", (u,), out, (ratio, scale, 0.0), (u, ratio, scale))


def dropout_apply(backend: Any, x: Any, mask: Any, out: Any = None) -> Any:
    """x · mask."""
    return _map(backend, "dropout_apply", (x, mask), out, (), (x, mask))


# -- softmax loss ----------------------------------------------------------------------------
def softmax_loss_backward(
    backend: Any,
    prob: Any,
    label_index: Any,
    axis: int,
    coef: float,
    w_label: Any = None,
    out: Any = None,
) -> Any:
    """dx = (prob - onehot(label_index, axis)) · coef [· w_label] (one compiled pass)."""
    flat = _flat(out, prob)
    axis = axis + prob.ndim if axis < 0 else axis
    label_shape = prob.shape[:axis] + (1,) + prob.shape[axis + 1 :]
    ok = (
        flat is not None
        and isinstance(label_index, np.ndarray)
        and label_index.dtype == np.int64
        and label_index.shape == label_shape
        and (
            w_label is None
            or (
                isinstance(w_label, np.ndarray)
                and w_label.dtype == prob.dtype
                and w_label.shape == label_shape
            )
        )
    )
    if not ok:
        return backend.kernels.generic("softmax_loss_backward")(
            prob, label_index, axis, coef, w_label, out=out
        )
    dx = flat[0]
    pre, C = int(np.prod(prob.shape[:axis])), prob.shape[axis]
    shape3 = (pre, C, prob.size // max(pre * C, 1))
    t = prob.dtype.type
    label = np.ascontiguousarray(label_index).reshape(pre, shape3[2])
    w = (
        np.empty((0, 0), prob.dtype)
        if w_label is None
        else np.ascontiguousarray(w_label).reshape(pre, shape3[2])
    )
    _run(
        "softmax_loss_backward",
        dx.size,
        prob.reshape(shape3),
        label,
        t(coef),
        w,
        t(1.0),
        dx.reshape(shape3),
    )
    return dx


KERNELS: dict[str, Callable[..., Any]] = {
    "relu_forward": relu_forward,
    "relu_backward": relu_backward,
    "lrelu_forward": lrelu_forward,
    "lrelu_backward": lrelu_backward,
    "sigmoid_forward": sigmoid_forward,
    "sigmoid_backward": sigmoid_backward,
    "tanh_forward": tanh_forward,
    "tanh_backward": tanh_backward,
    "dropout_mask": dropout_mask,
    "dropout_apply": dropout_apply,
    "softmax_loss_backward": softmax_loss_backward,
}
