"""SoftlabelSoftmaxLossLayer: cross-entropy of softmax(pred) against soft labels
(semantics §3.14)."""

from __future__ import annotations

from mocha.core.errors import DataError, ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field
from mocha.plugins.layers._class_axis import class_axis, dim_field


class SoftlabelSoftmaxLossState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        pred, label = inputs
        if label.shape != pred.shape:
            raise ShapeError(
                f"{type(layer).__name__}({layer.name!r}): label blob {layer.bottoms[1]!r} has "
                f"shape {label.shape}; it must have the prediction's shape {pred.shape} "
                f"(blob {layer.bottoms[0]!r}), one distribution per sample and location"
            )
        self.axis = class_axis(layer, pred.ndim, layer.bottoms[0])
        self.prob = backend.empty(pred.shape)
        self.count = pred.size // pred.shape[self.axis]  # N · spatial

    def forward(self, backend, inputs):
        xp = backend.xp
        pred, label = inputs
        bad = ~(label.data >= 0)
        if bool(bad.any()):
            raise DataError(
                f"{type(self.layer).__name__}({self.layer.name!r}): soft label "
                f"{float(label.data[bad].ravel()[0])} in blob {self.layer.bottoms[1]!r} is "
                f"out of range: soft labels are probabilities (>= 0)"
            )
        backend.kernels.softmax(pred.data, self.axis, out=self.prob.data)
        self.log_q = xp.log(xp.maximum(self.prob.data, 1e-20))
        self.loss = -self.layer.weight * float((self.log_q * label.data).sum()) / self.count

    def backward(self, backend, inputs, diffs):
        # L = -w/(N·S) Σ label · log q,  q = softmax(x)
        #   => dx = w/(N·S) · (q · Σ_c label_c - label)   (Mocha's q - label when the labels
        #      sum to 1 along dim, as they should);  d label = -w/(N·S) · log q.
        xp = backend.xp
        _, label = inputs
        dx, dlabel = diffs
        scale = self.layer.weight / self.count
        if not dx.is_null:
            mass = label.data.sum(axis=self.axis, keepdims=True)
            xp.multiply(self.prob.data, mass, out=dx.data)
            dx.data -= label.data
            dx.data *= scale
        if not dlabel.is_null:
            xp.multiply(self.log_q, -scale, out=dlabel.data)


class SoftlabelSoftmaxLossLayer(
    Layer, is_sink=True, can_do_bp=True, has_loss=True, bottoms="2", tops="0"
):
    """loss = -weight/(N·S) · Σ label · log(max(softmax(pred), 1e-20)), the softmax along `dim`.

    N·S is the number of distributions (batch × spatial locations). Equals the KL divergence
    D(label ‖ softmax(pred)) up to the label entropy.

    Fields: `weight` (≥ 0, default 1), `dim` (numpy axis of the classes, default 1).
    Bottoms: prediction (N, C, ...) and soft labels of the same shape, non-negative and
    summing to 1 along `dim`. Tops: none.
    """

    name: str = name_field("softlabel-softmax-loss")
    weight: float = config_field(1.0, check=lambda v: v >= 0, rule="must be >= 0")
    dim: int = dim_field()
    state_cls = SoftlabelSoftmaxLossState


@hookimpl
def mocha_register_layers(register):
    register(SoftlabelSoftmaxLossLayer)
