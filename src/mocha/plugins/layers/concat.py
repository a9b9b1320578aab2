"""ConcatLayer: join blobs along one axis (semantics §3.13)."""

from __future__ import annotations

from mocha.core.blob import NullBlob
from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field
from mocha.plugins.layers._class_axis import warn_if_julia_dim


class ConcatState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        first = inputs[0]
        nd = first.ndim
        if not -nd <= layer.dim < nd:
            raise ShapeError(
                f"ConcatLayer({layer.name!r}): dim={layer.dim} is not an axis of bottom "
                f"{layer.bottoms[0]!r} with shape {first.shape} ({nd} axes)"
            )
        warn_if_julia_dim(layer, layer.dim, nd, layer.bottoms[0])
        axis = layer.dim % nd
        self.axis = axis
        for name, x in zip(layer.bottoms, inputs):
            other = [s for i, s in enumerate(x.shape) if i != axis]
            want = [s for i, s in enumerate(first.shape) if i != axis]
            if x.ndim != nd or other != want:
                raise ShapeError(
                    f"ConcatLayer({layer.name!r}): bottom {name!r} has shape {x.shape}, but every "
                    f"bottom must match {layer.bottoms[0]!r} {first.shape} except along "
                    f"axis {axis}"
                )
        sizes = [x.shape[axis] for x in inputs]
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
        shape = list(first.shape)
        shape[axis] = self.offsets[-1]
        self.blobs = [backend.empty(tuple(shape))]
        wanted = not all(d.is_null for d in diffs)
        self.blobs_diff = [backend.empty(tuple(shape)) if wanted else NullBlob()]

    def _slice(self, i: int) -> tuple:
        return (slice(None),) * self.axis + (slice(self.offsets[i], self.offsets[i + 1]),)

    def forward(self, backend, inputs):
        y = self.blobs[0].data
        for i, x in enumerate(inputs):
            y[self._slice(i)] = x.data

    def backward(self, backend, inputs, diffs):
        # y = [x_1 | x_2 | ...] along axis  =>  dx_i = the slice of g that x_i was copied to
        g = self.blobs_diff[0]
        if g.is_null:
            return
        for i, dx in enumerate(diffs):
            if not dx.is_null:
                dx.data[...] = g.data[self._slice(i)]


class ConcatLayer(Layer, can_do_bp=True, bottoms=">=2", tops="1"):
    """Concatenate the bottoms along numpy axis `dim` (default 1, the channel axis; the
    batch axis 0 is allowed here; negative axes count from the end).

    Bottoms: k ≥ 2 blobs with the same rank and the same sizes except along `dim`.
    Tops: 1 blob whose size along `dim` is the sum of the bottoms'.
    """

    name: str = name_field("concat")
    dim: int = config_field(
        1,
        check=lambda v: isinstance(v, int) and not isinstance(v, bool),
        rule="must be an int (a numpy axis)",
    )
    state_cls = ConcatState


@hookimpl
def mocha_register_layers(register):
    register(ConcatLayer)
