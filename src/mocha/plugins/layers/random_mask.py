"""RandomMaskLayer: zero random entries of several blobs in place (semantics §3.10).

A dropout without rescaling, one independent mask per bottom; used to corrupt the input of a
denoising auto-encoder. Active in the training phase; the identity in the test phase
(evaluation: see `Net.phase`). Like DropoutLayer it restores the original values in backward
(A8 fix).
"""

from __future__ import annotations

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, config_field, name_field
from mocha.plugins.layers._mask import InplaceMaskState, ratio_ok


class RandomMaskLayer(Layer, can_do_bp=True, is_inplace=True, bottoms=">=1", tops="0"):
    """In a training net: x_i ← x_i · [u_i > ratio] for every bottom i, u_i ~ U[0, 1) drawn
    at every forward; dx_i ← dx_i · [u_i > ratio]. In the test phase: the identity.

    Fields: `ratio` (default 0.5, 0 < ratio < 1): the expected fraction of zeroed entries.
    Bottoms: k ≥ 1 blobs, modified in place. Tops: none.
    """

    name: str = name_field("random-mask")
    ratio: float = config_field(0.5, check=ratio_ok, rule="must be a number in (0, 1)")
    state_cls = InplaceMaskState


@hookimpl
def mocha_register_layers(register):
    register(RandomMaskLayer)
