"""LogSoftmaxLayer: log of the softmax along the channel axis (semantics §3.16)."""

from __future__ import annotations

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, name_field
from mocha.plugins.layers._class_axis import class_axis, dim_field


class LogSoftmaxState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.axes = [class_axis(layer, x.ndim, b) for x, b in zip(inputs, layer.bottoms)]
        self.blobs = [backend.empty(x.shape) for x in inputs]
        self.blobs_diff = [backend.empty(x.shape) for x in inputs]

    def forward(self, backend, inputs):
        xp = backend.xp
        for x, y, axis in zip(inputs, self.blobs, self.axes):
            shifted = x.data - x.data.max(axis=axis, keepdims=True)
            lse = xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
            xp.subtract(shifted, lse, out=y.data)

    def backward(self, backend, inputs, diffs):
        # y = x − log Σ_c exp x_c:  ∂y_i/∂x_j = δ_ij − softmax_j  =>  dx = g − exp(y)·Σ_c g
        xp = backend.xp
        for y, g, dx, axis in zip(self.blobs, self.blobs_diff, diffs, self.axes):
            if dx.is_null:
                continue
            total = g.data.sum(axis=axis, keepdims=True)
            xp.subtract(g.data, xp.exp(y.data) * total, out=dx.data)


class LogSoftmaxLayer(Layer, can_do_bp=True, bottoms=">=1", tops="same"):
    """y = x − max − log Σ exp(x − max) along `dim` (numpy axis, default 1 = channels): the log
    of SoftmaxLayer's output, computed without forming it (PyTorch's log_softmax, ONNX's
    LogSoftmax with axis = dim).

    Fields: `dim` (1; negative counts from the end; not the batch axis 0).
    Bottoms: k ≥ 1 blobs. Tops: k blobs of the same shapes.
    """

    name: str = name_field("log-softmax")
    dim: int = dim_field()
    state_cls = LogSoftmaxState


@hookimpl
def mocha_register_layers(register):
    register(LogSoftmaxLayer)
