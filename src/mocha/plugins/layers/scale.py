"""ScaleLayer: a per-channel (or per-block) affine map, Caffe's Scale layer (semantics §3.16)."""

from __future__ import annotations

from typing import Any

from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field
from mocha.core.parameter import make_parameter
from mocha.plugins.components.constraints import NoCons
from mocha.plugins.components.initializers import ConstantInitializer
from mocha.plugins.components.neurons import Identity
from mocha.plugins.components.regularizers import NoRegu


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _strip_trailing_ones(shape: tuple[int, ...]) -> tuple[int, ...]:
    while shape and shape[-1] == 1:
        shape = shape[:-1]
    return shape


class ScaleState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        x, name = inputs[0], layer.bottoms[0]
        axis = layer.axis + x.ndim if layer.axis < 0 else layer.axis
        if not 0 <= axis < x.ndim:
            raise ShapeError(
                f"ScaleLayer({layer.name!r}): axis={layer.axis} is not an axis of bottom "
                f"{name!r} with shape {x.shape}"
            )
        if len(inputs) == 2:  # the scale is the second bottom
            s = _strip_trailing_ones(inputs[1].shape)
            where = f"the second bottom {layer.bottoms[1]!r} (shape {inputs[1].shape})"
        else:
            end = x.ndim if layer.num_axes == -1 else axis + layer.num_axes
            s = x.shape[axis:end]
            where = f"num_axes={layer.num_axes}"
        if x.shape[axis : axis + len(s)] != s or axis + len(s) > x.ndim:
            raise ShapeError(
                f"ScaleLayer({layer.name!r}): {where} does not match the axes "
                f"{axis}..{axis + len(s) - 1} of bottom {name!r} with shape {x.shape}"
            )
        self.bshape = (1,) * axis + s + (1,) * (x.ndim - axis - len(s))
        self.sum_axes = tuple(i for i in range(x.ndim) if not axis <= i < axis + len(s))
        self.parameters = []
        if len(inputs) == 1:
            self.parameters.append(self._param(backend, ctx, "scale", s, layer.scale_lr, 1.0))
        if layer.bias_term:
            self.parameters.append(self._param(backend, ctx, "bias", s, layer.bias_lr, 0.0))
        self.blobs = [backend.empty(x.shape)]
        self.blobs_diff = [backend.empty(x.shape)]

    def _param(self, backend, ctx, name, shape, lr, value):
        init = ConstantInitializer(value) if name == "bias" else self.layer.scale_init
        return make_parameter(
            backend, name, shape, init, NoRegu(), NoCons(), lr, self.layer.name,
            ctx.shared_params,
        )  # fmt: skip

    def _scale(self, inputs) -> Any:
        if len(inputs) == 2:
            return inputs[1].data.reshape(self.bshape)
        return self.parameters[0].blob.data.reshape(self.bshape)

    def forward(self, backend, inputs):
        y = self.blobs[0].data
        backend.xp.multiply(inputs[0].data, self._scale(inputs), out=y)
        if self.layer.bias_term:
            y += self.parameters[-1].blob.data.reshape(self.bshape)

    def backward(self, backend, inputs, diffs):
        # y = s·x + b (s, b broadcast over the other axes)  =>
        # dx = s·g,  ds = Σ_other g·x,  db = Σ_other g
        g, x = self.blobs_diff[0].data, inputs[0].data
        xp = backend.xp
        if not diffs[0].is_null:
            xp.multiply(g, self._scale(inputs), out=diffs[0].data)
        two = len(inputs) == 2
        if two and not diffs[1].is_null:
            ds = (g * x).sum(axis=self.sum_axes)
            diffs[1].data[...] = ds.reshape(diffs[1].shape)
        if self.frozen:
            return
        if not two:
            p = self.parameters[0]
            p.gradient.data[...] = (g * x).sum(axis=self.sum_axes).reshape(p.shape)
        if self.layer.bias_term:
            p = self.parameters[-1]
            p.gradient.data[...] = g.sum(axis=self.sum_axes).reshape(p.shape)


class ScaleLayer(Layer, has_param=True, has_neuron=True, can_do_bp=True, tops="1"):
    """Per-channel affine map (Caffe's Scale): y = s ⊙ x [+ b], s and b broadcast over the axes
    of x outside `axis`..`axis + k − 1`.

    One bottom x: s is a learned parameter `scale` of shape x.shape[axis : axis + num_axes]
    (`num_axes` 1 by default: one per channel; −1: every axis from `axis` on), initialized by
    `scale_init` (Constant 1). Two bottoms (x, s): the scale is the second bottom, whose shape
    without trailing size-1 axes must equal x.shape[axis : axis + k] (e.g. s (N, C, 1, 1) with
    `axis = 0` for a squeeze-and-excitation gate); its gradient is Σ g·x.
    `bias_term` (false, as Caffe) adds a learned `bias` b of the same shape, initialized to 0.
    Fields: `axis` (1), `num_axes` (1), `bias_term`, `scale_init`, `scale_lr`, `bias_lr` (1),
    `neuron` (Identity; applied to the top, e.g. the ReLU after Caffe's Scale); no
    regularization. Bottoms: x, or x and s. Tops: one blob of x's shape.
    """

    name: str = name_field("scale")
    axis: int = config_field(1, check=lambda v: isinstance(v, int), rule="must be an int")
    num_axes: int = config_field(
        1, check=lambda v: isinstance(v, int) and v >= -1, rule="must be an int >= -1"
    )
    bias_term: bool = config_field(
        False, check=lambda v: isinstance(v, bool), rule="must be a bool"
    )
    scale_init: Any = ConstantInitializer(1.0)
    scale_lr: float = config_field(1.0, check=_number, rule="must be a number")
    bias_lr: float = config_field(1.0, check=_number, rule="must be a number")
    neuron: Any = Identity()
    state_cls = ScaleState

    def validate(self) -> None:
        if len(self.bottoms) not in (1, 2):
            raise self.config_error("bottoms", self.bottoms, "needs 1 or 2 bottom blobs (x, s)")


@hookimpl
def mocha_register_layers(register):
    register(ScaleLayer)
