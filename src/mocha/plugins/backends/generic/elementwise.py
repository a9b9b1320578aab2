"""Generic (`xp`) elementwise kernels: the neurons, the dropout mask, the softmax-loss gradient.

Every kernel maps arrays of one shape to an array of that shape and takes `out=`: the array to
write into, returned (a new array when None). Passing an input as `out` works in place
(`relu_forward(x, eps, out=x)`). Scalars (`epsilon`, `ratio`, `scale`, `coef`) are rounded to
the arrays' dtype and all arithmetic happens in it (float32 stays float32). Backward kernels
take the neuron's OUTPUT `y` (Mocha writes f' with y, semantics §4.1) and the top gradient `g`.

=========================  =========================================================
``relu_forward``           ``(x, epsilon, out=None)``: y = max(epsilon, x) (NaN stays NaN)
``relu_backward``          ``(y, g, epsilon, out=None)``: g · [y > epsilon]
``lrelu_forward``          ``(x, out=None)``: y = x if x > 0 else 0.01 · x (fixed slope)
``lrelu_backward``         ``(y, g, out=None)``: g if y > 0 else 0.01 · g
``sigmoid_forward``        ``(x, out=None)``: 1 / (1 + e⁻ˣ), as 1/(1+e) or e/(1+e) with
                           e = exp(-|x|) (never overflows)
``sigmoid_backward``       ``(y, g, out=None)``: g · (y · (1 - y))
``tanh_forward``           ``(x, out=None)``: tanh x
``tanh_backward``          ``(y, g, out=None)``: g · (1 - y · y)
``dropout_mask``           ``(u, ratio, scale=1.0, out=None)``: m = [u > ratio] · scale
                           (u ~ U[0, 1) drawn by the caller; m is exactly 0 or scale)
``dropout_apply``          ``(x, mask, out=None)``: x · mask (forward and backward)
``softmax_loss_backward``  ``(prob, label_index, axis, coef, w_label=None, out=None)``:
                           dx = (prob - onehot(label)) · coef [· w_label], onehot along
                           `axis`; label_index int64 shaped like prob with 1 on `axis`,
                           w_label (the class weight at each label) likewise
=========================  =========================================================

The expressions are the ones the neurons and the Dropout/SoftmaxLoss layers used inline, so the
numbers are bit-identical to theirs; the Numba backend's compiled versions
(`numba_backend.elementwise`) reproduce them exactly for everything but exp/tanh, which may
differ in the last bit (libm instead of NumPy's SIMD routines).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mocha.core.backend import LRELU_SLOPE, write_into


# -- neurons ---------------------------------------------------------------------------------
def relu_forward(backend: Any, x: Any, epsilon: float, out: Any = None) -> Any:
    """y = max(epsilon, x)."""
    return backend.xp.maximum(x, float(epsilon), out=out)


def relu_backward(backend: Any, y: Any, g: Any, epsilon: float, out: Any = None) -> Any:
    """dx = g · [y > epsilon] (0 at y = epsilon, the kink, and below)."""
    return backend.xp.multiply(g, y > float(epsilon), out=out)


def lrelu_forward(backend: Any, x: Any, out: Any = None) -> Any:
    """y = x if x > 0 else 0.01 · x (0.01 in x's dtype)."""
    xp = backend.xp
    return write_into(out, xp.where(x > 0, x, x * x.dtype.type(LRELU_SLOPE)))


def lrelu_backward(backend: Any, y: Any, g: Any, out: Any = None) -> Any:
    """dx = g · (1 if y > 0 else 0.01)."""
    xp = backend.xp
    factor = xp.where(y > 0, y.dtype.type(1.0), y.dtype.type(LRELU_SLOPE))
    return xp.multiply(g, factor, out=out)


def sigmoid_forward(backend: Any, x: Any, out: Any = None) -> Any:
    """y = 1/(1 + exp(-x)), computed with e = exp(-|x|): 1/(1+e) for x ≥ 0, e/(1+e) below."""
    xp = backend.xp
    e = xp.exp(-xp.abs(x))
    return write_into(out, xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)))


def sigmoid_backward(backend: Any, y: Any, g: Any, out: Any = None) -> Any:
    """dx = g · y(1 - y)."""
    return backend.xp.multiply(g, y * (1 - y), out=out)


def tanh_forward(backend: Any, x: Any, out: Any = None) -> Any:
    """y = tanh x."""
    return backend.xp.tanh(x, out=out)


def tanh_backward(backend: Any, y: Any, g: Any, out: Any = None) -> Any:
    """dx = g · (1 - y²)."""
    return backend.xp.multiply(g, 1 - y * y, out=out)


# -- dropout ---------------------------------------------------------------------------------
def dropout_mask(backend: Any, u: Any, ratio: float, scale: float = 1.0, out: Any = None) -> Any:
    """m = [u > ratio] · scale in u's dtype (`out`'s when given): exactly 0 or `scale`.

    `u` holds U[0, 1) draws, so P(m = 0) = ratio; with scale = 1/(1 - ratio), E[x · m] = x."""
    xp = backend.xp
    if out is None:
        out = xp.empty(u.shape, dtype=u.dtype)
    out[...] = u > float(ratio)
    if scale != 1.0:
        out *= float(scale)
    return out


def dropout_apply(backend: Any, x: Any, mask: Any, out: Any = None) -> Any:
    """x · mask (the dropout forward on activations, and its backward on gradients)."""
    return backend.xp.multiply(x, mask, out=out)


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
    """dx = (prob - onehot(label_index, axis)) · coef [· w_label].

    The gradient of coef · Σ -w_label · log softmax(x)[label] given prob = softmax(x); the
    subtraction, the scaling by `coef` and the one by `w_label` are rounded in that order."""
    xp = backend.xp
    dx = xp.empty_like(prob) if out is None else out
    dx[...] = prob
    picked = xp.take_along_axis(dx, label_index, axis=axis)
    xp.put_along_axis(dx, label_index, picked - 1, axis=axis)
    dx *= float(coef)
    if w_label is not None:
        dx *= w_label
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
