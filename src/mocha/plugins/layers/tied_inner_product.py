"""TiedInnerProductLayer: a decoder whose weights are an encoder's, transposed (semantics §3.12)."""

from __future__ import annotations

from typing import Any

from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import LayerState, config_field, name_field
from mocha.plugins.components.neurons import Identity
from mocha.plugins.layers._fields import BiasFields, field_parameter


def tied_weight(layer: Any, backend: Any) -> Any:
    """The `weight` parameter registered under `layer.tied_param_key`, or a clear error."""
    params = backend.param_registry.get(layer.tied_param_key)
    label = f"TiedInnerProductLayer({layer.name!r})"
    if params is None:
        known = ", ".join(repr(k) for k in sorted(backend.param_registry)) or "none"
        raise layer.config_error(
            "tied_param_key",
            layer.tied_param_key,
            f"no parameters are registered under this key yet (registered keys: {known}); the "
            f"encoder InnerProductLayer with this param_key (or name) must be set up first, in "
            f"this net or an earlier one on the same backend",
        )
    for p in params:
        if p.name == "weight":
            return p
    raise ShapeError(
        f"{label}: the parameters registered under tied_param_key "
        f"{layer.tied_param_key!r} are {[p.name for p in params]}; none is 'weight'"
    )


class TiedInnerProductState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.tied = tied_weight(layer, backend)
        W = self.tied.blob
        if W.ndim != 2:
            raise ShapeError(
                f"TiedInnerProductLayer({layer.name!r}): the tied weight has shape "
                f"{W.shape}; an inner-product weight (out, in) was expected"
            )
        out_enc, F = W.shape
        for name, x in zip(layer.bottoms, inputs):
            if x.fea_size != out_enc:
                raise ShapeError(
                    f"TiedInnerProductLayer({layer.name!r}): bottom {name!r} {x.shape} has "
                    f"feature size {x.fea_size}, but the tied weight {layer.tied_param_key!r} "
                    f"{W.shape} needs {out_enc} (the encoder's output_dim)"
                )
        self.bias = field_parameter(backend, layer, ctx, "bias", (F,))
        self.parameters = [self.bias]
        self.blobs = [backend.empty((x.num, F)) for x in inputs]
        self.blobs_diff = [backend.empty((x.num, F)) for x in inputs]

    def forward(self, backend, inputs):
        W, b = self.tied.blob.data, self.bias.blob.data
        for h, y in zip(inputs, self.blobs):
            # y = H W + b with H = h.reshape(N, out_enc), W the encoder's (out_enc, F) weight
            backend.kernels.gemm(h.data.reshape(h.num, -1), W, out=y.data)
            y.data += b

    def backward(self, backend, inputs, diffs):
        # y = H W + b  =>  db = Σ_bottoms Σ_n G,  dH = G Wᵀ;  W is the encoder's: no dW here
        W = self.tied.blob.data
        for i, (g, dh) in enumerate(zip(self.blobs_diff, diffs)):
            if not self.frozen:
                if i == 0:
                    g.data.sum(axis=0, out=self.bias.gradient.data)
                else:
                    self.bias.gradient.data += g.data.sum(axis=0)
            if not dh.is_null:
                backend.kernels.gemm(g.data, W, out=dh.data.reshape(dh.num, -1), trans_b=True)


class TiedInnerProductLayer(
    BiasFields, has_param=True, has_neuron=True, can_do_bp=True, bottoms=">=1", tops="same"
):
    """Decoder with tied weights: y = h.reshape(N, out_enc) @ W + b, then the neuron, where
    W (out_enc, F) is the weight of the InnerProductLayer whose param_key is `tied_param_key`
    (looked up in `backend.param_registry` at setup). W is not learned here; the bias is.

    Fields: `tied_param_key` (required), `param_key` (shares the bias; default: the name),
    `bias_init` (Constant 0), `bias_regu` (NoRegu), `bias_cons` (NoCons), `bias_lr` (2.0),
    `neuron` (Identity). Parameters: `bias` (F,).
    Bottoms: k ≥ 1 blobs of feature size out_enc. Tops: k blobs (N_i, F).
    """

    name: str = name_field()
    param_key: str = ""
    tied_param_key: str = config_field(
        check=lambda v: isinstance(v, str) and v != "",
        rule="must be the non-empty param_key of an encoder",
    )
    neuron: Any = Identity()
    state_cls = TiedInnerProductState


@hookimpl
def mocha_register_layers(register):
    register(TiedInnerProductLayer)
