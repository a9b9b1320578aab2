"""AccuracyLayer: classification accuracy accumulated over mini-batches (semantics §3.15)."""

from __future__ import annotations

from dataclasses import dataclass

from mocha.core.coffee import statistic_name
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, check_counts, config_field, name_field
from mocha.plugins.layers.softmax import channel_axis
from mocha.plugins.layers.softmax_loss import labels_as_index


class RunningAccuracyState(LayerState):
    """A running mean of correct predictions over every forward since the last reset:
    accuracy ← (accuracy·n_accum + correct) / (n_accum + n). Dumps "<name>-accuracy" and,
    with `report_error`, "<name>-error" = 1 - accuracy (no doubling: a layer named "accuracy"
    or "test-accuracy" reports its accuracy under its own name, `statistic_name`)."""

    label = "Accuracy"

    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.reset_statistics()

    def reset_statistics(self) -> None:
        self.accuracy = 0.0
        self.n_accum = 0

    def record(self, correct: int, n: int) -> None:
        self.accuracy = (self.accuracy * self.n_accum + correct) / (self.n_accum + n)
        self.n_accum += n

    def dump_statistics(self) -> dict[str, float]:
        out = {statistic_name(self.layer.name, "accuracy"): self.accuracy}
        if self.layer.report_error:
            out[statistic_name(self.layer.name, "error")] = 1.0 - self.accuracy
        return out

    def statistics_summary(self) -> str:
        return f"{self.label} (avg over {self.n_accum}) = {100 * self.accuracy:.4f}%"


class AccuracyState(RunningAccuracyState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        self.axis = channel_axis(layer, inputs[0].ndim, layer.bottoms[0])
        super().__init__(layer, backend, inputs, diffs, ctx)

    def forward(self, backend, inputs):
        xp = backend.xp
        pred, label = inputs
        idx = labels_as_index(self.layer, backend, pred, label, self.axis)
        guess = xp.argmax(pred.data, axis=self.axis)  # first maximum on ties
        self.record(int((guess == xp.squeeze(idx, axis=self.axis)).sum()), int(guess.size))


@dataclass(frozen=True, kw_only=True, eq=False)
class AccuracyLayer(Layer, is_sink=True, has_stats=True):
    """Fraction of samples whose argmax along `dim` equals the label, averaged over every
    forward since the last `reset_statistics`.

    Fields: `dim` (numpy axis, default 1), `report_error` (also dump 1 - accuracy).
    Bottoms: prediction and label. Statistics: "<name>-accuracy" (and "<name>-error").
    """

    name: str = name_field("accuracy")
    dim: int = config_field(1, check=lambda v: isinstance(v, int) and v != 0,
                            rule="must be a non-batch numpy axis (not 0)")
    report_error: bool = False
    state_cls = AccuracyState

    def validate(self) -> None:
        check_counts(self, "2", "0")


@hookimpl
def mocha_register_layers(register):
    register(AccuracyLayer)
