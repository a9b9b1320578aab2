"""LRNLayer: local response normalization (semantics §3.9), and the `LRNMode` choices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mocha.core.blob import NullBlob
from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field

# public names besides the registered ones: `mocha.LRNMode`
__all__ = ["LRNLayer", "LRNMode"]


@dataclass(frozen=True)
class AcrossChannel:
    """`LRNMode.AcrossChannel()`: the window spans k neighbouring channels (n = k)."""

    kind = "across_channel"


@dataclass(frozen=True)
class WithinChannel:
    """`LRNMode.WithinChannel()`: the window is a k×k square of one channel (n = k²)."""

    kind = "within_channel"


class LRNMode:
    """Mocha's LRN modes: `LRNMode.AcrossChannel()` and `LRNMode.WithinChannel()`."""

    AcrossChannel = AcrossChannel
    WithinChannel = WithinChannel


def as_lrn_mode(value: Any) -> AcrossChannel | WithinChannel:
    """`LRNMode.AcrossChannel()`, `LRNMode.WithinChannel()`, the classes, or their names as
    strings ("across_channel" or "AcrossChannel", ...)."""
    if isinstance(value, type) and issubclass(value, AcrossChannel | WithinChannel):
        return value()
    if isinstance(value, AcrossChannel | WithinChannel):
        return value
    key = value.lower().replace("_", "") if isinstance(value, str) else None
    if key in ("acrosschannel", "withinchannel"):  # "across_channel", "AcrossChannel", ...
        return AcrossChannel() if key == "acrosschannel" else WithinChannel()
    raise ValueError(
        "expected LRNMode.AcrossChannel(), LRNMode.WithinChannel(), "
        '"across_channel" or "within_channel"'
    )


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class LRNState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        x, blob_name = inputs[0], layer.bottoms[0]
        if x.ndim != 4:
            raise ShapeError(
                f"LRNLayer({layer.name!r}): bottom {blob_name!r} has shape "
                f"{x.shape}; LRN needs a 4-D (N, C, H, W) input"
            )
        self.axis = 1
        if layer.mode.kind == "across_channel":
            axis = layer.channel_dim + x.ndim if layer.channel_dim < 0 else layer.channel_dim
            if not 0 < axis < x.ndim:
                raise ShapeError(
                    f"LRNLayer({layer.name!r}): channel_dim={layer.channel_dim} is "
                    f"not a non-batch axis of bottom {blob_name!r} with shape "
                    f"{x.shape}"
                )
            self.axis = axis
        self.denom: Any = None
        self.blobs = [backend.empty(x.shape)]
        self.blobs_diff = [NullBlob() if diffs[0].is_null else backend.empty(x.shape)]

    def _to_kernel(self, backend, a):
        """The kernels normalize across axis 1: move the channel axis there (a view)."""
        return a if self.axis == 1 else backend.xp.moveaxis(a, self.axis, 1)

    def forward(self, backend, inputs):
        layer = self.layer
        x = self._to_kernel(backend, inputs[0].data)
        _, self.denom = backend.kernels.lrn_forward(
            x,
            layer.kernel,
            layer.scale,
            layer.power,
            layer.shift,
            layer.mode.kind,
            out=(self._to_kernel(backend, self.blobs[0].data), self.denom),
        )

    def backward(self, backend, inputs, diffs):
        # y_i = x_i S_i^(−p), S_i = shift + (scale/n) Σ_{j∈W(i)} x_j²  =>
        # dx_j = g_j S_j^(−p) − (2·p·scale/n) x_j Σ_{i: j∈W(i)} g_i y_i / S_i  (lrn_backward)
        layer, dx = self.layer, diffs[0]
        if dx.is_null:
            return
        to = self._to_kernel
        backend.kernels.lrn_backward(
            to(backend, inputs[0].data),
            to(backend, self.blobs[0].data),
            self.denom,
            to(backend, self.blobs_diff[0].data),
            layer.kernel,
            layer.scale,
            layer.power,
            layer.shift,
            layer.mode.kind,
            out=to(backend, dx.data),
        )


class LRNLayer(Layer, can_do_bp=True, bottoms="1", tops="same"):
    """Local response normalization:

        y = x / (shift + (scale/n) · Σ_{j ∈ N(x)} x_j²)^power

    with N(x) the window of k cells [c − pre, c + post] (pre = (k−1)//2, post = k−1−pre) around
    x, zero padded, n fixed at the full window size:
      `LRNMode.AcrossChannel()` (default): k neighbouring channels along `channel_dim`, n = k;
      `LRNMode.WithinChannel()`: a k×k spatial square of the same channel, n = k².
    (Mocha supports only odd k within channels; an even k uses the same asymmetric window.)

    Fields: `kernel` (5), `scale` (1), `shift` (1), `power` (0.75), `mode`, `channel_dim`
    (numpy axis of the channels for AcrossChannel, default 1).
    Bottoms: one 4-D blob (N, C, H, W). Tops: one blob of the same shape.
    """

    name: str = name_field("lrn")
    kernel: int = config_field(
        5, check=lambda v: isinstance(v, int) and v >= 1, rule="must be an int >= 1"
    )
    scale: float = config_field(1.0, check=_number, rule="must be a number")
    shift: float = config_field(1.0, check=_number, rule="must be a number")
    power: float = config_field(0.75, check=_number, rule="must be a number")
    channel_dim: int = config_field(
        1,
        check=lambda v: isinstance(v, int) and v != 0,
        rule="must be a non-batch numpy axis (an int other than 0)",
    )
    mode: Any = config_field(AcrossChannel(), convert=as_lrn_mode)
    state_cls = LRNState


@hookimpl
def mocha_register_layers(register):
    register(LRNLayer)
