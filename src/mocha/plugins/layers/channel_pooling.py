"""ChannelPoolingLayer: 1-D max or mean pooling along one (channel) axis (semantics §3.5)."""

from __future__ import annotations

import math
from typing import Any

from mocha.core.blob import NullBlob
from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field
from mocha.plugins.layers._fields import pad_field
from mocha.plugins.layers._pooling import MaxPooling, as_pooling, check_windows


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def channel_pooled_size(size: int, kernel: int, pad: tuple[int, int], stride: int) -> int:
    """P = ceil((C + front + back − kernel)/stride) + 1, minus one if (P − 1)·stride ≥ C + front
    (this check is unconditional, unlike PoolingLayer's)."""
    out = math.ceil((size + pad[0] + pad[1] - kernel) / stride) + 1
    if (out - 1) * stride >= size + pad[0]:
        out -= 1
    return out


class ChannelPoolingState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.geometry = []  # per bottom: (view shape (pre, 1, C, post), P, top shape)
        for blob_name, x in zip(layer.bottoms, inputs):
            axis = layer.channel_dim + x.ndim if layer.channel_dim < 0 else layer.channel_dim
            if x.ndim < 2 or not 0 < axis < x.ndim:
                raise ShapeError(
                    f"ChannelPoolingLayer({layer.name!r}): channel_dim={layer.channel_dim} is "
                    f"not a non-batch axis of bottom {blob_name!r} with shape {x.shape}"
                )
            C = x.shape[axis]
            P = channel_pooled_size(C, layer.kernel, layer.pad, layer.stride)
            check_windows(
                layer,
                blob_name,
                (C,),
                (layer.kernel,),
                (layer.pad[0],),
                (layer.stride,),
                (P,),
                ("channel axis",),
            )
            pre = math.prod(x.shape[:axis])
            post = math.prod(x.shape[axis + 1 :])
            top = x.shape[:axis] + (P,) + x.shape[axis + 1 :]
            self.geometry.append(((pre, 1, C, post), P, top))
        self.is_max = layer.pooling.kind == "max"
        self.argmax: list[Any] = [None] * len(inputs)
        self.blobs = [backend.empty(top) for _, _, top in self.geometry]
        self.blobs_diff = [
            NullBlob() if d.is_null else backend.empty(y.shape) for d, y in zip(diffs, self.blobs)
        ]

    def _args(self, i: int):
        layer = self.layer
        view, P, _ = self.geometry[i]
        return view, (layer.kernel, 1), (layer.pad[0], 0), (layer.stride, 1), (P, view[3])

    def forward(self, backend, inputs):
        # The channel axis is the "height" of a (pre, 1, C, post) view: 2-D pooling with a
        # (kernel, 1) window, stride (stride, 1) and front padding is exactly channel pooling.
        k = backend.kernels
        for i, (x, y) in enumerate(zip(inputs, self.blobs)):
            view, kernel, pad, stride, out = self._args(i)
            xv = x.data.reshape(view)
            if self.is_max:
                res, self.argmax[i] = k.max_pool_forward(xv, kernel, pad, stride, out)
            else:
                res = k.avg_pool_forward(xv, kernel, pad, stride, out)
            y.data[...] = res.reshape(y.shape)

    def backward(self, backend, inputs, diffs):
        # max: the gradient goes to the argmax channel (accumulating over windows);
        # mean: every channel of a window receives g / kernel.
        k = backend.kernels
        for i, (g, dx) in enumerate(zip(self.blobs_diff, diffs)):
            if dx.is_null:
                continue
            view, kernel, pad, stride, out = self._args(i)
            gv = g.data.reshape(view[:2] + out)
            if self.is_max:
                res = k.max_pool_backward(gv, self.argmax[i], view)
            else:
                res = k.avg_pool_backward(gv, view, kernel, pad, stride)
            dx.data[...] = res.reshape(dx.shape)


class ChannelPoolingLayer(Layer, can_do_bp=True, bottoms=">=1", tops="same"):
    """1-D pooling along `channel_dim` (any rank ≥ 2).

    Window of output channel p: [p·stride − front, p·stride − front + kernel) ∩ [0, C).
      Max:  y = max over the window (ties: the smallest channel).
      Mean: y = Σ over the window / kernel  (always the full kernel, as in Mocha).
    Output size: P = ceil((C + front + back − kernel)/stride) + 1, minus one when
    (P − 1)·stride ≥ C + front. Empty windows are refused at setup.

    Fields: `kernel` (1), `stride` (1), `pad` ((front, back), an int means both; (0, 0)),
    `channel_dim` (numpy axis, default 1; not the batch axis), `pooling` (`Pooling.Max()`
    (default), `Pooling.Mean()`, "max" or "mean"). No neuron.
    Bottoms: k ≥ 1 blobs, shapes may differ. Tops: k blobs, channel axis of size P.
    """

    name: str = name_field("channel-pooling")
    kernel: int = config_field(1, check=_positive_int, rule="must be an int >= 1")
    stride: int = config_field(1, check=_positive_int, rule="must be an int >= 1")
    pad: tuple[int, int] = pad_field(rule="front and back paddings must be >= 0")
    channel_dim: int = config_field(
        1,
        check=lambda v: isinstance(v, int) and v != 0,
        rule="must be a non-batch numpy axis (an int other than 0)",
    )
    pooling: Any = config_field(MaxPooling(), convert=as_pooling)
    state_cls = ChannelPoolingState


@hookimpl
def mocha_register_layers(register):
    register(ChannelPoolingLayer)
