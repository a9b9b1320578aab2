"""ConvolutionLayer: grouped 2-D cross-correlation with a bias (semantics §3.3)."""

from __future__ import annotations

from typing import Any

from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import LayerState, config_field, name_field
from mocha.plugins.components.neurons import Identity
from mocha.plugins.layers._fields import (
    BiasFields,
    FilterFields,
    field_parameter,
    kernel_field,
    pad_field,
    stride_field,
)


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


class ConvolutionState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        name = f"ConvolutionLayer({layer.name!r})"
        for blob_name, x in zip(layer.bottoms, inputs):
            if x.ndim != 4:
                raise ShapeError(
                    f"{name}: bottom {blob_name!r} has shape {x.shape}; "
                    f"convolution needs 4-D (N, C, H, W) inputs"
                )
        shapes = {b: x.shape for b, x in zip(layer.bottoms, inputs)}
        if len(set(shapes.values())) != 1:
            raise ShapeError(f"{name}: all bottoms must have the same shape; got {shapes}")
        N, C, H, W = inputs[0].shape
        G = layer.n_group
        if C % G:
            raise ShapeError(
                f"{name}: bottom {layer.bottoms[0]!r} has {C} channels, which "
                f"n_group={G} does not divide"
            )
        (kh, kw), (ph, pw), (sh, sw) = layer.kernel, layer.pad, layer.stride
        oh, ow = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
        if H + 2 * ph < kh or W + 2 * pw < kw:
            raise ShapeError(
                f"{name}: kernel={layer.kernel} (height, width) does not fit bottom "
                f"{layer.bottoms[0]!r} of spatial size {(H, W)} with pad={layer.pad}; the "
                f"output size floor((H + 2·pad − kernel)/stride) + 1 would be {(oh, ow)}"
            )
        F = layer.n_filter
        self.filter = field_parameter(backend, layer, ctx, "filter", (F, C // G, kh, kw))
        self.bias = field_parameter(backend, layer, ctx, "bias", (F,))
        self.parameters = [self.filter, self.bias]
        self.blobs = [backend.empty((x.num, F, oh, ow)) for x in inputs]
        self.blobs_diff = [backend.empty((x.num, F, oh, ow)) for x in inputs]
        # One dict per bottom in which the backend may keep forward's im2col columns for
        # backward (see the kernel table's conv_forward / conv_backward `cache`).
        self.col_caches = [{} for _ in inputs]

    def forward(self, backend, inputs):
        layer = self.layer
        w, b = self.filter.blob.data, self.bias.blob.data
        keep = self.phase != "test"  # a test-phase net runs no backward: keep no columns
        for x, y, cache in zip(inputs, self.blobs, self.col_caches):
            backend.kernels.conv_forward(
                x.data,
                w,
                b,
                layer.pad,
                layer.stride,
                layer.n_group,
                out=y.data,
                cache=cache if keep else None,
            )

    def backward(self, backend, inputs, diffs):
        # y = conv(x, W) + b: ∇W and ∇b are zeroed, then summed over bottoms and samples;
        # dx is the transposed correlation (col2im of Wᵀ·G), see kernels_conv.conv_backward.
        layer = self.layer
        w = self.filter.blob.data
        for i, (x, g, dx, cache) in enumerate(zip(inputs, self.blobs_diff, diffs, self.col_caches)):
            direct = i == 0 and not self.frozen
            out = (
                None if dx.is_null else dx.data,
                self.filter.gradient.data if direct else None,
                self.bias.gradient.data if direct else None,
            )
            gx, gw, gb = backend.kernels.conv_backward(
                x.data,
                w,
                g.data,
                layer.pad,
                layer.stride,
                layer.n_group,
                need_dx=not dx.is_null,
                out=out,
                cache=cache,
            )
            if not self.frozen and i > 0:
                self.filter.gradient.data += gw
                self.bias.gradient.data += gb


class ConvolutionLayer(
    FilterFields,
    BiasFields,
    has_param=True,
    has_neuron=True,
    can_do_bp=True,
    bottoms=">=1",
    tops="same",
):
    """2-D convolution (cross-correlation, no kernel flip) with zero padding, then the neuron.

        y[n,f,i,j] = b[f] + Σ_{c<C/G, p<kh, q<kw} W[f,c,p,q] · x[n, g·C/G + c, i·sh − ph + p,
                                                                  j·sw − pw + q],  g = f // (F/G)

    Output size: oh = floor((H + 2·ph − kh) / sh) + 1 (likewise ow); it must be ≥ 1.

    Fields: `n_filter` F (1), `kernel`, `stride`, `pad` ((height, width) pairs; an int means
    both; defaults (1, 1), (1, 1), (0, 0)), `n_group` G (1; G divides C and F), `param_key`
    (share parameters; default the name), `filter_init` (Xavier) / `bias_init` (Constant 0),
    `filter_regu` (L2Regu(1)) / `bias_regu` (NoRegu), `filter_cons` / `bias_cons` (NoCons),
    `filter_lr` (1) / `bias_lr` (2), `neuron` (Identity).
    Parameters: `filter` (F, C/G, kh, kw), `bias` (F,).
    Bottoms: k ≥ 1 blobs, 4-D (N, C, H, W), all of the same shape.
    Tops: k blobs (N, F, oh, ow).
    """

    name: str = name_field()
    param_key: str = ""
    n_filter: int = config_field(1, check=_positive_int, rule="must be an int > 0")
    kernel: tuple[int, int] = kernel_field()
    stride: tuple[int, int] = stride_field()
    pad: tuple[int, int] = pad_field()
    n_group: int = config_field(1, check=_positive_int, rule="must be an int > 0")
    neuron: Any = Identity()
    state_cls = ConvolutionState

    def validate(self) -> None:
        if self.n_filter % self.n_group:
            raise self.config_error(
                "n_filter", self.n_filter, f"must be divisible by n_group={self.n_group}"
            )


@hookimpl
def mocha_register_layers(register):
    register(ConvolutionLayer)
