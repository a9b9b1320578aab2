"""Index2OnehotLayer: class indices to one-hot vectors (semantics §3.13)."""

from __future__ import annotations

from mocha.core.errors import DataError, ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field
from mocha.plugins.layers._class_axis import class_axis, dim_field


class Index2OnehotState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.axes = [class_axis(layer, x.ndim, b) for x, b in zip(inputs, layer.bottoms)]
        self.blobs = []
        for name, x, axis in zip(layer.bottoms, inputs, self.axes):
            if x.shape[axis] != 1:
                raise ShapeError(
                    f"Index2OnehotLayer({layer.name!r}): bottom {name!r} {x.shape} must have "
                    f"size 1 along dim={layer.dim} (axis {axis}), not {x.shape[axis]}"
                )
            shape = list(x.shape)
            shape[axis] = layer.n_class
            self.blobs.append(backend.empty(tuple(shape), dtype=x.dtype))

    def forward(self, backend, inputs):
        xp = backend.xp
        C = self.layer.n_class
        for name, x, y, axis in zip(self.layer.bottoms, inputs, self.blobs, self.axes):
            idx = xp.rint(x.data)
            bad = (idx != x.data) | (idx < 0) | (idx >= C)
            if bool(bad.any()):
                value = float(x.data[bad].ravel()[0])
                raise DataError(
                    f"Index2OnehotLayer({self.layer.name!r}): value {value} in blob {name!r} is "
                    f"not a class index: values must be integers in [0, {C})"
                )
            # y[..., c, ...] = [c == x[..., 0, ...]]
            classes = xp.arange(C).reshape((1,) * axis + (C,) + (1,) * (x.ndim - axis - 1))
            y.data[...] = idx.astype(xp.int64) == classes


class Index2OnehotLayer(Layer, bottoms=">=1", tops="same"):
    """y[..., c, ...] = 1 if x[..., 0, ...] == c else 0, along numpy axis `dim` (default 1).

    Fields: `n_class` (required, > 0), `dim`. No back-propagation.
    Bottoms: k ≥ 1 blobs with size 1 along `dim`, holding integers in [0, n_class).
    Tops: k blobs in the bottom's dtype, with size `n_class` along `dim`.
    """

    name: str = name_field("index2onehot")
    dim: int = dim_field()
    n_class: int = config_field(
        check=lambda v: isinstance(v, int) and v > 0, rule="must be an int > 0"
    )
    state_cls = Index2OnehotState


@hookimpl
def mocha_register_layers(register):
    register(Index2OnehotLayer)
