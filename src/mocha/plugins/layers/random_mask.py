"""RandomMaskLayer: zero random entries of several blobs in place (semantics §3.10).

A dropout without rescaling, one independent mask per bottom; used to corrupt the input of a
denoising auto-encoder. Active in the training phase; the identity in the test phase
(evaluation: see `Net.phase`). Like DropoutLayer it restores the original values in backward
(A8 fix).
"""

from __future__ import annotations

from dataclasses import dataclass

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, check_counts, config_field, name_field
from mocha.plugins.layers.dropout import InplaceMaskState, _ratio_ok


@dataclass(frozen=True, kw_only=True, eq=False)
class RandomMaskLayer(Layer, can_do_bp=True, is_inplace=True):
    """In a training net: x_i ← x_i · [u_i > ratio] for every bottom i, u_i ~ U[0, 1) drawn
    at every forward; dx_i ← dx_i · [u_i > ratio]. In the test phase: the identity.

    Fields: `ratio` (default 0.5, 0 < ratio < 1): the expected fraction of zeroed entries.
    Bottoms: k ≥ 1 blobs, modified in place. Tops: none.
    """

    name: str = name_field("random-mask")
    ratio: float = config_field(0.5, check=_ratio_ok, rule="must be a number in (0, 1)")
    state_cls = InplaceMaskState

    def validate(self) -> None:
        check_counts(self, ">=1", "0")


@hookimpl
def mocha_register_layers(register):
    register(RandomMaskLayer)
