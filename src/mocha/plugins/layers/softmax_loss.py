"""SoftmaxLossLayer: softmax followed by the multinomial logistic loss (semantics §3.14)."""

from __future__ import annotations

from dataclasses import dataclass

from mocha.core.errors import DataError, ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, check_counts, config_field, name_field
from mocha.plugins.layers.softmax import channel_axis


def labels_as_index(layer, backend, pred, label, axis: int):
    """Label blob -> integer class indices shaped like `pred` with size 1 on `axis`;
    refuses labels outside [0, C) with an error naming the layer and the value."""
    xp = backend.xp
    shape = list(pred.shape)
    C = shape[axis]
    shape[axis] = 1
    if label.size != pred.size // C:
        raise ShapeError(
            f"{type(layer).__name__}({layer.name!r}): label blob {layer.bottoms[1]!r} has "
            f"{label.size} elements, expected {pred.size // C} (prediction shape {pred.shape} "
            f"with classes on axis {axis})"
        )
    idx = xp.rint(label.data.reshape(shape)).astype(xp.int64)
    bad = (idx < 0) | (idx >= C)
    if bool(bad.any()):
        value = float(label.data.reshape(shape)[bad].ravel()[0])
        raise DataError(
            f"{type(layer).__name__}({layer.name!r}): label {value} in blob "
            f"{layer.bottoms[1]!r} is out of range: labels must be class indices in [0, {C})"
        )
    return idx


class SoftmaxLossState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        pred = inputs[0]
        self.axis = channel_axis(layer, pred.ndim, layer.bottoms[0])
        self.prob = backend.empty(pred.shape)
        self.count = pred.size // pred.shape[self.axis]  # N · spatial

    def forward(self, backend, inputs):
        xp = backend.xp
        pred, label = inputs
        backend.kernels.softmax(pred.data, self.axis, out=self.prob.data)
        self.idx = labels_as_index(self.layer, backend, pred, label, self.axis)
        p = xp.take_along_axis(self.prob.data, self.idx, axis=self.axis)
        loss = -xp.log(xp.maximum(p, 1e-20)).sum()
        self.loss = self.layer.weight * float(loss) / self.count

    def backward(self, backend, inputs, diffs):
        # L = -w/(N·S) Σ log softmax(x)_label  =>  dx = w/(N·S) · (softmax(x) - onehot(label))
        xp = backend.xp
        dx = diffs[0]
        if dx.is_null:
            return
        dx.data[...] = self.prob.data
        xp.put_along_axis(dx.data, self.idx,
                          xp.take_along_axis(dx.data, self.idx, axis=self.axis) - 1,
                          axis=self.axis)
        dx.data *= self.layer.weight / self.count


@dataclass(frozen=True, kw_only=True, eq=False)
class SoftmaxLossLayer(Layer, is_sink=True, can_do_bp=True, has_loss=True):
    """loss = -weight/(N·spatial) · Σ log softmax(pred)[label] along `dim` (numpy axis 1).

    Fields: `weight` (≥ 0), `dim`. Bottoms: prediction (N, C, ...) and label holding 0-based
    class indices, one per sample and location. Tops: none.
    """

    name: str = name_field("softmax-loss")
    weight: float = config_field(1.0, check=lambda v: v >= 0, rule="must be >= 0")
    dim: int = config_field(1, check=lambda v: isinstance(v, int) and v != 0,
                            rule="must be a non-batch numpy axis (not 0)")
    state_cls = SoftmaxLossState

    def validate(self) -> None:
        check_counts(self, "2", "0")


@hookimpl
def mocha_register_layers(register):
    register(SoftmaxLossLayer)
