"""CropLayer: crop (and optionally mirror) images, centred or at random (semantics §3.11)."""

from __future__ import annotations

from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field, pair


class CropState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        ch, cw = layer.crop_size
        for name, x, d in zip(layer.bottoms, inputs, diffs):
            if x.ndim != 4:
                raise ShapeError(
                    f"CropLayer({layer.name!r}): bottom {name!r} must be 4-D "
                    f"(N, C, H, W), got shape {x.shape}"
                )
            if ch > x.shape[2] or cw > x.shape[3]:
                raise ShapeError(
                    f"CropLayer({layer.name!r}): crop_size (h, w) = {layer.crop_size} is larger "
                    f"than bottom {name!r} with (H, W) = {x.shape[2:]}"
                )
            if not d.is_null:
                raise layer.config_error(
                    "bottoms",
                    name,
                    "CropLayer cannot back-propagate, but this blob wants a "
                    "gradient; crop data-layer outputs (or blobs that need no gradient)",
                )
        self.blobs = [backend.empty((x.num, x.shape[1], ch, cw)) for x in inputs]

    def forward(self, backend, inputs):
        layer = self.layer
        ch, cw = layer.crop_size
        rng = backend.rng
        for x, y in zip(inputs, self.blobs):
            H, W = x.shape[2], x.shape[3]
            # one offset and one mirror decision per bottom per forward, shared by the batch
            if layer.random_crop:
                h_off = int(rng.integers(0, H - ch + 1))
                w_off = int(rng.integers(0, W - cw + 1))
            else:
                h_off, w_off = (H - ch) // 2, (W - cw) // 2
            window = x.data[:, :, h_off : h_off + ch, w_off : w_off + cw]
            if layer.random_mirror and rng.random() < 0.5:
                window = window[..., ::-1]
            y.data[...] = window


class CropLayer(Layer, bottoms=">=1", tops="same"):
    """y = x[:, :, h_off:h_off+ch, w_off:w_off+cw], optionally flipped along the width.

    Fields: `crop_size` (required): (height, width), or one int for both, each > 0;
    `random_crop` (default False: centred offsets (H−ch)//2, (W−cw)//2; True: uniform
    offsets); `random_mirror` (default False; True flips the whole batch along the width with
    probability 1/2). Randomness comes from `backend.rng`. No back-propagation.
    Bottoms: k ≥ 1 4-D blobs (N, C, H, W) at least as large as the crop, needing no gradient.
    Tops: k blobs (N, C, ch, cw).
    """

    name: str = name_field("crop")
    crop_size: tuple[int, int] = config_field(
        convert=pair,
        check=lambda v: v[0] > 0 and v[1] > 0,
        rule="must be a (height, width) pair of ints > 0",
    )
    random_crop: bool = False
    random_mirror: bool = False
    state_cls = CropState


@hookimpl
def mocha_register_layers(register):
    register(CropLayer)
