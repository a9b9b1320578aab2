"""AccuracyLayer: classification accuracy accumulated over mini-batches (semantics §3.15)."""

from __future__ import annotations

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, config_field, name_field
from mocha.plugins.layers._class_axis import class_axis, dim_field
from mocha.plugins.layers._labels import labels_as_index
from mocha.plugins.layers._loss import RunningAccuracyState


class AccuracyState(RunningAccuracyState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        self.axis = class_axis(layer, inputs[0].ndim, layer.bottoms[0])
        super().__init__(layer, backend, inputs, diffs, ctx)

    def forward(self, backend, inputs):
        xp = backend.xp
        pred, label = inputs
        idx = labels_as_index(self.layer, backend, pred, label, self.axis)
        if self.layer.top_k == 1:
            guess = xp.argmax(pred.data, axis=self.axis)  # first maximum on ties
            hits = guess == xp.squeeze(idx, axis=self.axis)
        else:  # Caffe's top-k: fewer than k classes score strictly above the label's
            truth = xp.take_along_axis(pred.data, idx, axis=self.axis)
            hits = (pred.data > truth).sum(axis=self.axis) < self.layer.top_k
        self.record(int(hits.sum()), int(hits.size))


class AccuracyLayer(Layer, is_sink=True, has_stats=True, bottoms="2", tops="0"):
    """Fraction of samples whose argmax along `dim` equals the label, averaged over every
    forward since the last `reset_statistics`; with `top_k` = k > 1, whose label scores among
    the k best (fewer than k classes score strictly higher: Caffe's `top_k`).

    Fields: `dim` (numpy axis, default 1), `top_k` (1), `report_error` (also dump
    1 - accuracy).
    Bottoms: prediction and label. Statistics: "<name>-accuracy" (and "<name>-error").
    """

    name: str = name_field("accuracy")
    dim: int = dim_field()
    top_k: int = config_field(
        1, check=lambda v: isinstance(v, int) and v >= 1, rule="must be an integer >= 1"
    )
    report_error: bool = False
    state_cls = AccuracyState


@hookimpl
def mocha_register_layers(register):
    register(AccuracyLayer)
