"""SplitLayer: one blob to several consumers, summing their gradients (semantics §2.5)."""

from __future__ import annotations

from mocha.core.blob import Blob, NullBlob
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, name_field


class SplitState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        x, dx = inputs[0], diffs[0]
        k = len(layer.tops)
        # top 1 aliases the bottom (and its diff); the others are copies unless no_copy
        self.blobs = [x] + [
            Blob(x.data, backend) if layer.no_copy else backend.empty(x.shape) for _ in range(k - 1)
        ]
        self.blobs_diff = [dx] + [
            NullBlob() if dx.is_null else backend.empty(x.shape) for _ in range(k - 1)
        ]

    def forward(self, backend, inputs):
        if not self.layer.no_copy:
            for y in self.blobs[1:]:
                y.data[...] = inputs[0].data

    def backward(self, backend, inputs, diffs):
        # every top is the bottom: dx = Σ_i g_i; g_1 already lives in dx (it is the same blob)
        dx = diffs[0]
        if dx.is_null:
            return
        for g in self.blobs_diff[1:]:
            dx.data += g.data


class SplitLayer(Layer, can_do_bp=True, bottoms="1", tops=">=1"):
    """Copy one blob to k tops so that several back-propagating layers can consume it.

    Fields: `no_copy` (all tops alias the bottom). Bottoms: 1. Tops: k ≥ 1.
    """

    name: str = name_field("split")
    no_copy: bool = False
    state_cls = SplitState


@hookimpl
def mocha_register_layers(register):
    register(SplitLayer)
