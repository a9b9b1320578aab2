"""BinaryAccuracyLayer: binary classification accuracy accumulated over mini-batches
(semantics §3.15)."""

from __future__ import annotations

import math

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, config_field, name_field
from mocha.plugins.layers._loss import RunningAccuracyState, check_paired


class BinaryAccuracyState(RunningAccuracyState):
    label = "Binary accuracy"

    def __init__(self, layer, backend, inputs, diffs, ctx):
        check_paired(layer, *inputs)
        super().__init__(layer, backend, inputs, diffs, ctx)

    def forward(self, backend, inputs):
        pred, label = inputs
        t = self.layer.threshold
        wrong = (pred.data > t) != (label.data.reshape(pred.shape) > t)
        self.record(int(pred.size) - int(wrong.sum()), int(pred.size))


class BinaryAccuracyLayer(Layer, is_sink=True, has_stats=True, bottoms="2", tops="0"):
    """Fraction of elements where (pred > threshold) == (label > threshold), averaged over
    every forward since the last `reset_statistics`. The same threshold applies to the labels:
    use 0 for {-1, +1} labels (the default) and 0.5 for {0, 1} labels.

    Fields: `threshold` (default 0.0), `report_error` (also dump 1 - accuracy).
    Bottoms: prediction and label (same batch size and number of elements). Tops: none.
    Statistics: "<name>-accuracy" (and "<name>-error").
    """

    name: str = name_field("binary-accuracy")
    threshold: float = config_field(
        0.0, check=lambda v: math.isfinite(v), rule="must be a finite number"
    )
    report_error: bool = False
    state_cls = BinaryAccuracyState


@hookimpl
def mocha_register_layers(register):
    register(BinaryAccuracyLayer)
