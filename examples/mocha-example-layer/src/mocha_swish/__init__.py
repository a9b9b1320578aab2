"""mocha_swish: the Swish activation as a Mocha layer, y = x · sigmoid(beta · x).

An example of a third-party Mocha plugin. Installing this distribution is all it takes:
Mocha finds the module through the `"layers.swish"` entry point of the `mocha` group, calls
`mocha_register_layers`, and `mocha.SwishLayer` (or `SwishLayer` in a net config) works on
every backend, because the layer only touches `backend.xp`. Its ONNX export rule
(`mocha_register_interchange`) makes `mocha export onnx` write it as Sigmoid and Mul nodes.
"""

from __future__ import annotations

from mocha import ElementwiseState, ExportRule, Layer, config_field, hookimpl, name_field

__version__ = "0.1.0"


def _sigmoid(xp, z):
    """sigmoid(z) = exp(-log(1 + exp(-z))), which never overflows."""
    return xp.exp(-xp.logaddexp(0.0, -z))


class SwishState(ElementwiseState):
    """One top (and one top diff, `NullBlob` where no gradient is wanted) per bottom."""

    def forward(self, backend, inputs):
        xp, beta = backend.xp, self.layer.beta
        for x, y in zip(inputs, self.blobs):
            y.data[...] = x.data * _sigmoid(xp, beta * x.data)

    def backward(self, backend, inputs, diffs):
        # dy/dx = s + beta · y · (1 - s) with s = sigmoid(beta · x); the bottom diff is
        # overwritten, as the layer contract asks
        xp, beta = backend.xp, self.layer.beta
        for x, y, top_diff, dx in zip(inputs, self.blobs, self.blobs_diff, diffs):
            if dx.is_null:
                continue
            s = _sigmoid(xp, beta * x.data)
            dx.data[...] = top_diff.data * (s + beta * y.data * (1.0 - s))


class SwishLayer(Layer, can_do_bp=True, bottoms=">=1", tops="same"):
    """y = x · sigmoid(beta · x), element-wise (Ramachandran et al., 2017).

    Fields: `beta` (a finite number, default 1). Bottoms: k ≥ 1 blobs of any shape.
    Tops: k blobs of the same shapes.
    """

    name: str = name_field("swish")
    beta: float = config_field(
        1.0, check=lambda v: float(v) == float(v) and abs(v) < 1e30, rule="must be a finite number"
    )
    state_cls = SwishState


@hookimpl
def mocha_register_layers(register):
    register(SwishLayer)


def swish_to_onnx(g, layer, state, xs, ys, shapes, backend):
    """ONNX nodes computing the layer: y = x · Sigmoid(beta · x), one chain per bottom.

    `g` builds the graph: `g.node(op, inputs, outputs, name)`, `g.const(name, value)` (an
    initializer), `g.fresh(name)` (an unused tensor name)."""
    for i, (x, y) in enumerate(zip(xs, ys)):
        name = layer.name if i == 0 else f"{layer.name}/{i}"
        z = x
        if layer.beta != 1:
            z = g.fresh(f"{y}/scaled")
            g.node("Mul", [x, g.const(f"{layer.name}/beta", layer.beta)], [z], f"{name}/beta")
        s = g.fresh(f"{y}/sigmoid")
        g.node("Sigmoid", [z], [s], f"{name}/sigmoid")
        g.node("Mul", [x, s], [y], name)


@hookimpl
def mocha_register_interchange(register):
    register(ExportRule("onnx", SwishLayer, swish_to_onnx))
