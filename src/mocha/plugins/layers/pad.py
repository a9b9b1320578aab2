"""PadLayer: constant padding of the trailing axes (semantics §3.16)."""

from __future__ import annotations

from typing import Any

from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field


def _pairs(value: Any) -> tuple[tuple[int, int], ...]:
    pairs = tuple(tuple(p) for p in value)
    if not all(
        len(p) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in p)
        for p in pairs
    ):
        raise ValueError("expected a list of [before, after] int pairs")
    return pairs


class PadState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        k = len(layer.pad)
        self.inner, shapes = [], []
        for name, x in zip(layer.bottoms, inputs):
            if x.ndim <= k:
                raise ShapeError(
                    f"PadLayer({layer.name!r}): pad has {k} pairs, for the last {k} axes; "
                    f"bottom {name!r} with shape {x.shape} must keep its batch axis unpadded"
                )
            lead = x.ndim - k
            out = x.shape[:lead] + tuple(n + a + b for n, (a, b) in zip(x.shape[lead:], layer.pad))
            inner = (slice(None),) * lead + tuple(
                slice(a, a + n) for n, (a, _) in zip(x.shape[lead:], layer.pad)
            )
            self.inner.append(inner)
            shapes.append(out)
        self.blobs = [backend.empty(s) for s in shapes]
        self.blobs_diff = [backend.empty(s) for s in shapes]

    def forward(self, backend, inputs):
        for x, y, inner in zip(inputs, self.blobs, self.inner):
            y.data.fill(self.layer.value)
            y.data[inner] = x.data

    def backward(self, backend, inputs, diffs):
        # y = x inside, a constant outside: dx = the top gradient of the inner block
        for dx, g, inner in zip(diffs, self.blobs_diff, self.inner):
            if not dx.is_null:
                dx.data[...] = g.data[inner]


class PadLayer(Layer, can_do_bp=True, bottoms=">=1", tops="same"):
    """Pad the last k axes with a constant: `pad` = [[before, after], ...] (k pairs, ≥ 0,
    for the last k axes in order; e.g. [[1, 1], [2, 2]] pads H by 1 and W by 2 on each side of
    (N, C, H, W)). ONNX's Pad in mode "constant" and PyTorch's F.pad with constant fill.

    Fields: `pad` (required, k ≥ 1 pairs; the batch axis cannot be padded), `value` (0).
    Bottoms: k ≥ 1 blobs. Tops: k padded blobs.
    """

    name: str = name_field("pad")
    pad: tuple[tuple[int, int], ...] = config_field(
        convert=_pairs,
        check=lambda p: len(p) >= 1 and all(min(q) >= 0 for q in p),
        rule="must be one or more [before, after] pairs of ints >= 0",
    )
    value: float = config_field(
        0.0,
        check=lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        rule="must be a number",
    )
    state_cls = PadState


@hookimpl
def mocha_register_layers(register):
    register(PadLayer)
