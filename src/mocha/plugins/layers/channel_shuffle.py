"""ChannelShuffleLayer: ShuffleNet's channel shuffle (semantics §3.16)."""

from __future__ import annotations

from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field


class ChannelShuffleState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        for name, x in zip(layer.bottoms, inputs):
            if x.ndim < 2 or x.shape[1] % layer.groups:
                raise ShapeError(
                    f"ChannelShuffleLayer({layer.name!r}): bottom {name!r} has shape {x.shape}; "
                    f"its channels (axis 1) must be a multiple of groups={layer.groups}"
                )
        self.blobs = [backend.empty(x.shape) for x in inputs]
        self.blobs_diff = [backend.empty(x.shape) for x in inputs]

    def _grouped(self, a, first: int):
        """a (N, C, ...) as (N, first, C/first, rest): a view."""
        return a.reshape(a.shape[0], first, a.shape[1] // first, -1)

    def forward(self, backend, inputs):
        g = self.layer.groups
        for x, y in zip(inputs, self.blobs):
            # y[n, j·g + i] = x[n, i·(C/g) + j]: (N, g, C/g, S) → (N, C/g, g, S)
            c = x.shape[1] // g
            self._grouped(y.data, c)[...] = self._grouped(x.data, g).transpose(0, 2, 1, 3)

    def backward(self, backend, inputs, diffs):
        # a permutation of the channels: dx is the top gradient under the inverse permutation
        g = self.layer.groups
        for dx, dy in zip(diffs, self.blobs_diff):
            if dx.is_null:
                continue
            c = dx.shape[1] // g
            self._grouped(dx.data, g)[...] = self._grouped(dy.data, c).transpose(0, 2, 1, 3)


class ChannelShuffleLayer(Layer, can_do_bp=True, bottoms=">=1", tops="same"):
    """Channel shuffle (ShuffleNet): the C channels, seen as `groups` groups of C/groups, are
    interleaved: y[:, j·groups + i] = x[:, i·(C/groups) + j] (PyTorch's
    `x.view(N, g, C/g, H, W).transpose(1, 2).reshape(N, C, H, W)`, ONNX's Reshape-Transpose-
    Reshape, Caffe's ShuffleChannel).

    Fields: `groups` (≥ 1; C must be a multiple). Bottoms: k ≥ 1 blobs (N, C, ...).
    Tops: k blobs of the same shapes.
    """

    name: str = name_field("channel-shuffle")
    groups: int = config_field(
        check=lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        rule="must be an int >= 1",
    )
    state_cls = ChannelShuffleState


@hookimpl
def mocha_register_layers(register):
    register(ChannelShuffleLayer)
