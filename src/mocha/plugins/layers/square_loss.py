"""SquareLossLayer: half the squared error, averaged over the batch (semantics §3.14)."""

from __future__ import annotations

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, config_field, name_field
from mocha.plugins.layers._loss import RunningLossState, check_paired


class SquareLossState(RunningLossState):
    stat_key = "square-loss"
    stat_title = "Square-loss"

    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        check_paired(layer, *inputs)
        self.n = inputs[0].shape[0]

    def forward(self, backend, inputs):
        pred, label = inputs
        self.residual = pred.data - label.data.reshape(pred.shape)
        sq = float((self.residual * self.residual).sum())
        self.loss = self.layer.weight * 0.5 * sq / self.n
        self.accumulate(self.n)

    def backward(self, backend, inputs, diffs):
        # L = w/(2N) Σ (pred - label)²  =>  d pred = w/N (pred - label),  d label = -d pred.
        # Each gradient is computed on its own (Mocha's label branch needed the pred one: A15).
        xp = backend.xp
        dpred, dlabel = diffs
        scale = self.layer.weight / self.n
        if not dpred.is_null:
            xp.multiply(self.residual, scale, out=dpred.data)
        if not dlabel.is_null:
            dlabel.data[...] = (-scale * self.residual).reshape(dlabel.shape)


class SquareLossLayer(
    Layer, is_sink=True, can_do_bp=True, has_loss=True, has_stats=True, bottoms="2", tops="0"
):
    """loss = weight · 0.5/N · ‖pred - label‖², summed over every element (spatial ones too)
    and divided by the batch size N only.

    Fields: `weight` (≥ 0, default 1). Bottoms: prediction and label (same batch size and
    number of elements). Tops: none. Gradients flow to both bottoms where wanted.
    Statistics: "<name>-square-loss", the running mean of the loss weighted by batch size.
    """

    name: str = name_field("square-loss")
    weight: float = config_field(1.0, check=lambda v: v >= 0, rule="must be >= 0")
    state_cls = SquareLossState


class EuclideanLossLayer(SquareLossLayer):
    """Caffe's EuclideanLoss under its own name: loss = weight · 1/(2N) · Σ ‖pred − label‖²
    with N the batch size, and gradients ±weight/N · (pred − label): exactly SquareLossLayer
    (same formula, fields, bottoms and statistics key), for Caffe users and imports
    (semantics §3.16).
    """

    name: str = name_field("euclidean-loss")


@hookimpl
def mocha_register_layers(register):
    register(SquareLossLayer)
    register(EuclideanLossLayer)
