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


# -- neurons ---------------------------------------------------------------------------------
def relu_forward(backend: Any, x: Any, epsilon: float, out: Any = None) -> Any:
    """y = max(epsilon, x) (see `kernels_elementwise.relu_forward`)."""
    flat = _flat(out, x)
    if flat is None:
        return generic.relu_forward(backend, x, epsilon, out=out)
    y, (xf, yf) = flat
    _run("relu_forward", y.size, xf, x.dtype.type(epsilon), yf)
    return y


def relu_backward(backend: Any, y: Any, g: Any, epsilon: float, out: Any = None) -> Any:
    """dx = g · [y > epsilon]."""
    flat = _flat(out, y, g)
    if flat is None:
        return generic.relu_backward(backend, y, g, epsilon, out=out)
    dx, (yf, gf, df) = flat
    t = y.dtype.type
    _run("relu_backward", dx.size, yf, gf, t(epsilon), t(0.0), df)
    return dx


def lrelu_forward(backend: Any, x: Any, out: Any = None) -> Any:
    """y = x if x > 0 else 0.01 · x."""
    flat = _flat(out, x)
    if flat is None:
        return generic.lrelu_forward(backend, x, out=out)
    y, (xf, yf) = flat
    _run("lrelu_forward", y.size, xf, x.dtype.type(generic.LRELU_SLOPE), yf)
    return y


def lrelu_backward(backend: Any, y: Any, g: Any, out: Any = None) -> Any:
    """dx = g · (1 if y > 0 else 0.01)."""
    flat = _flat(out, y, g)
    if flat is None:
        return generic.lrelu_backward(backend, y, g, out=out)
    dx, (yf, gf, df) = flat
    _run("lrelu_backward", dx.size, yf, gf, y.dtype.type(generic.LRELU_SLOPE), df)
    return dx


def sigmoid_forward(backend: Any, x: Any, out: Any = None) -> Any:
    """y = 1/(1 + exp(-x)) (the overflow-free form of the generic kernel)."""
    flat = _flat(out, x)
    if flat is None:
        return generic.sigmoid_forward(backend, x, out=out)
    y, (xf, yf) = flat
    _run("sigmoid_forward", y.size, xf, x.dtype.type(1.0), yf)
    return y


def sigmoid_backward(backend: Any, y: Any, g: Any, out: Any = None) -> Any:
    """dx = g · y(1 - y)."""
    flat = _flat(out, y, g)
    if flat is None:
        return generic.sigmoid_backward(backend, y, g, out=out)
    dx, (yf, gf, df) = flat
    _run("sigmoid_backward", dx.size, yf, gf, y.dtype.type(1.0), df)
    return dx


def tanh_forward(backend: Any, x: Any, out: Any = None) -> Any:
    """y = tanh x."""
    flat = _flat(out, x)
    if flat is None:
        return generic.tanh_forward(backend, x, out=out)
    y, (xf, yf) = flat
    _run("tanh_forward", y.size, xf, yf)
    return y


def tanh_backward(backend: Any, y: Any, g: Any, out: Any = None) -> Any:
    """dx = g · (1 - y²)."""
    flat = _flat(out, y, g)
    if flat is None:
        return generic.tanh_backward(backend, y, g, out=out)
    dx, (yf, gf, df) = flat
    _run("tanh_backward", dx.size, yf, gf, y.dtype.type(1.0), df)
    return dx


# -- dropout ---------------------------------------------------------------------------------
def dropout_mask(backend: Any, u: Any, ratio: float, scale: float = 1.0, out: Any = None) -> Any:
    """m = [u > ratio] · scale (exactly 0 or `scale` in u's dtype)."""
    flat = _flat(out, u)
    if flat is None:
        return generic.dropout_mask(backend, u, ratio, scale, out=out)
    m, (uf, mf) = flat
    t = u.dtype.type
    _run("dropout_mask", m.size, uf, t(ratio), t(scale), t(0.0), mf)
    return m


def dropout_apply(backend: Any, x: Any, mask: Any, out: Any = None) -> Any:
    """x · mask."""
    flat = _flat(out, x, mask)
    if flat is None:
        return generic.dropout_apply(backend, x, mask, out=out)
    y, (xf, mf, yf) = flat
    _run("dropout_apply", y.size, xf, mf, yf)
    return y


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
