"""SoftmaxLayer: softmax along the channel axis (semantics §3.6)."""

from __future__ import annotations

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, name_field
from mocha.plugins.layers._class_axis import class_axis, dim_field


class SoftmaxState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.axes = [class_axis(layer, x.ndim, b) for x, b in zip(inputs, layer.bottoms)]
        self.blobs = [backend.empty(x.shape) for x in inputs]
        self.blobs_diff = [backend.empty(x.shape) for x in inputs]

    def forward(self, backend, inputs):
        for x, y, axis in zip(inputs, self.blobs, self.axes):
            backend.kernels.softmax(x.data, axis, out=y.data)

    def backward(self, backend, inputs, diffs):
        # y = softmax(x):  dx = (g - Σ_c g·y) ⊙ y
        for y, g, dx, axis in zip(self.blobs, self.blobs_diff, diffs, self.axes):
            if dx.is_null:
                continue
            dot = (g.data * y.data).sum(axis=axis, keepdims=True)
            backend.xp.multiply(g.data - dot, y.data, out=dx.data)


class SoftmaxLayer(Layer, can_do_bp=True, bottoms=">=1", tops="same"):
    """y = exp(x - max) / Σ exp(x - max) along `dim` (numpy axis, default 1 = channels).

    Bottoms: k ≥ 1 blobs. Tops: k blobs of the same shapes.
    """

    name: str = name_field("softmax")
    dim: int = dim_field()
    state_cls = SoftmaxState


@hookimpl
def mocha_register_layers(register):
    register(SoftmaxLayer)
