"""MemoryOutputLayer: collect host copies of blobs at every forward (semantics §3.13)."""

from __future__ import annotations

from typing import Any

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, name_field

# public names besides the registered ones: `mocha.reset_outputs`
__all__ = ["MemoryOutputLayer", "reset_outputs"]


class MemoryOutputState(LayerState):
    """`outputs[i]` is the list of NumPy copies of bottom i, one per forward so far."""

    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.outputs: list[list[Any]] = [[] for _ in inputs]

    def forward(self, backend, inputs):
        for out, x in zip(self.outputs, inputs):
            out.append(x.to_host())

    def reset_outputs(self) -> None:
        for out in self.outputs:
            out.clear()


def reset_outputs(state: MemoryOutputState) -> MemoryOutputState:
    """Forget everything a MemoryOutputLayer's state has collected (Mocha's `reset_outputs`)."""
    state.reset_outputs()
    return state


class MemoryOutputLayer(Layer, is_sink=True, bottoms=">=1", tops="0"):
    """Each forward appends a host (NumPy) copy of every bottom to `state.outputs[i]`;
    `reset_outputs(state)` clears them. Bottoms: k ≥ 1 blobs. Tops: none.
    """

    name: str = name_field("memory-output")
    state_cls = MemoryOutputState


@hookimpl
def mocha_register_layers(register):
    register(MemoryOutputLayer)
