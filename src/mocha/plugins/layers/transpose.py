"""TransposeLayer: permute the non-batch axes of a blob (semantics §3.16)."""

from __future__ import annotations

from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field


def _perm(value) -> tuple[int, ...]:
    perm = tuple(value)
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in perm):
        raise ValueError("expected a list of ints")
    return perm


class TransposeState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        perm = layer.perm
        for name, x in zip(layer.bottoms, inputs):
            if x.ndim != len(perm):
                raise ShapeError(
                    f"TransposeLayer({layer.name!r}): perm={list(perm)} has {len(perm)} axes, "
                    f"bottom {name!r} has shape {x.shape}"
                )
        self.inverse = tuple(perm.index(i) for i in range(len(perm)))
        shapes = [tuple(x.shape[p] for p in perm) for x in inputs]
        self.blobs = [backend.empty(s) for s in shapes]
        self.blobs_diff = [backend.empty(s) for s in shapes]

    def forward(self, backend, inputs):
        for x, y in zip(inputs, self.blobs):
            y.data[...] = x.data.transpose(self.layer.perm)

    def backward(self, backend, inputs, diffs):
        # y = xᵀ (axes permuted): dx is the top gradient under the inverse permutation
        for dx, g in zip(diffs, self.blobs_diff):
            if not dx.is_null:
                dx.data[...] = g.data.transpose(self.inverse)


class TransposeLayer(Layer, can_do_bp=True, bottoms=">=1", tops="same"):
    """y = x with its axes permuted: y.shape[i] = x.shape[perm[i]] (numpy's transpose, ONNX's
    Transpose). The batch axis stays first: perm[0] = 0.

    Fields: `perm` (required: a permutation of 0..ndim−1 with perm[0] = 0).
    Bottoms: k ≥ 1 blobs of ndim = len(perm). Tops: k blobs, the permuted shapes.
    """

    name: str = name_field("transpose")
    perm: tuple[int, ...] = config_field(
        convert=_perm,
        check=lambda p: sorted(p) == list(range(len(p))) and len(p) >= 1 and p[0] == 0,
        rule="must be a permutation of 0..ndim-1 that keeps the batch axis 0 first",
    )
    state_cls = TransposeState


@hookimpl
def mocha_register_layers(register):
    register(TransposeLayer)
