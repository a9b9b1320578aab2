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
        self.out_hw, self.kernels = [], []
        any_pad = layer.pad[0] > 0 or layer.pad[1] > 0
        for blob_name, x in zip(layer.bottoms, inputs):
            if x.ndim != 4:
                raise ShapeError(
                    f"PoolingLayer({layer.name!r}): bottom {blob_name!r} has shape "
                    f"{x.shape}; pooling needs 4-D (N, C, H, W) inputs"
                )
            H, W = x.shape[2:]
            kernel = (H, W) if layer.global_pooling else layer.kernel
            out = tuple(
                pooled_size(n, k, p, s, any_pad, layer.ceil_mode)
                for n, k, p, s in zip((H, W), kernel, layer.pad, layer.stride)
            )
            check_windows(
                layer, blob_name, (H, W), kernel, layer.pad, layer.stride, out, ("height", "width")
            )
            self.out_hw.append(out)
            self.kernels.append(kernel)
        self.divisor = {None: "window", True: "padded", False: "image"}[layer.count_include_pad]
        self.is_max = layer.pooling.kind == "max"
        self.argmax: list[Any] = [None] * len(inputs)
        self.blobs = [backend.empty((*x.shape[:2], *o)) for x, o in zip(inputs, self.out_hw)]
        self.blobs_diff = [
            NullBlob() if d.is_null else backend.empty(y.shape) for d, y in zip(diffs, self.blobs)
        ]

    def forward(self, backend, inputs):
        layer, k = self.layer, backend.kernels
        for i, (x, y, out) in enumerate(zip(inputs, self.blobs, self.out_hw)):
            kernel = self.kernels[i]
            if self.is_max:
                _, self.argmax[i] = k.max_pool_forward(
                    x.data, kernel, layer.pad, layer.stride, out, out=(y.data, self.argmax[i])
                )
            else:
                k.avg_pool_forward(
                    x.data, kernel, layer.pad, layer.stride, out, out=y.data, divisor=self.divisor
                )

    def backward(self, backend, inputs, diffs):
        # max: dx[argmax] = Σ g over the windows whose maximum it is (zero elsewhere);
        # mean: every in-image cell of a window receives g / divisor (kh·kw by default).
        layer, k = self.layer, backend.kernels
        for i, (x, g, dx) in enumerate(zip(inputs, self.blobs_diff, diffs)):
            if dx.is_null:
                continue
            if self.is_max:
                k.max_pool_backward(g.data, self.argmax[i], x.shape, out=dx.data)
            else:
                k.avg_pool_backward(
                    g.data,
                    x.shape,
                    self.kernels[i],
                    layer.pad,
                    layer.stride,
                    out=dx.data,
                    divisor=self.divisor,
                )


class PoolingLayer(Layer, has_neuron=True, can_do_bp=True, bottoms=">=1", tops="same"):
    """2-D max or mean pooling over (H, W), then the neuron.

    Window of output (i, j): rows [i·sh − ph, i·sh − ph + kh) ∩ [0, H), columns likewise;
    padding and cells beyond the image are never read.
      Max:  y = max over the window (ties: the first maximum in row-major order).
      Mean: y = Σ over the in-image cells of the window / divisor, by `count_include_pad`:
        unset (default, Mocha): kh·kw, always the full window;
        true (Caffe's AVE, ONNX/PyTorch count_include_pad=1): the window's cells inside the
          padded image, (min(i·sh − ph + kh, H + ph) − (i·sh − ph)) · (likewise for columns);
        false (ONNX/PyTorch count_include_pad=0): the window's cells inside the image,
          (min(i·sh − ph + kh, H) − max(i·sh − ph, 0)) · (likewise for columns).
    Output size, `ceil_mode` true (default; rounds UP, Mocha/Caffe): oh = ceil((H + 2·ph −
    kh)/sh) + 1, minus one when some padding exists and (oh − 1)·sh ≥ H + ph; `ceil_mode`
    false (PyTorch's and ONNX's default): oh = floor((H + 2·ph − kh)/sh) + 1; likewise ow.
    `global_pooling`: the window is the whole (H, W) plane of each bottom (pad 0, stride 1;
    `kernel` is ignored), giving (N, C, 1, 1). A window that lies fully in the padding or
    beyond the image is refused at setup.

    Fields: `kernel`, `stride`, `pad` ((height, width) pairs, an int means both; defaults
    (1, 1), (1, 1), (0, 0)), `pooling` (`Pooling.Max()` (default) or `Pooling.Mean()`, or
    "max"/"mean"), `ceil_mode` (true), `global_pooling` (false), `count_include_pad` (unset),
    `neuron` (Identity).
    Bottoms: k ≥ 1 4-D blobs (N, C, H, W), shapes may differ. Tops: k blobs (N, C, oh, ow).
    """

    name: str = name_field("pooling")
    kernel: tuple[int, int] = kernel_field()
    stride: tuple[int, int] = stride_field()
    pad: tuple[int, int] = pad_field()
    pooling: Any = config_field(MaxPooling(), convert=as_pooling)
    ceil_mode: bool = config_field(True, check=lambda v: isinstance(v, bool), rule="must be a bool")
    global_pooling: bool = config_field(
        False, check=lambda v: isinstance(v, bool), rule="must be a bool"
    )
    count_include_pad: bool | None = config_field(
        None, check=lambda v: v is None or isinstance(v, bool), rule="must be true, false or unset"
    )
    neuron: Any = Identity()
    state_cls = PoolingState

    def validate(self) -> None:
        if self.global_pooling and (self.pad != (0, 0) or self.stride != (1, 1)):
            field = "pad" if self.pad != (0, 0) else "stride"
            raise self.config_error(
                field,
                getattr(self, field),
                "global pooling takes pad 0 and stride 1 (Caffe's rule)",
            )

    # the output length rule above, for code that reaches this layer through the registry
    output_size = staticmethod(pooled_size)


@hookimpl
def mocha_register_layers(register):
    register(PoolingLayer)
