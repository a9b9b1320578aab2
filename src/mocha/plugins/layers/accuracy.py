"""AccuracyLayer: classification accuracy accumulated over mini-batches (semantics §3.15)."""

from __future__ import annotations

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, config_field, name_field
from mocha.plugins.layers._class_axis import class_axis
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
        guess = xp.argmax(pred.data, axis=self.axis)  # first maximum on ties
        self.record(int((guess == xp.squeeze(idx, axis=self.axis)).sum()), int(guess.size))


class AccuracyLayer(Layer, is_sink=True, has_stats=True, bottoms="2", tops="0"):
    """Fraction of samples whose argmax along `dim` equals the label, averaged over every
    forward since the last `reset_statistics`.

    Fields: `dim` (numpy axis, default 1), `report_error` (also dump 1 - accuracy).
    Bottoms: prediction and label. Statistics: "<name>-accuracy" (and "<name>-error").
    """

    name: str = name_field("accuracy")
    dim: int = config_field(
        1,
        check=lambda v: isinstance(v, int) and v != 0,
        rule="must be a non-batch numpy axis (not 0)",
    )
    report_error: bool = False
    state_cls = AccuracyState


@hookimpl
def mocha_register_layers(register):
    register(AccuracyLayer)
