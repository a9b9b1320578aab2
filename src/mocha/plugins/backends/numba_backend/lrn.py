"""Local response normalization kernels of the Numba backend, across and within channels
(Python wrappers of the compiled loops in `loops/lrn.py`; outputs written into the caller's
`out=` where its layout allows). The formulas are those of `generic.lrn`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mocha.core.backend import write_into
from mocha.plugins.backends.numba_backend.runtime import contiguous, loops, out_or, run


def _lrn_setup(x: Any, kernel: int, mode: str) -> tuple[np.ndarray, int, int, int]:
    if mode not in ("across_channel", "within_channel"):
        raise ValueError(
            f"unknown LRN mode {mode!r}; expected one of ('across_channel', 'within_channel')"
        )
    pre = (kernel - 1) // 2
    x = contiguous(x)
    if mode == "across_channel":
        return x.reshape(x.shape[0], x.shape[1], -1), pre, kernel - 1 - pre, kernel
    return x, pre, kernel - 1 - pre, kernel * kernel


def lrn_forward(
    backend: Any,
    x: Any,
    kernel: int,
    scale: float,
    power: float,
    shift: float,
    mode: str,
    out: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(y, denom) as `generic.lrn.lrn_forward`; `out` = (y | None, denom | None)."""
    xv, pre, post, n = _lrn_setup(x, kernel, mode)
    o_y, o_d = (None, None) if out is None else out
    y, denom = out_or(o_y, x.shape, xv.dtype), out_or(o_d, x.shape, xv.dtype)
    name = "lrn_across_forward" if mode == "across_channel" else "lrn_within_forward"
    run(
        getattr(loops("lrn"), name),
        xv.size,
        xv,
        pre,
        post,
        scale / n,
        float(power),
        float(shift),
        y.reshape(xv.shape),
        denom.reshape(xv.shape),
    )
    return write_into(o_y, y), write_into(o_d, denom)


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
) -> np.ndarray:
    """Gradient of `lrn_forward`, as `generic.lrn.lrn_backward` (into `out` when given)."""
    xv, pre, post, n = _lrn_setup(x, kernel, mode)
    yv, dv, gv = (contiguous(a, xv.dtype).reshape(xv.shape) for a in (y, denom, gy))
    gx = out_or(out, x.shape, xv.dtype)
    coef = 2.0 * power * scale / n
    k = loops("lrn")
    if mode == "across_channel":
        run(
            k.lrn_across_backward,
            xv.size,
            xv,
            yv,
            dv,
            gv,
            pre,
            post,
            coef,
            float(power),
            gx.reshape(xv.shape),
        )
    else:
        scratch = backend.workspace("lrn", xv.shape, xv.dtype)
        run(
            k.lrn_within_backward,
            xv.size,
            xv,
            yv,
            dv,
            gv,
            pre,
            post,
            coef,
            float(power),
            gx,
            scratch,
        )
    return write_into(out, gx)


KERNELS: dict[str, Callable[..., Any]] = {"lrn_forward": lrn_forward, "lrn_backward": lrn_backward}
