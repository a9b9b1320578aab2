"""IdentityLayer: tops are the bottoms under new names (semantics §3.13)."""

from __future__ import annotations

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, name_field


class IdentityState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.blobs = list(inputs)  # aliases: no copy, no work
        self.blobs_diff = list(diffs)

    def forward(self, backend, inputs):
        pass

    def backward(self, backend, inputs, diffs):
        pass  # the top diffs *are* the bottom diffs


class IdentityLayer(Layer, can_do_bp=True, bottoms=">=1", tops="same"):
    """y = x, sharing memory. Bottoms: k ≥ 1. Tops: k (aliases of the bottoms)."""

    name: str = name_field("identity")
    state_cls = IdentityState


@hookimpl
def mocha_register_layers(register):
    register(IdentityLayer)
