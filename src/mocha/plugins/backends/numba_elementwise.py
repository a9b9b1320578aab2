"""The Numba backend's elementwise kernels: neurons, dropout masks, the softmax-loss gradient.

Registers, for backend "numba", compiled versions of the generic kernels of
`kernels_elementwise` (same names, signatures and numbers; see its docstring for the table).
Each wrapper checks that its arrays can go straight to a flat compiled loop: NumPy arrays of
one shape and one float dtype (float32 or float64), C-contiguous, and an `out` that is either
one of the inputs or overlaps none of them. Anything else (a strided view, mixed dtypes,
broadcasting, a partial overlap) runs the generic kernel instead, so the results never depend
on which path was taken beyond the last bit of exp and tanh.

Like the other Numba kernels, a call under `numba_backend.SERIAL_BELOW` elements runs on the
calling thread only. Importing this module does not import numba: the loops in
`numba_elementwise_kernels` load on the first call.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from mocha.core.hookspecs import hookimpl
from mocha.plugins.backends import kernels_elementwise as generic
from mocha.plugins.backends import numba_backend

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_KERNELS: ModuleType | None = None


def _k() -> ModuleType:
    """The compiled loops, imported (and numba with it) on first use."""
    global _KERNELS
    if _KERNELS is None:
        numba_backend._k()  # numba_backend's thread-pool settings apply before numba starts
        from mocha.plugins.backends import numba_elementwise_kernels

        _KERNELS = numba_elementwise_kernels
    return _KERNELS


def _run(name: str, size: int, *args: Any) -> None:
    """Call compiled loop `name` through `numba_backend._run` (one thread below
    `numba_backend.SERIAL_BELOW` elements)."""
    numba_backend._run(getattr(_k(), name), size, *args)


def _same_buffer(a: np.ndarray, b: np.ndarray) -> bool:
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0]


def _flat(out: Any, *arrays: Any) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """(out, flat views of arrays + out) when the compiled loop can run, else None.

    The arrays must be C-contiguous NumPy arrays of one shape and one float dtype; `out`
    (allocated when None) likewise, and either the very buffer of an input or disjoint from
    all of them (a flat loop would read what it already overwrote otherwise)."""
    first = arrays[0]
    for a in arrays:
        if not (isinstance(a, np.ndarray) and a.flags.c_contiguous and a.dtype == first.dtype
                and a.shape == first.shape):
            return None
    if first.dtype not in _FLOATS:
        return None
    if out is None:
        out = np.empty(first.shape, dtype=first.dtype)
    elif not (isinstance(out, np.ndarray) and out.flags.c_contiguous and out.flags.writeable
              and out.dtype == first.dtype and out.shape == first.shape):
        return None
    else:
        for a in arrays:
            if a is not out and np.may_share_memory(a, out) and not _same_buffer(a, out):
                return None
    return out, [a.reshape(-1) for a in (*arrays, out)]


def _map(name: str, arrays: tuple, out: Any, scalars: tuple,
         fallback: Callable[[], Any]) -> Any:
    """Compiled loop `name`(flat arrays..., scalars in the arrays' dtype..., flat out) into
    `out` (new when None) and return it; `fallback()` (the generic kernel) where `_flat`
    refuses the arrays."""
    flat = _flat(out, *arrays)
    if flat is None:
        return fallback()
    result, views = flat
    t = arrays[0].dtype.type
    _run(name, result.size, *views[:-1], *(t(v) for v in scalars), views[-1])
    return result


# -- neurons ---------------------------------------------------------------------------------
def relu_forward(backend: Any, x: Any, epsilon: float, out: Any = None) -> Any:
    """y = max(epsilon, x) (see `kernels_elementwise.relu_forward`)."""
    return _map("relu_forward", (x,), out, (epsilon,),
                lambda: generic.relu_forward(backend, x, epsilon, out=out))


def relu_backward(backend: Any, y: Any, g: Any, epsilon: float, out: Any = None) -> Any:
    """dx = g · [y > epsilon]."""
    return _map("relu_backward", (y, g), out, (epsilon, 0.0),
                lambda: generic.relu_backward(backend, y, g, epsilon, out=out))


def lrelu_forward(backend: Any, x: Any, out: Any = None) -> Any:
    """y = x if x > 0 else 0.01 · x."""
    return _map("lrelu_forward", (x,), out, (generic.LRELU_SLOPE,),
                lambda: generic.lrelu_forward(backend, x, out=out))


def lrelu_backward(backend: Any, y: Any, g: Any, out: Any = None) -> Any:
    """dx = g · (1 if y > 0 else 0.01)."""
    return _map("lrelu_backward", (y, g), out, (generic.LRELU_SLOPE,),
                lambda: generic.lrelu_backward(backend, y, g, out=out))


def sigmoid_forward(backend: Any, x: Any, out: Any = None) -> Any:
    """y = 1/(1 + exp(-x)) (the overflow-free form of the generic kernel)."""
    return _map("sigmoid_forward", (x,), out, (1.0,),
                lambda: generic.sigmoid_forward(backend, x, out=out))


def sigmoid_backward(backend: Any, y: Any, g: Any, out: Any = None) -> Any:
    """dx = g · y(1 - y)."""
    return _map("sigmoid_backward", (y, g), out, (1.0,),
                lambda: generic.sigmoid_backward(backend, y, g, out=out))


def tanh_forward(backend: Any, x: Any, out: Any = None) -> Any:
    """y = tanh x."""
    return _map("tanh_forward", (x,), out, (),
                lambda: generic.tanh_forward(backend, x, out=out))


def tanh_backward(backend: Any, y: Any, g: Any, out: Any = None) -> Any:
    """dx = g · (1 - y²)."""
    return _map("tanh_backward", (y, g), out, (1.0,),
                lambda: generic.tanh_backward(backend, y, g, out=out))


# -- dropout ---------------------------------------------------------------------------------
def dropout_mask(backend: Any, u: Any, ratio: float, scale: float = 1.0, out: Any = None) -> Any:
    """m = [u > ratio] · scale (exactly 0 or `scale` in u's dtype)."""
    return _map("dropout_mask", (u,), out, (ratio, scale, 0.0),
                lambda: generic.dropout_mask(backend, u, ratio, scale, out=out))


def dropout_apply(backend: Any, x: Any, mask: Any, out: Any = None) -> Any:
    """x · mask."""
    return _map("dropout_apply", (x, mask), out, (),
                lambda: generic.dropout_apply(backend, x, mask, out=out))


# -- softmax loss ----------------------------------------------------------------------------
def softmax_loss_backward(backend: Any, prob: Any, label_index: Any, axis: int, coef: float,
                          w_label: Any = None, out: Any = None) -> Any:
    """dx = (prob - onehot(label_index, axis)) · coef [· w_label] (one compiled pass)."""
    flat = _flat(out, prob)
    axis = axis + prob.ndim if axis < 0 else axis
    label_shape = prob.shape[:axis] + (1,) + prob.shape[axis + 1:]
    ok = (flat is not None and isinstance(label_index, np.ndarray)
          and label_index.dtype == np.int64 and label_index.shape == label_shape
          and (w_label is None or (isinstance(w_label, np.ndarray) and w_label.dtype == prob.dtype
                                   and w_label.shape == label_shape)))
    if not ok:
        return generic.softmax_loss_backward(backend, prob, label_index, axis, coef, w_label,
                                             out=out)
    dx = flat[0]
    pre, C = int(np.prod(prob.shape[:axis])), prob.shape[axis]
    shape3 = (pre, C, prob.size // max(pre * C, 1))
    t = prob.dtype.type
    label = np.ascontiguousarray(label_index).reshape(pre, shape3[2])
    w = (np.empty((0, 0), prob.dtype) if w_label is None
         else np.ascontiguousarray(w_label).reshape(pre, shape3[2]))
    _run("softmax_loss_backward", dx.size, prob.reshape(shape3), label, t(coef), w, t(1.0),
         dx.reshape(shape3))
    return dx


OVERRIDDEN: tuple[str, ...] = generic.NAMES


@hookimpl
def mocha_register_kernels(register):
    for name in OVERRIDDEN:
        register(name, globals()[name], backend="numba")
