"""SigmoidCrossEntropyLossLayer: binary cross-entropy on logits, Caffe's
SigmoidCrossEntropyLoss (semantics §3.16)."""

from __future__ import annotations

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, config_field, name_field
from mocha.plugins.layers._loss import RunningLossState, check_paired

#: Caffe's LossParameter normalization modes (no ignore_label: VALID counts every element)
NORMALIZATIONS = ("batch_size", "full", "valid", "none")


class SigmoidCrossEntropyLossState(RunningLossState):
    stat_key = "sigmoid-cross-entropy-loss"
    stat_title = "Sigmoid-cross-entropy-loss"

    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        check_paired(layer, *inputs)
        x = inputs[0]
        self.n = x.shape[0]
        self.divisor = {"batch_size": x.shape[0], "none": 1}.get(layer.normalization, x.size)

    def forward(self, backend, inputs):
        xp = backend.xp
        x, t = inputs[0].data, inputs[1].data.reshape(inputs[0].shape)
        # −[t log σ(x) + (1 − t) log(1 − σ(x))] = max(x, 0) − x·t + log(1 + exp(−|x|))
        per = xp.maximum(x, 0) - x * t + xp.log1p(xp.exp(-xp.abs(x)))
        self.loss = self.layer.weight * float(per.sum()) / self.divisor
        self.accumulate(self.n)

    def backward(self, backend, inputs, diffs):
        # L = w/D Σ [max(x, 0) − x t + log(1 + e^−|x|)]  =>  dx = w/D (σ(x) − t),  dt = −w/D x
        xp = backend.xp
        x, t = inputs[0].data, inputs[1].data.reshape(inputs[0].shape)
        dx, dt = diffs
        scale = self.layer.weight / self.divisor
        if not dx.is_null:
            sig = backend.kernels.sigmoid_forward(x)
            xp.multiply(sig - t, scale, out=dx.data)
        if not dt.is_null:
            dt.data[...] = (-scale * x).reshape(dt.shape)


class SigmoidCrossEntropyLossLayer(
    Layer, is_sink=True, can_do_bp=True, has_loss=True, has_stats=True, bottoms="2", tops="0"
):
    """loss = weight / D · Σ −[t log σ(x) + (1 − t) log(1 − σ(x))] over every element, on
    logits x (computed as max(x, 0) − x·t + log(1 + e^−|x|), stable for any x) and targets t
    in [0, 1]: Caffe's SigmoidCrossEntropyLoss, PyTorch's BCEWithLogitsLoss.

    D by `normalization` (Caffe's LossParameter): "batch_size" (default, as Caffe's without
    normalize/normalization: N), "valid" and "full" (every element, N·…), "none" (1).
    Gradients: dx = weight/D · (σ(x) − t); dt = −weight/D · x (Caffe refuses one for t).
    Fields: `weight` (≥ 0, 1; Caffe's loss_weight), `normalization`.
    Bottoms: logits and targets (same batch size and number of elements). Tops: none.
    Statistics: "<name>-sigmoid-cross-entropy-loss", the running mean of the loss.
    """

    name: str = name_field("sigmoid-cross-entropy-loss")
    weight: float = config_field(
        1.0,
        check=lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v >= 0,
        rule="must be a number >= 0",
    )
    normalization: str = config_field(
        "batch_size",
        check=lambda v: v in NORMALIZATIONS,
        rule=f"must be one of {', '.join(NORMALIZATIONS)}",
    )
    state_cls = SigmoidCrossEntropyLossState


@hookimpl
def mocha_register_layers(register):
    register(SigmoidCrossEntropyLossLayer)
