"""SoftmaxLossLayer: softmax followed by the multinomial logistic loss (semantics §3.14)."""

from __future__ import annotations

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field
from mocha.plugins.layers._class_axis import class_axis, dim_field
from mocha.plugins.layers._class_weights import expand_class_weights, normalize_field, weights_field
from mocha.plugins.layers._labels import labels_as_index


class SoftmaxLossState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        pred = inputs[0]
        self.axis = class_axis(layer, pred.ndim, layer.bottoms[0])
        self.prob = backend.empty(pred.shape)
        self.count = pred.size // pred.shape[self.axis]  # N · spatial
        self.weights = expand_class_weights(layer, backend, pred.shape, self.axis)

    def forward(self, backend, inputs):
        xp = backend.xp
        pred, label = inputs
        backend.kernels.softmax(pred.data, self.axis, out=self.prob.data)
        self.idx = labels_as_index(self.layer, backend, pred, label, self.axis)
        p = xp.take_along_axis(self.prob.data, self.idx, axis=self.axis)
        nll = -xp.log(xp.maximum(p, 1e-20))
        if self.weights is not None:
            self.w_label = xp.take_along_axis(self.weights, self.idx, axis=self.axis)
            nll *= self.w_label
        self.loss = self.layer.weight * float(nll.sum()) / self.count

    def backward(self, backend, inputs, diffs):
        # L = -w/(N·S) Σ w_label · log softmax(x)_label
        #   => dx = w/(N·S) · w_label · (softmax(x) - onehot(label)), with w_label the class
        #      weight at the true class applied to every class of that location.
        dx = diffs[0]
        if len(diffs) > 1 and not diffs[1].is_null:
            diffs[1].data[...] = 0  # class indices have no gradient
        if dx.is_null:
            return
        w_label = self.w_label if self.weights is not None else None
        backend.kernels.softmax_loss_backward(
            self.prob.data,
            self.idx,
            self.axis,
            self.layer.weight / self.count,
            w_label,
            out=dx.data,
        )


class SoftmaxLossLayer(Layer, is_sink=True, can_do_bp=True, has_loss=True, bottoms="2", tops="0"):
    """Softmax along `dim`, then the (class-weighted) multinomial logistic loss:

        loss = weight/(N·S) · Σ_{n, loc} -w[label] · log(max(softmax(pred)[label], 1e-20))

    where N·S is the number of labels (batch × spatial locations) and `w` the normalized class
    weights (1 when none are given).

    Fields: `weight` (≥ 0, default 1), `weights` (class weights, see
    `mocha.plugins.layers._class_weights`), `normalize` ("local" (default), "global", "no"),
    `dim` (numpy axis of the classes, default 1). Bottoms: prediction (N, C, ...) of any rank
    ≥ 2 and label holding 0-based class indices, one per sample and location (its shape is the
    prediction's with 1 on `dim`, or any shape with that many elements). Tops: none.
    """

    name: str = name_field("softmax-loss")
    weight: float = config_field(1.0, check=lambda v: v >= 0, rule="must be >= 0")
    weights: tuple = weights_field()
    normalize: str = normalize_field()
    dim: int = dim_field()
    state_cls = SoftmaxLossState


@hookimpl
def mocha_register_layers(register):
    register(SoftmaxLossLayer)
