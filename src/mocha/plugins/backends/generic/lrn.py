"""Generic (`xp`) local response normalization kernels: lrn_forward, lrn_backward.

    y_i = x_i / S_i^power,   S_i = shift + (scale / n) · Σ_{j ∈ W(i)} x_j²

`mode` is a string:

* ``"across_channel"``: W(i) = channels [c − pre, c + post] at the same pixel, on axis 1 of an
  array of any rank ≥ 2; n = k.
* ``"within_channel"``: W(i) = the k×k square [h − pre, h + post] × [w − pre, w + post] of the
  same channel of x[N, C, H, W]; n = k².

with pre = (k − 1) // 2 and post = k − 1 − pre; cells outside the array count as zeros and n
never shrinks (Mocha's zero padding). `denom` is the array S. Written with the backend's array
module; the only Python loop is over the k window offsets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mocha.core.backend import write_into

MODES = ("across_channel", "within_channel")


def _window_sum(xp: Any, a: Any, axis: int, before: int, after: int) -> Any:
    """out[..., c, ...] = Σ_{d=-before..after} a[..., c + d, ...] (zeros outside), on `axis`."""
    n = a.shape[axis]
    widths = [(0, 0)] * a.ndim
    widths[axis] = (before, after)
    padded = xp.pad(a, widths)
    out = xp.zeros_like(a)
    index = [slice(None)] * a.ndim
    for d in range(before + after + 1):
        index[axis] = slice(d, d + n)
        out += padded[tuple(index)]
    return out


def _neighbourhood_sum(xp: Any, a: Any, kernel: int, mode: str, adjoint: bool = False) -> Any:
    """Σ over the window of every cell (`adjoint`: over the cells whose window holds it)."""
    pre = (kernel - 1) // 2
    post = kernel - 1 - pre
    before, after = (post, pre) if adjoint else (pre, post)
    if mode == "across_channel":
        return _window_sum(xp, a, 1, before, after)
    if mode == "within_channel":
        return _window_sum(xp, _window_sum(xp, a, 2, before, after), 3, before, after)
    raise ValueError(f"unknown LRN mode {mode!r}; expected one of {MODES}")


def _window_size(kernel: int, mode: str) -> int:
    return kernel if mode == "across_channel" else kernel * kernel


def lrn_forward(
    backend: Any,
    x: Any,
    kernel: int,
    scale: float,
    power: float,
    shift: float,
    mode: str,
    out: Any = None,
) -> tuple[Any, Any]:
    """(y, denom) with denom = S = shift + (scale/n)·Σ_W x² and y = x · S^(−power).

    `out` = (y | None, denom | None): arrays to write the results into."""
    xp = backend.xp
    n = _window_size(kernel, mode)
    denom = _neighbourhood_sum(xp, x * x, kernel, mode)
    denom *= scale / n
    denom += shift
    y = x * denom ** (-power)
    if out is None:
        return y, denom
    return write_into(out[0], y), write_into(out[1], denom)


def lrn_backward(
    backend: Any,
    x: Any,
    y: Any,
    denom: Any,
    gy: Any,
    kernel: int,
    scale: float,
    power: float,
    shift: float,
    mode: str,
    out: Any = None,
) -> Any:
    """Gradient of `lrn_forward` (written into `out` when given):

        dx_j = g_j · S_j^(−power) − (2·power·scale/n) · x_j · Σ_{i : j ∈ W(i)} g_i · y_i / S_i

    (from ∂y_i/∂x_j = δ_ij S_i^(−p) − p · x_i · S_i^(−p−1) · (2·scale/n) · x_j for j ∈ W(i));
    the sum over the i whose window holds j is the window sum with the window mirrored.
    """
    xp = backend.xp
    n = _window_size(kernel, mode)
    t = gy * y / denom
    back = _neighbourhood_sum(xp, t, kernel, mode, adjoint=True)
    return write_into(out, gy * denom ** (-power) - (2.0 * power * scale / n) * x * back)


KERNELS: dict[str, Callable[..., Any]] = {
    "lrn_forward": lrn_forward,
    "lrn_backward": lrn_backward,
}
