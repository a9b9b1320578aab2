"""IdentityLayer: tops are the bottoms under new names (semantics §3.13)."""

from __future__ import annotations

from dataclasses import dataclass

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, check_counts, name_field


class IdentityState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.blobs = list(inputs)  # aliases: no copy, no work
        self.blobs_diff = list(diffs)

    def forward(self, backend, inputs):
        pass

    def backward(self, backend, inputs, diffs):
        pass  # the top diffs *are* the bottom diffs


@dataclass(frozen=True, kw_only=True, eq=False)
class IdentityLayer(Layer, can_do_bp=True):
    """y = x, sharing memory. Bottoms: k ≥ 1. Tops: k (aliases of the bottoms)."""

    name: str = name_field("identity")
    state_cls = IdentityState

    def validate(self) -> None:
        check_counts(self, ">=1", "same")


@hookimpl
def mocha_register_layers(register):
    register(IdentityLayer)
