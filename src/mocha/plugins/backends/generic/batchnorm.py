"""Generic (`xp`) batch normalization kernels: batchnorm_forward, batchnorm_backward.

On x[N, C, S] (S = H·W, or 1 for a 2-D blob), per channel c, over the M = N·S values of c:

    x̂ = (x − μ_c) · r_c,   r_c = (σ²_c + eps)^(−½),   y = γ_c · x̂ + β_c   (γ = 1, β = 0 when
                                                                           scale/shift are None)

`batch_stats=True` (training): μ_c = mean of x over N and S, σ²_c = mean of (x − μ_c)² (the
biased variance, two passes), both written into the caller's `mean` and `var` (C,) arrays
first; `batch_stats=False`: `mean` and `var` are given (the stored statistics).

The backward (g = ∂L/∂y): dβ_c = Σ g, dγ_c = Σ g·x̂ (over N and S), and

* with batch statistics (μ and σ² depend on x): ∂L/∂x = γ r (g − dβ/M − x̂·dγ/M)
  (differentiate x̂ through μ and σ²: ∂μ/∂x = 1/M, ∂σ²/∂x = 2(x − μ)/M);
* with given statistics: ∂L/∂x = γ r g.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mocha.core.backend import write_into


def _col(a: Any) -> Any:
    """A (C,) vector as (1, C, 1), to broadcast over x[N, C, S]."""
    return a.reshape(1, -1, 1)


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
) -> Any:
    """y = (x − mean)·(var + eps)^(−½) [·scale + shift] on x[N, C, S] (see the module)."""
    xp = backend.xp
    if batch_stats:
        mean[...] = x.mean(axis=(0, 2))
        d = x - _col(mean)
        var[...] = (d * d).mean(axis=(0, 2))
    else:
        d = x - _col(mean)
    r = 1.0 / xp.sqrt(var + x.dtype.type(eps))
    y = d * _col(r if scale is None else scale * r)
    if shift is not None:
        y += _col(shift)
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
    """(gx, dscale, dshift) of `batchnorm_forward` (the module gives the formulas); `out` =
    (gx | None, dscale | None, dshift | None); gx is None when `out` is given with gx None."""
    xp = backend.xp
    o_gx, o_ds, o_db = (x, None, None) if out is None else out
    r = 1.0 / xp.sqrt(var + x.dtype.type(eps))
    # the sums: for the batch statistics' terms of gx, or when dscale/dshift are wanted
    sums = batch_stats or out is None or o_ds is not None or o_db is not None
    xhat = (x - _col(mean)) * _col(r) if sums else None
    dshift = gy.sum(axis=(0, 2)) if sums else None
    dscale = (gy * xhat).sum(axis=(0, 2)) if sums else None
    gx = None
    if o_gx is not None:
        k = r if scale is None else scale * r
        if batch_stats:
            m = x.shape[0] * x.shape[2]
            gx = (gy - _col(dshift / m) - xhat * _col(dscale / m)) * _col(k)
        else:
            gx = gy * _col(k)
        gx = gx if out is None else write_into(o_gx, gx)
    return gx, write_into(o_ds, dscale), write_into(o_db, dshift)


KERNELS: dict[str, Callable[..., Any]] = {
    "batchnorm_forward": batchnorm_forward,
    "batchnorm_backward": batchnorm_backward,
}
