"""BinaryCrossEntropyLossLayer: the log-loss of probabilities against binary targets
(semantics §3.14)."""

from __future__ import annotations

from mocha.core.errors import DataError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field
from mocha.plugins.layers._loss import check_paired


def _refuse_outside_unit_interval(layer, data, which: int, what: str) -> None:
    bad = ~((data >= 0) & (data <= 1))
    if bool(bad.any()):
        raise DataError(
            f"{type(layer).__name__}({layer.name!r}): {what} {float(data[bad].ravel()[0])} in "
            f"blob {layer.bottoms[which]!r} is out of range: it must lie in [0, 1]"
        )


class BinaryCrossEntropyLossState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        check_paired(layer, *inputs)
        self.n = inputs[0].shape[0]

    def forward(self, backend, inputs):
        xp = backend.xp
        pred, label = inputs
        _refuse_outside_unit_interval(self.layer, pred.data, 0, "probability")
        _refuse_outside_unit_interval(self.layer, label.data, 1, "label")
        p, y = pred.data, label.data.reshape(pred.shape)
        self.log_p = xp.log(p)  # not clamped (as Mocha): p = 0 or 1 gives an infinite loss
        self.log_1mp = xp.log1p(-p)
        total = float((y * self.log_p + (1 - y) * self.log_1mp).sum())
        self.loss = -self.layer.weight * total / self.n

    def backward(self, backend, inputs, diffs):
        # L = -w/N Σ [y log p + (1-y) log(1-p)]
        #   => d p = -w/N (y/p - (1-y)/(1-p)),  d y = -w/N (log p - log(1-p)).
        # Each gradient is computed on its own (Mocha crashed with only the label's: A15).
        pred, label = inputs
        dp, dy = diffs
        scale = -self.layer.weight / self.n
        if not dp.is_null:
            p, y = pred.data, label.data.reshape(pred.shape)
            dp.data[...] = scale * (y / p - (1 - y) / (1 - p))
        if not dy.is_null:
            dy.data[...] = (scale * (self.log_p - self.log_1mp)).reshape(dy.shape)


class BinaryCrossEntropyLossLayer(
    Layer, is_sink=True, can_do_bp=True, has_loss=True, bottoms="2", tops="0"
):
    """loss = -weight/N · Σ [y·log p + (1-y)·log(1-p)], summed over every element and divided
    by the batch size N. The probability is not clamped.

    Fields: `weight` (≥ 0, default 1). Bottoms: probabilities p in [0, 1] (e.g. a sigmoid's
    output) and labels y in [0, 1] (same batch size and number of elements). Tops: none.
    Gradients flow to both bottoms where wanted.
    """

    name: str = name_field("binary-cross-entropy-loss")
    weight: float = config_field(1.0, check=lambda v: v >= 0, rule="must be >= 0")
    state_cls = BinaryCrossEntropyLossState


@hookimpl
def mocha_register_layers(register):
    register(BinaryCrossEntropyLossLayer)
