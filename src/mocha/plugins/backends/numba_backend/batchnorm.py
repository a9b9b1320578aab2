"""Batch normalization kernels of the Numba backend (Python wrappers of the compiled loops in
`loops/batchnorm.py`). The formulas are those of `generic.batchnorm`; the per-channel sums
are accumulated in float64."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mocha.core.backend import write_into
from mocha.plugins.backends.numba_backend.runtime import contiguous, loops, out_or, run


def _inv_std(var: Any, eps: float, dtype: np.dtype) -> np.ndarray:
    return 1.0 / np.sqrt(np.asarray(var, dtype) + dtype.type(eps))


def batchnorm_forward(
    backend: Any,
    x: Any,
    mean: Any,
    var: Any,
    eps: float,
    scale: Any = None,
    shift: Any = None,
    batch_stats: bool = False,
    out: Any = None,
) -> np.ndarray:
    """y as `generic.batchnorm.batchnorm_forward` (batch statistics into `mean`/`var`)."""
    x = contiguous(x)
    k = loops("batchnorm")
    if batch_stats:
        mu, v = np.empty(x.shape[1]), np.empty(x.shape[1])
        run(k.channel_stats, x.size, x, mu, v)
        mean[...] = mu
        var[...] = v
    mu = contiguous(mean, x.dtype)
    r = _inv_std(var, eps, x.dtype)
    kc = r if scale is None else np.asarray(scale, x.dtype) * r
    b = np.zeros_like(r) if shift is None else contiguous(shift, x.dtype)
    y = out_or(out, x.shape, x.dtype)
    run(k.normalize, x.size, x, mu, kc, b, y)
    return write_into(out, y)


def batchnorm_backward(
    backend: Any,
    x: Any,
    gy: Any,
    mean: Any,
    var: Any,
    eps: float,
    scale: Any = None,
    batch_stats: bool = False,
    out: Any = None,
) -> tuple[Any, Any, Any]:
    """(gx, dscale, dshift) as `generic.batchnorm.batchnorm_backward`."""
    x = contiguous(x)
    gy = contiguous(gy, x.dtype)
    o_gx, o_ds, o_db = (x, None, None) if out is None else out
    k = loops("batchnorm")
    mu = contiguous(mean, x.dtype)
    r = _inv_std(var, eps, x.dtype)
    dshift = dscale = None
    if batch_stats or out is None or o_ds is not None or o_db is not None:  # sums wanted
        sg, sgx = np.empty(x.shape[1]), np.empty(x.shape[1])
        run(k.grad_sums, x.size, x, gy, mu, sg, sgx)
        dshift = sg.astype(x.dtype)
        dscale = (sgx * r).astype(x.dtype)  # Σ g·x̂ = r·Σ g·(x − μ)
    gx = None
    if o_gx is not None:
        kc = r if scale is None else np.asarray(scale, x.dtype) * r
        zero = np.zeros_like(r)
        if batch_stats:
            m = x.shape[0] * x.shape[2]
            b, c1 = (sg / m).astype(x.dtype), (r * (sgx * r) / m).astype(x.dtype)
        else:
            b, c1 = zero, zero
        gx = out_or(o_gx if out is not None else None, x.shape, x.dtype)
        run(k.grad_input, x.size, x, gy, mu, kc, b, c1, gx)
        gx = gx if out is None else write_into(o_gx, gx)
    return gx, write_into(o_ds, dscale), write_into(o_db, dshift)


KERNELS: dict[str, Callable[..., Any]] = {
    "batchnorm_forward": batchnorm_forward,
    "batchnorm_backward": batchnorm_backward,
}
