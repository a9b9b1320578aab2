"""mocha_scale: ScaleLayer, a learnable per-channel scale and bias, y = x · scale[c] + bias[c].

The example package of docs/plugins.md (a plugin author's guide): a layer with learnable
parameters, made with `mocha.make_parameter`'s keyword API, registered through the
`"layers.scale"` entry point, with its own ONNX export rule (`mocha export onnx`).
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


class ScaleState(LayerState):
    """Sets the layer up: the parameters `scale` and `bias` (one value per channel of axis 1,
    shared through `param_key`) and one top (and top diff) per bottom."""

    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        channels = {x.shape[1] if x.ndim >= 2 else None for x in inputs}
        if len(channels) != 1 or None in channels:
            raise ShapeError(
                f"ScaleLayer({layer.name!r}): every bottom needs the same number of channels "
                f"(axis 1); got shapes {[x.shape for x in inputs]}"
            )
        (c,) = channels

        def parameter(name, initializer, learning_rate):
            return make_parameter(
                backend,
                name,
                (c,),
                initializer=initializer,
                regularizer=layer.regu,
                constraint=NoCons(),
                learning_rate=learning_rate,
                owner=layer.name,
                shared=ctx.shared_params,
            )

        self.scale = parameter("scale", layer.scale_init, layer.scale_lr)
        self.bias = parameter("bias", layer.bias_init, layer.bias_lr)
        self.parameters = [self.scale, self.bias]
        self.blobs = [backend.empty(x.shape) for x in inputs]
        self.blobs_diff = [backend.empty(x.shape) for x in inputs]

    @staticmethod
    def _per_channel(values, x):
        """`values` (C,) shaped to broadcast along axis 1 of `x` (N, C, ...)."""
        return values.reshape((1, -1) + (1,) * (x.ndim - 2))

    def forward(self, backend, inputs):
        for x, y in zip(inputs, self.blobs):
            s = self._per_channel(self.scale.blob.data, x)
            b = self._per_channel(self.bias.blob.data, x)
            y.data[...] = x.data * s + b

    def backward(self, backend, inputs, diffs):
        # y[n,c,…] = x[n,c,…] · s[c] + b[c], with g = dL/dy:
        #   dL/dx[n,c,…] = g[n,c,…] · s[c]
        #   dL/ds[c] = Σ_bottoms Σ_{n,…} g · x      dL/db[c] = Σ_bottoms Σ_{n,…} g
        # parameter gradients and bottom diffs are overwritten (the layer contract)
        xp = backend.xp
        if not self.frozen:
            self.scale.gradient.data[...] = 0
            self.bias.gradient.data[...] = 0
        for x, g, dx in zip(inputs, self.blobs_diff, diffs):
            axes = (0,) + tuple(range(2, x.ndim))
            if not self.frozen:
                self.scale.gradient.data[...] += xp.sum(g.data * x.data, axis=axes)
                self.bias.gradient.data[...] += xp.sum(g.data, axis=axes)
            if not dx.is_null:
                dx.data[...] = g.data * self._per_channel(self.scale.blob.data, x)


class ScaleLayer(Layer, has_param=True, can_do_bp=True, bottoms=">=1", tops="same"):
    """y = x · scale[c] + bias[c]: a learnable scale and bias per channel (axis 1), like
    Caffe's Scale layer with a bias term.

    Fields: `scale_init` (Constant 1), `bias_init` (Constant 0), `regu` (the regularizer of
    both, NoRegu), `scale_lr` / `bias_lr` (local learning-rate multipliers, 1 and 1),
    `param_key` (share the parameters with the layers of the same key; default: the name).
    Parameters: `scale` (C,), `bias` (C,). Bottoms: k ≥ 1 blobs (N, C, ...) with the same C.
    Tops: k blobs of the bottoms' shapes.
    """

    name: str = name_field("scale")
    param_key: str = ""
    scale_init: Any = ConstantInitializer(1.0)
    bias_init: Any = ConstantInitializer(0.0)
    regu: Any = NoRegu()
    scale_lr: float = config_field(1.0, check=lambda v: v >= 0, rule="must be >= 0")
    bias_lr: float = config_field(1.0, check=lambda v: v >= 0, rule="must be >= 0")
    state_cls = ScaleState


@hookimpl
def mocha_register_layers(register: Registrar[type[Layer]]) -> None:
    register(ScaleLayer)


def scale_to_onnx(g, layer, state, xs, ys, shapes, backend):
    """ONNX nodes computing the layer, one chain per bottom: y = x · scale + bias, with the
    parameters (initializers named like the model file's datasets, `<layer>___scale`) reshaped
    to (1, C, 1, ...) so that they broadcast along the channel axis.

    `g` builds the graph: `g.param(layer_name, parameter, backend)` (a parameter's
    initializer), `g.const(name, value, dtype)`, `g.fresh(name)` (an unused tensor name) and
    `g.node(op, inputs, outputs, name)`."""
    scale = g.param(layer.name, state.scale, backend)
    bias = g.param(layer.name, state.bias, backend)
    for i, (x, y, bottom) in enumerate(zip(xs, ys, layer.bottoms)):
        name = layer.name if i == 0 else f"{layer.name}/{i}"
        ndim = len(shapes[bottom])
        shape = g.const(f"{name}/per_channel", [1, -1] + [1] * (ndim - 2), dtype="int64")
        s, b, scaled = g.fresh(f"{y}/scale"), g.fresh(f"{y}/bias"), g.fresh(f"{y}/scaled")
        g.node("Reshape", [scale, shape], [s], f"{name}/scale")
        g.node("Reshape", [bias, shape], [b], f"{name}/bias")
        g.node("Mul", [x, s], [scaled], f"{name}/mul")
        g.node("Add", [scaled, b], [y], name)


@hookimpl
def mocha_register_interchange(register: Registrar[ExportRule]) -> None:
    register(ExportRule("onnx", ScaleLayer, scale_to_onnx))
