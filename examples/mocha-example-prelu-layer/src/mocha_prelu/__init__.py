"""mocha_prelu: PReLULayer, the parametric ReLU, y = max(0, x) + slope[c] · min(0, x).

The example package of docs/plugins.md (a plugin author's guide): a layer with a learnable
parameter, made with `mocha.make_parameter`'s keyword API, registered through the
`"layers.prelu"` entry point, with its own ONNX export rule (`mocha export onnx`).
"""

from __future__ import annotations

from typing import Any

from mocha import (
    ConstantInitializer,
    ExportRule,
    Layer,
    LayerState,
    NoCons,
    NoRegu,
    Registrar,
    ShapeError,
    config_field,
    hookimpl,
    make_parameter,
    name_field,
)

__version__ = "0.1.0"


class PReLUState(LayerState):
    """Sets the layer up: the parameter `slope` (one value per channel of axis 1, shared
    through `param_key`) and one top (and top diff) per bottom."""

    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        channels = {x.shape[1] if x.ndim >= 2 else None for x in inputs}
        if len(channels) != 1 or None in channels:
            raise ShapeError(
                f"PReLULayer({layer.name!r}): every bottom needs the same number of channels "
                f"(axis 1); got shapes {[x.shape for x in inputs]}"
            )
        (c,) = channels
        self.slope = make_parameter(
            backend,
            "slope",
            (c,),
            initializer=layer.slope_init,
            regularizer=layer.slope_regu,
            constraint=NoCons(),
            learning_rate=layer.slope_lr,
            owner=layer.name,
            shared=ctx.shared_params,
        )
        self.parameters = [self.slope]
        self.blobs = [backend.empty(x.shape) for x in inputs]
        self.blobs_diff = [backend.empty(x.shape) for x in inputs]

    def _slope(self, x):
        """The slopes (C,) shaped to broadcast along axis 1 of `x` (N, C, ...)."""
        return self.slope.blob.data.reshape((1, -1) + (1,) * (x.ndim - 2))

    def forward(self, backend, inputs):
        xp = backend.xp
        for x, y in zip(inputs, self.blobs):
            y.data[...] = xp.maximum(x.data, 0) + self._slope(x) * xp.minimum(x.data, 0)

    def backward(self, backend, inputs, diffs):
        # y[n,c,…] = max(0, x) + a[c] · min(0, x), with g = dL/dy:
        #   dL/dx[n,c,…] = g · (1 if x > 0 else a[c])
        #   dL/da[c] = Σ_bottoms Σ_{n,…} g · min(0, x)
        # the parameter gradient and the bottom diffs are overwritten (the layer contract)
        xp = backend.xp
        if not self.frozen:
            self.slope.gradient.data[...] = 0
        for x, g, dx in zip(inputs, self.blobs_diff, diffs):
            if not self.frozen:
                axes = (0,) + tuple(range(2, x.ndim))
                self.slope.gradient.data[...] += xp.sum(g.data * xp.minimum(x.data, 0), axis=axes)
            if not dx.is_null:
                dx.data[...] = g.data * xp.where(x.data > 0, 1, self._slope(x))


class PReLULayer(Layer, has_param=True, can_do_bp=True, bottoms=">=1", tops="same"):
    """y = max(0, x) + slope[c] · min(0, x): a ReLU whose negative slope is learnt, one per
    channel (axis 1) (He et al., 2015).

    Fields: `slope_init` (Constant 0.25), `slope_regu` (NoRegu: the paper does not decay it),
    `slope_lr` (local learning-rate multiplier, 1), `param_key` (share the slopes with the
    layers of the same key; default: the name). Parameters: `slope` (C,).
    Bottoms: k ≥ 1 blobs (N, C, ...) with the same C. Tops: k blobs of the bottoms' shapes.
    """

    name: str = name_field("prelu")
    param_key: str = ""
    slope_init: Any = ConstantInitializer(0.25)
    slope_regu: Any = NoRegu()
    slope_lr: float = config_field(1.0, check=lambda v: v >= 0, rule="must be >= 0")
    state_cls = PReLUState


@hookimpl
def mocha_register_layers(register: Registrar[type[Layer]]) -> None:
    register(PReLULayer)


def prelu_to_onnx(g, layer, state, xs, ys, shapes, backend):
    """ONNX nodes computing the layer, one `PRelu` per bottom, the slopes (an initializer named
    like the model file's dataset, `<layer>___slope`) reshaped to (C, 1, ...) so that they
    broadcast along the channel axis.

    `g` builds the graph: `g.param(layer_name, parameter, backend)` (a parameter's
    initializer), `g.const(name, value, dtype)`, `g.fresh(name)` (an unused tensor name) and
    `g.node(op, inputs, outputs, name)`."""
    slope = g.param(layer.name, state.slope, backend)
    for i, (x, y, bottom) in enumerate(zip(xs, ys, layer.bottoms)):
        name = layer.name if i == 0 else f"{layer.name}/{i}"
        ndim = len(shapes[bottom])
        shape = g.const(f"{name}/per_channel", [-1] + [1] * (ndim - 2), dtype="int64")
        s = g.fresh(f"{y}/slope")
        g.node("Reshape", [slope, shape], [s], f"{name}/slope")
        g.node("PRelu", [x, s], [y], name)


@hookimpl
def mocha_register_interchange(register: Registrar[ExportRule]) -> None:
    register(ExportRule("onnx", PReLULayer, prelu_to_onnx))
