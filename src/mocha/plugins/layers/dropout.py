"""DropoutLayer: randomly zero activations in place while training (semantics §3.10).

The mask is drawn afresh at every forward of a net in the training phase; in the test phase
(`Net(..., phase="test")`, a net without loss layer, `with net.evaluating():`, validation and
prediction) the data pass through unchanged. Fix of Mocha's A8: the forward keeps a copy
of the producer's output and the backward restores it, so the producer's own backward (its
neuron's derivative, written in terms of its output) sees its original activations.
"""

from __future__ import annotations

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, config_field, name_field
from mocha.plugins.layers._mask import InplaceMaskState, ratio_ok


class DropoutLayer(Layer, can_do_bp=True, is_inplace=True, bottoms="1", tops="0"):
    """In a training net: x ← x · [u > ratio] · s with u ~ U[0, 1) drawn at every forward and
    s = 1/(1 − ratio) when `auto_scale` (so E[y] = x), else 1; dx ← dx · [u > ratio] · s.
    In the test phase (evaluation, see `Net.phase`): the identity.

    Fields: `ratio` (default 0.5, 0 < ratio < 1), `auto_scale` (default True).
    Bottoms: exactly 1 blob, modified in place. Tops: none.
    """

    name: str = name_field("dropout")
    ratio: float = config_field(0.5, check=ratio_ok, rule="must be a number in (0, 1)")
    auto_scale: bool = True
    state_cls = InplaceMaskState


@hookimpl
def mocha_register_layers(register):
    register(DropoutLayer)
