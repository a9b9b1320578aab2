"""HingeLossLayer: the binary hinge loss for labels in {-1, +1} (semantics §3.14)."""

from __future__ import annotations

from mocha.core.errors import DataError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, config_field, name_field
from mocha.plugins.layers._loss import RunningLossState, check_paired


class HingeLossState(RunningLossState):
    stat_key = "hinge-loss"
    stat_title = "Hinge-loss"

    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        check_paired(layer, *inputs)
        self.n = inputs[0].shape[0]
        # Labels from data (no gradient wanted) must be -1 or +1; a label produced by a
        # differentiable layer may take any value.
        self.check_labels = diffs[1].is_null

    def forward(self, backend, inputs):
        xp = backend.xp
        pred, label = inputs
        y = label.data.reshape(pred.shape)
        if self.check_labels:
            bad = ~((y == 1) | (y == -1))
            if bool(bad.any()):
                raise DataError(
                    f"{type(self.layer).__name__}({self.layer.name!r}): label "
                    f"{float(y[bad].ravel()[0])} in blob {self.layer.bottoms[1]!r} is out of "
                    f"range: hinge-loss labels must be -1 or +1"
                )
        margin = 1 - pred.data * y
        self.active = margin > 0
        # Mocha's CPU forward forgot `weight` (A6); the GPU forward and the gradients have it.
        self.loss = self.layer.weight * float(xp.maximum(margin, 0).sum()) / self.n
        self.accumulate(self.n)

    def backward(self, backend, inputs, diffs):
        # L = w/N Σ max(0, 1 - pred·label)
        #   => d pred = -w/N · label and d label = -w/N · pred where pred·label < 1, else 0.
        xp = backend.xp
        pred, label = inputs
        dpred, dlabel = diffs
        scale = -self.layer.weight / self.n
        if not dpred.is_null:
            y = label.data.reshape(pred.shape)
            dpred.data[...] = xp.where(self.active, scale * y, 0)
        if not dlabel.is_null:
            g = xp.where(self.active, scale * pred.data, 0)
            dlabel.data[...] = g.reshape(dlabel.shape)


class HingeLossLayer(
    Layer, is_sink=True, can_do_bp=True, has_loss=True, has_stats=True, bottoms="2", tops="0"
):
    """loss = weight/N · Σ max(0, 1 - pred·label), summed over every element and divided by
    the batch size N.

    Fields: `weight` (≥ 0, default 1; unlike Mocha's CPU code it scales the loss too).
    Bottoms: prediction and labels in {-1, +1} (same batch size and number of elements).
    Tops: none. Gradients flow to both bottoms where wanted. Statistics: "<name>-hinge-loss",
    the running mean of the loss weighted by batch size.
    """

    name: str = name_field("hinge-loss")
    weight: float = config_field(1.0, check=lambda v: v >= 0, rule="must be >= 0")
    state_cls = HingeLossState


@hookimpl
def mocha_register_layers(register):
    register(HingeLossLayer)
