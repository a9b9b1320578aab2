"""InnerProductLayer: a fully connected layer (semantics §3.2)."""

from __future__ import annotations

from typing import Any

from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import LayerState, config_field, name_field
from mocha.plugins.components.neurons import Identity
from mocha.plugins.layers._fields import BiasFields, WeightFields, field_parameter


class InnerProductState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        fea = [x.fea_size for x in inputs]
        if len(set(fea)) != 1:
            raise ShapeError(
                f"InnerProductLayer({layer.name!r}): all bottoms must have the same feature size; "
                f"got {dict(zip(layer.bottoms, fea))}"
            )
        F, out = fea[0], layer.output_dim
        self.weight = field_parameter(backend, layer, ctx, "weight", (out, F))
        self.bias = field_parameter(backend, layer, ctx, "bias", (out,))
        self.parameters = [self.weight, self.bias]
        self.blobs = [backend.empty((x.num, out)) for x in inputs]
        self.blobs_diff = [backend.empty((x.num, out)) for x in inputs]

    def forward(self, backend, inputs):
        W, b = self.weight.blob.data, self.bias.blob.data
        for x, y in zip(inputs, self.blobs):
            # y = X W^T + b with X = x.reshape(N, F)
            backend.kernels.gemm(x.data.reshape(x.num, -1), W, out=y.data, trans_b=True)
            y.data += b

    def backward(self, backend, inputs, diffs):
        # y = X W^T + b  =>  dW = Σ_bottoms G^T X,  db = Σ_bottoms Σ_n G,  dX = G W
        W = self.weight.blob.data
        gemm = backend.kernels.gemm
        for i, (x, g, dx) in enumerate(zip(inputs, self.blobs_diff, diffs)):
            if not self.frozen:
                beta = 0.0 if i == 0 else 1.0
                gemm(
                    g.data,
                    x.data.reshape(x.num, -1),
                    out=self.weight.gradient.data,
                    trans_a=True,
                    beta=beta,
                )
                if i == 0:
                    g.data.sum(axis=0, out=self.bias.gradient.data)
                else:
                    self.bias.gradient.data += g.data.sum(axis=0)
            if not dx.is_null:
                gemm(g.data, W, out=dx.data.reshape(dx.num, -1))


class InnerProductLayer(
    WeightFields,
    BiasFields,
    has_param=True,
    has_neuron=True,
    can_do_bp=True,
    bottoms=">=1",
    tops="same",
):
    """Fully connected layer: y = x.reshape(N, F) @ W.T + b, then the neuron.

    Fields: `output_dim` (> 0), `param_key` (share parameters; default: the name),
    `weight_init`/`bias_init`, `weight_regu`/`bias_regu`, `weight_cons`/`bias_cons`,
    `weight_lr`/`bias_lr` (local learning-rate multipliers, 1 and 2), `neuron`.
    Parameters: `weight` (output_dim, F), `bias` (output_dim,).
    Bottoms: k ≥ 1 blobs with the same feature size F (batch sizes may differ).
    Tops: k blobs of shape (N_i, output_dim).
    """

    name: str = name_field()
    param_key: str = ""
    output_dim: int = config_field(
        check=lambda v: isinstance(v, int) and v > 0, rule="must be an int > 0"
    )
    neuron: Any = Identity()
    state_cls = InnerProductState


@hookimpl
def mocha_register_layers(register):
    register(InnerProductLayer)
