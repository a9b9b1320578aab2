"""SliceLayer: cut one blob into several along an axis, Caffe's Slice (semantics §3.16)."""

from __future__ import annotations

from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field


def _points(value) -> tuple[int, ...]:
    points = tuple(value)
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in points):
        raise ValueError("expected a list of ints")
    return points


class SliceState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        x, name = inputs[0], layer.bottoms[0]
        who = f"SliceLayer({layer.name!r})"
        axis = layer.axis + x.ndim if layer.axis < 0 else layer.axis
        if not 0 <= axis < x.ndim:
            raise ShapeError(f"{who}: axis={layer.axis} is not an axis of {name!r} {x.shape}")
        size, k = x.shape[axis], len(layer.tops)
        if layer.slice_points:
            bounds = (0, *layer.slice_points, size)
            if not all(a < b for a, b in zip(bounds, bounds[1:])):
                raise ShapeError(
                    f"{who}: slice_points={list(layer.slice_points)} must increase strictly "
                    f"within (0, {size}), the size of axis {axis} of bottom {name!r}"
                )
        elif size % k:
            raise ShapeError(
                f"{who}: without slice_points, axis {axis} of bottom {name!r} (size {size}) "
                f"must split evenly into the {k} tops"
            )
        else:
            bounds = tuple(i * (size // k) for i in range(k + 1))
        self.axis = axis
        self.slices = [slice(a, b) for a, b in zip(bounds, bounds[1:])]
        shapes = [x.shape[:axis] + (s.stop - s.start,) + x.shape[axis + 1 :] for s in self.slices]
        self.blobs = [backend.empty(s) for s in shapes]
        self.blobs_diff = [backend.zeros(s) for s in shapes]  # a top nobody reads stays 0

    def _part(self, a, s):
        return a[(slice(None),) * self.axis + (s,)]

    def forward(self, backend, inputs):
        for y, s in zip(self.blobs, self.slices):
            y.data[...] = self._part(inputs[0].data, s)

    def backward(self, backend, inputs, diffs):
        # y_i = x[..., a_i:b_i, ...]: the pieces tile x, so dx is the top gradients put back
        dx = diffs[0]
        if dx.is_null:
            return
        for g, s in zip(self.blobs_diff, self.slices):
            self._part(dx.data, s)[...] = g.data


class SliceLayer(Layer, can_do_bp=True, bottoms="1", tops=">=1"):
    """Cut one blob into k pieces along `axis` (Caffe's Slice; ONNX's Split and Slice along
    one axis): top i is x[..., p_{i-1}:p_i, ...] with p_0 = 0, p_k = the axis' size and
    p_1 < … < p_{k−1} the `slice_points`; without `slice_points` the axis is cut into k equal
    pieces. The inverse of ConcatLayer.

    Fields: `axis` (1, numpy axis; negative counts from the end), `slice_points` (k − 1
    increasing ints, or empty). Bottoms: one blob. Tops: k ≥ 1 blobs.
    """

    name: str = name_field("slice")
    axis: int = config_field(
        1, check=lambda v: isinstance(v, int) and not isinstance(v, bool), rule="must be an int"
    )
    slice_points: tuple[int, ...] = config_field((), convert=_points)
    state_cls = SliceState

    def validate(self) -> None:
        if self.slice_points and len(self.slice_points) != len(self.tops) - 1:
            raise self.config_error(
                "slice_points",
                list(self.slice_points),
                f"needs one point fewer than the tops ({len(self.tops)} tops)",
            )


@hookimpl
def mocha_register_layers(register):
    register(SliceLayer)
