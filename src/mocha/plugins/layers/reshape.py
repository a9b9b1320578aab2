"""ReshapeLayer: a view of each bottom with a new per-sample shape (semantics §3.13)."""

from __future__ import annotations

import math

from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field


def _shape(value) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,)
    return tuple(value)


class ReshapeState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        want = math.prod(layer.shape)
        for name, x in zip(layer.bottoms, inputs):
            if x.fea_size != want:
                raise ShapeError(
                    f"ReshapeLayer({layer.name!r}): bottom {name!r} {x.shape} has {x.fea_size} "
                    f"elements per sample, but shape={layer.shape} holds {want}"
                )
        # views: no copy in forward, none in backward
        self.blobs = [x.reshape((x.num, *layer.shape)) for x in inputs]
        self.blobs_diff = [d.reshape((x.num, *layer.shape)) for x, d in zip(inputs, diffs)]

    def forward(self, backend, inputs):
        pass

    def backward(self, backend, inputs, diffs):
        pass  # the top diffs are views of the bottom diffs


class ReshapeLayer(Layer, can_do_bp=True, bottoms=">=1", tops="same"):
    """y = x.reshape(N, *shape), sharing memory with x (and the diffs likewise).

    Fields: `shape` (required): the per-sample shape in numpy order, without the batch axis;
    positive ints whose product is the bottom's feature size.
    Bottoms: k ≥ 1 blobs with that feature size. Tops: k views of shape (N, *shape).
    """

    name: str = name_field("reshape")
    shape: tuple[int, ...] = config_field(
        convert=_shape,
        check=lambda v: len(v) >= 1 and all(isinstance(s, int) and s > 0 for s in v),
        rule="must be a non-empty tuple of ints > 0 (the shape without the batch axis)",
    )
    state_cls = ReshapeState


@hookimpl
def mocha_register_layers(register):
    register(ReshapeLayer)
