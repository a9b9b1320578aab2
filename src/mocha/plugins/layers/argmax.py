"""ArgmaxLayer: the index of the maximum along the channel axis (semantics §3.13)."""

from __future__ import annotations

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, name_field
from mocha.plugins.layers._class_axis import class_axis, dim_field


class ArgmaxState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.axes = [class_axis(layer, x.ndim, b) for x, b in zip(inputs, layer.bottoms)]
        self.blobs = []
        for x, axis in zip(inputs, self.axes):
            shape = list(x.shape)
            shape[axis] = 1
            self.blobs.append(backend.empty(tuple(shape), dtype=x.dtype))

    def forward(self, backend, inputs):
        xp = backend.xp
        for x, y, axis in zip(inputs, self.blobs, self.axes):
            # argmax returns the first maximum on ties
            idx = xp.argmax(x.data, axis=axis)
            y.data[...] = xp.expand_dims(idx, axis).astype(y.dtype)


class ArgmaxLayer(Layer, bottoms=">=1", tops="same"):
    """y = argmax_c x[..., c, ...] along numpy axis `dim` (default 1); the 0-based index of
    the first maximum, stored in the bottom's dtype. No back-propagation.

    Bottoms: k ≥ 1 blobs. Tops: k blobs shaped like their bottom with size 1 along `dim`.
    """

    name: str = name_field("argmax")
    dim: int = dim_field()
    state_cls = ArgmaxState


@hookimpl
def mocha_register_layers(register):
    register(ArgmaxLayer)
