"""PoolingLayer: 2-D max or mean pooling (semantics §3.4), and the `Pooling` functions."""

from __future__ import annotations

from typing import Any

from mocha.core.blob import NullBlob
from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field
from mocha.plugins.components.neurons import Identity
from mocha.plugins.layers._fields import kernel_field, pad_field, stride_field
from mocha.plugins.layers._pooling import (  # noqa: F401 - Pooling is public here
    MaxPooling,
    Pooling,
    as_pooling,
    check_windows,
    pooled_size,
)

# public names besides the registered ones: `mocha.Pooling`
__all__ = ["PoolingLayer", "Pooling"]


class PoolingState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.out_hw = []
        any_pad = layer.pad[0] > 0 or layer.pad[1] > 0
        for blob_name, x in zip(layer.bottoms, inputs):
            if x.ndim != 4:
                raise ShapeError(
                    f"PoolingLayer({layer.name!r}): bottom {blob_name!r} has shape "
                    f"{x.shape}; pooling needs 4-D (N, C, H, W) inputs"
                )
            H, W = x.shape[2:]
            out = tuple(
                pooled_size(n, k, p, s, any_pad)
                for n, k, p, s in zip((H, W), layer.kernel, layer.pad, layer.stride)
            )
            check_windows(
                layer,
                blob_name,
                (H, W),
                layer.kernel,
                layer.pad,
                layer.stride,
                out,
                ("height", "width"),
            )
            self.out_hw.append(out)
        self.is_max = layer.pooling.kind == "max"
        self.argmax: list[Any] = [None] * len(inputs)
        self.blobs = [backend.empty((*x.shape[:2], *o)) for x, o in zip(inputs, self.out_hw)]
        self.blobs_diff = [
            NullBlob() if d.is_null else backend.empty(y.shape) for d, y in zip(diffs, self.blobs)
        ]

    def forward(self, backend, inputs):
        layer, k = self.layer, backend.kernels
        for i, (x, y, out) in enumerate(zip(inputs, self.blobs, self.out_hw)):
            if self.is_max:
                _, self.argmax[i] = k.max_pool_forward(
                    x.data, layer.kernel, layer.pad, layer.stride, out, out=(y.data, self.argmax[i])
                )
            else:
                k.avg_pool_forward(x.data, layer.kernel, layer.pad, layer.stride, out, out=y.data)

    def backward(self, backend, inputs, diffs):
        # max: dx[argmax] = Σ g over the windows whose maximum it is (zero elsewhere);
        # mean: every in-image cell of a window receives g / (kh·kw).
        layer, k = self.layer, backend.kernels
        for i, (x, g, dx) in enumerate(zip(inputs, self.blobs_diff, diffs)):
            if dx.is_null:
                continue
            if self.is_max:
                k.max_pool_backward(g.data, self.argmax[i], x.shape, out=dx.data)
            else:
                k.avg_pool_backward(
                    g.data, x.shape, layer.kernel, layer.pad, layer.stride, out=dx.data
                )


class PoolingLayer(Layer, has_neuron=True, can_do_bp=True, bottoms=">=1", tops="same"):
    """2-D max or mean pooling over (H, W), then the neuron.

    Window of output (i, j): rows [i·sh − ph, i·sh − ph + kh) ∩ [0, H), columns likewise;
    padding and cells beyond the image are never read.
      Max:  y = max over the window (ties: the first maximum in row-major order).
      Mean: y = Σ over the window / (kh·kw)  (always the full window, as in Mocha).
    Output size (rounds UP, Mocha/Caffe): oh = ceil((H + 2·ph − kh)/sh) + 1, minus one when
    some padding exists and (oh − 1)·sh ≥ H + ph; likewise ow. A window that lies fully in the
    padding or beyond the image is refused at setup.

    Fields: `kernel`, `stride`, `pad` ((height, width) pairs, an int means both; defaults
    (1, 1), (1, 1), (0, 0)), `pooling` (`Pooling.Max()` (default) or `Pooling.Mean()`, or
    "max"/"mean"), `neuron` (Identity).
    Bottoms: k ≥ 1 4-D blobs (N, C, H, W), shapes may differ. Tops: k blobs (N, C, oh, ow).
    """

    name: str = name_field("pooling")
    kernel: tuple[int, int] = kernel_field()
    stride: tuple[int, int] = stride_field()
    pad: tuple[int, int] = pad_field()
    pooling: Any = config_field(MaxPooling(), convert=as_pooling)
    neuron: Any = Identity()
    state_cls = PoolingState
    # the output length rule above, for code that reaches this layer through the registry
    output_size = staticmethod(pooled_size)


@hookimpl
def mocha_register_layers(register):
    register(PoolingLayer)
