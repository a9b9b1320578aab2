"""PoolingLayer: 2-D max or mean pooling (semantics §3.4), and the `Pooling` functions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mocha.core.blob import NullBlob
from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, check_counts, config_field, name_field, pair
from mocha.plugins.components.neurons import Identity

# public names besides the registered ones: `mocha.Pooling`
__all__ = ["PoolingLayer", "Pooling"]


@dataclass(frozen=True)
class MaxPooling:
    """`Pooling.Max()`: the maximum of the window (first maximum in row-major order on ties)."""

    kind = "max"


@dataclass(frozen=True)
class MeanPooling:
    """`Pooling.Mean()`: the sum of the window's in-image cells divided by the full window."""

    kind = "mean"


class Pooling:
    """Mocha's pooling functions: `Pooling.Max()` and `Pooling.Mean()`."""

    Max = MaxPooling
    Mean = MeanPooling


def as_pooling(value: Any) -> MaxPooling | MeanPooling:
    """`Pooling.Max()`, `Pooling.Mean()`, the classes themselves, or "max" / "mean"."""
    if isinstance(value, type) and issubclass(value, MaxPooling | MeanPooling):
        return value()
    if isinstance(value, MaxPooling | MeanPooling):
        return value
    if isinstance(value, str) and value.lower() in ("max", "mean"):
        return MaxPooling() if value.lower() == "max" else MeanPooling()
    raise ValueError('expected Pooling.Max(), Pooling.Mean(), "max" or "mean"')


def pooled_size(size: int, kernel: int, pad: int, stride: int, any_pad: bool) -> int:
    """Mocha/Caffe's output length (rounds UP): ceil((size + 2·pad − kernel)/stride) + 1,
    minus one when some padding exists (`any_pad`, either axis) and the last window would start
    at or beyond size + pad."""
    out = math.ceil((size + 2 * pad - kernel) / stride) + 1
    if any_pad and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def empty_window(size: int, kernel: int, pad: int, stride: int, out: int) -> int | None:
    """The index of the first window (clipped to [0, size)) holding no cell, else None."""
    for i in range(out):
        start = i * stride - pad
        if min(start + kernel, size) <= max(start, 0):
            return i
    return None


def check_windows(layer: Layer, blob_name: str, sizes: tuple[int, ...], kernel, pad, stride,
                  outs: tuple[int, ...], axes: tuple[str, ...]) -> None:
    """Refuse outputs < 1 and windows that lie fully outside the input (a ShapeError naming
    the layer, the blob and the offending window)."""
    who = f"{type(layer).__name__}({layer.name!r})"
    for axis, size, k, p, s, o in zip(axes, sizes, kernel, pad, stride, outs):
        if o < 1:
            raise ShapeError(f"{who}: kernel {k} with pad {p} and stride {s} gives an output "
                             f"{axis} of {o} for bottom {blob_name!r} of {axis} {size}")
        i = empty_window(size, k, p, s, o)
        if i is not None:
            start = i * s - p
            raise ShapeError(
                f"{who}: pooling window {i} along the {axis} of bottom {blob_name!r} covers "
                f"[{start}, {start + k}), which lies fully outside the input of {axis} {size} "
                f"(kernel={k}, stride={s}, pad={p}); an empty window has no value. Use a smaller "
                f"pad (pad < kernel) or a stride <= kernel"
            )


class PoolingState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.out_hw = []
        any_pad = layer.pad[0] > 0 or layer.pad[1] > 0
        for blob_name, x in zip(layer.bottoms, inputs):
            if x.ndim != 4:
                raise ShapeError(f"PoolingLayer({layer.name!r}): bottom {blob_name!r} has shape "
                                 f"{x.shape}; pooling needs 4-D (N, C, H, W) inputs")
            H, W = x.shape[2:]
            out = tuple(pooled_size(n, k, p, s, any_pad) for n, k, p, s in
                        zip((H, W), layer.kernel, layer.pad, layer.stride))
            check_windows(layer, blob_name, (H, W), layer.kernel, layer.pad, layer.stride, out,
                          ("height", "width"))
            self.out_hw.append(out)
        self.is_max = layer.pooling.kind == "max"
        self.argmax: list[Any] = [None] * len(inputs)
        self.blobs = [backend.empty((*x.shape[:2], *o)) for x, o in zip(inputs, self.out_hw)]
        self.blobs_diff = [NullBlob() if d.is_null else backend.empty(y.shape)
                           for d, y in zip(diffs, self.blobs)]

    def forward(self, backend, inputs):
        layer, k = self.layer, backend.kernels
        for i, (x, y, out) in enumerate(zip(inputs, self.blobs, self.out_hw)):
            if self.is_max:
                _, self.argmax[i] = k.max_pool_forward(x.data, layer.kernel, layer.pad,
                                                       layer.stride, out,
                                                       out=(y.data, self.argmax[i]))
            else:
                k.avg_pool_forward(x.data, layer.kernel, layer.pad, layer.stride, out,
                                   out=y.data)

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
                k.avg_pool_backward(g.data, x.shape, layer.kernel, layer.pad, layer.stride,
                                    out=dx.data)


@dataclass(frozen=True, kw_only=True, eq=False)
class PoolingLayer(Layer, has_neuron=True, can_do_bp=True):
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
    kernel: tuple[int, int] = config_field((1, 1), convert=pair, check=lambda v: min(v) >= 1,
                                           rule="both sizes must be >= 1")
    stride: tuple[int, int] = config_field((1, 1), convert=pair, check=lambda v: min(v) >= 1,
                                           rule="both strides must be >= 1")
    pad: tuple[int, int] = config_field((0, 0), convert=pair, check=lambda v: min(v) >= 0,
                                        rule="both paddings must be >= 0")
    pooling: Any = config_field(MaxPooling(), convert=as_pooling)
    neuron: Any = Identity()
    state_cls = PoolingState

    def validate(self) -> None:
        check_counts(self, ">=1", "same")


@hookimpl
def mocha_register_layers(register):
    register(PoolingLayer)
