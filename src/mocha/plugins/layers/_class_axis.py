"""`class_axis(layer, ndim, blob_name)`: core's `channel_axis`, and a warning when the layer's
`dim` looks like a Mocha.jl one; `dim_field()`, the `dim` field itself.

Mocha.jl counts `dim` in Julia's axis order (width first, batch last; 1-based, negative from
the end), Mocha for Python in numpy's (batch first; 0-based). The same number names another
axis: Mocha's default `dim=-2` (the channels of a `(W, H, C, N)` blob) is numpy axis 1 here,
while `dim=-2` here is the height of an `(N, C, H, W)` blob. Both spellings that a port
carries over unchanged are warned about, naming the numpy axis Mocha.jl meant:

* `dim = -2`, Mocha's default (the channels), on a blob of 3 or more dims: numpy axis 1;
* `dim = 3` on a 4-D blob (Julia's 1-based `3`, the channels): numpy axis 1.

The same axis spelled the other way (`dim=2` for `-2`, `dim=-1` for `3` on a 4-D blob) gives
no warning.
"""

from __future__ import annotations

import warnings
from typing import Any

from mocha.core.layer import channel_axis, config_field


def dim_field(default: int = 1) -> Any:
    """The `dim` field of a layer working along a class axis: a non-batch numpy axis."""
    return config_field(
        default,
        check=lambda v: isinstance(v, int) and v != 0,
        rule="must be a non-batch numpy axis (not 0)",
    )


def julia_axis(dim: int, ndim: int) -> int | None:
    """The numpy axis Mocha.jl means by `dim` when `dim` looks like a Julia one, else None."""
    if dim == -2 and ndim >= 3:
        return 1
    if ndim == 4 and dim == 3:
        return 1
    return None


def warn_if_julia_dim(layer: Any, dim: int, ndim: int, blob_name: str, field: str = "dim") -> None:
    """Warn (UserWarning) when `dim` of `layer` looks like Mocha.jl's (see the module)."""
    meant = julia_axis(dim, ndim)
    if meant is None or meant == dim % ndim:
        return
    same = dim % ndim if dim < 0 else dim - ndim  # the same axis, spelled without the warning
    warnings.warn(
        f"{type(layer).__name__}({layer.name!r}): {field}={dim} is numpy axis {dim % ndim} of "
        f"the {ndim}-D blob {blob_name!r} (numpy order, batch first); in Mocha.jl (Julia's "
        f"order, batch last) {field}={dim} is numpy axis {meant}: write {field}={meant} if the "
        f"layer was ported from Mocha.jl, or {field}={same} to mean the axis used now",
        UserWarning,
        stacklevel=2,
    )


def class_axis(layer: Any, ndim: int, blob_name: str) -> int:
    """`channel_axis(layer, ndim, blob_name)`, warning first when `dim` looks like Julia's."""
    warn_if_julia_dim(layer, layer.dim, ndim, blob_name)
    return channel_axis(layer, ndim, blob_name)
