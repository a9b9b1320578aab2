"""MultinomialLogisticLossLayer: the (class-weighted) negative log-likelihood of given class
probabilities (semantics §3.14), with a backward pass (Appendix A14) so that
SoftmaxLayer + MultinomialLogisticLossLayer trains like SoftmaxLossLayer."""

from __future__ import annotations

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field
from mocha.plugins.layers._class_axis import class_axis, dim_field
from mocha.plugins.layers._class_weights import expand_class_weights, normalize_field, weights_field
from mocha.plugins.layers._labels import labels_as_index

P_FLOOR = 1e-20  # probabilities are clamped to this before the log (as Mocha)


class MultinomialLogisticLossState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        pred = inputs[0]
        self.axis = class_axis(layer, pred.ndim, layer.bottoms[0])
        self.count = pred.size // pred.shape[self.axis]  # N · spatial
        self.weights = expand_class_weights(layer, backend, pred.shape, self.axis)

    def forward(self, backend, inputs):
        xp = backend.xp
        pred, label = inputs
        self.idx = labels_as_index(self.layer, backend, pred, label, self.axis)
        self.p_label = xp.take_along_axis(pred.data, self.idx, axis=self.axis)
        nll = -xp.log(xp.maximum(self.p_label, P_FLOOR))
        self.w_label = None
        if self.weights is not None:
            self.w_label = xp.take_along_axis(self.weights, self.idx, axis=self.axis)
            nll *= self.w_label
        self.loss = self.layer.weight * float(nll.sum()) / self.count

    def backward(self, backend, inputs, diffs):
        # L = -w/(N·S) Σ w_label · log(max(p_label, 1e-20))
        #   => dL/dp_c = -w/(N·S) · w_label / p_label   for c = label and p_label > 1e-20,
        #      0 for the other classes and where the clamp is active.
        # Chained through SoftmaxLayer this is w/(N·S) · w_label · (softmax - onehot).
        xp = backend.xp
        dp = diffs[0]
        if len(diffs) > 1 and not diffs[1].is_null:
            diffs[1].data[...] = 0  # class indices have no gradient
        if dp.is_null:
            return
        dp.data[...] = 0
        p = self.p_label
        alive = p > P_FLOOR
        g = xp.where(alive, -1.0 / xp.where(alive, p, 1.0), 0.0)
        g *= self.layer.weight / self.count
        if self.w_label is not None:
            g *= self.w_label
        xp.put_along_axis(dp.data, self.idx, g.astype(dp.data.dtype), axis=self.axis)


class MultinomialLogisticLossLayer(
    Layer, is_sink=True, can_do_bp=True, has_loss=True, bottoms="2", tops="0"
):
    """loss = weight/(N·S) · Σ_{n, loc} -w[label] · log(max(prob[label], 1e-20)).

    N·S is the number of labels (batch × spatial locations); `w` are the normalized class
    weights (1 when none are given).

    Fields: `weight` (≥ 0, default 1), `weights` (class weights, see
    `mocha.plugins.layers._class_weights`), `normalize` ("local" (default), "global", "no"),
    `dim` (numpy axis of the classes, default 1). Bottoms: probabilities (N, C, ...) and
    labels, 0-based class indices, one per sample and location. Tops: none. Unlike Mocha it
    back-propagates into the probabilities (for SoftmaxLayer → this layer); SoftmaxLossLayer
    is still the numerically safer choice.
    """

    name: str = name_field("multinomial-logistic-loss")
    weight: float = config_field(1.0, check=lambda v: v >= 0, rule="must be >= 0")
    weights: tuple = weights_field()
    normalize: str = normalize_field()
    dim: int = dim_field()
    state_cls = MultinomialLogisticLossState


@hookimpl
def mocha_register_layers(register):
    register(MultinomialLogisticLossLayer)
