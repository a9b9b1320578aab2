"""Shared pieces of the element-wise losses (square, binary cross-entropy, hinge, Gaussian
KL) and of the accuracy layers: the check that two bottoms pair up element by element, the
sample-weighted running mean of a loss kept as a statistic (semantics §3.14), and the running
accuracy (semantics §3.15)."""

from __future__ import annotations

from typing import Any

from mocha.core.coffee import statistic_name
from mocha.core.errors import ShapeError
from mocha.core.layer import Layer, LayerState


def check_paired(layer: Layer, a: Any, b: Any) -> None:
    """Refuse two bottoms that do not have the same number of elements and batch size."""
    if a.size != b.size or a.shape[:1] != b.shape[:1]:
        raise ShapeError(
            f"{type(layer).__name__}({layer.name!r}): bottoms {layer.bottoms[0]!r} "
            f"{a.shape} and {layer.bottoms[1]!r} {b.shape} must have the same batch size and "
            f"number of elements"
        )


class RunningLossState(LayerState):
    """A loss state whose statistic `<name>-<stat_key>` is the running mean of the loss,
    weighted by batch size: loss_accum ← (loss_accum·n_accum + loss·N)/(n_accum + N)."""

    stat_key = "loss"
    stat_title = "Loss"

    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.reset_statistics()

    def accumulate(self, n: int) -> None:
        self.loss_accum = (self.loss_accum * self.n_accum + self.loss * n) / (self.n_accum + n)
        self.n_accum += n

    def reset_statistics(self) -> None:
        self.loss_accum = 0.0
        self.n_accum = 0

    def dump_statistics(self) -> dict[str, float]:
        return {statistic_name(self.layer.name, self.stat_key): self.loss_accum}

    def statistics_summary(self) -> str:
        return f"{self.stat_title} (avg over {self.n_accum}) = {self.loss_accum:.6f}"


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
