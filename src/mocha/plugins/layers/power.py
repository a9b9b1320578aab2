"""PowerLayer: y = (scale·x + shift)^power, element-wise (semantics §3.7)."""

from __future__ import annotations

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import ElementwiseState, Layer, config_field, name_field


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class PowerState(ElementwiseState):
    def forward(self, backend, inputs):
        layer = self.layer
        for x, y in zip(inputs, self.blobs):
            out = y.data
            out[...] = x.data
            if layer.scale != 1:
                out *= layer.scale
            if layer.shift != 0:
                out += layer.shift
            if layer.power == 2:
                out *= out
            elif layer.power != 1:
                backend.xp.power(out, layer.power, out=out)

    def backward(self, backend, inputs, diffs):
        # y = (a·x + b)^p  =>  dx = p·a·(a·x + b)^(p-1) ⊙ g
        layer = self.layer
        p, a, b = layer.power, layer.scale, layer.shift
        for x, g, dx in zip(inputs, self.blobs_diff, diffs):
            if dx.is_null:
                continue
            if p == 0 or a == 0:
                dx.data.fill(0)
                continue
            if p == 1:
                backend.xp.multiply(g.data, a, out=dx.data)
                continue
            base = x.data * a + b if (a != 1 or b != 0) else x.data
            if p == 2:
                backend.xp.multiply(base, 2 * a, out=dx.data)
            else:
                backend.xp.power(base, p - 1, out=dx.data)
                dx.data *= p * a
            dx.data *= g.data


class PowerLayer(Layer, can_do_bp=True, bottoms=">=1", tops="same"):
    """Element-wise power: y = (scale·x + shift)^power.

    Gradient: dy/dx = power·scale·(scale·x + shift)^(power−1).

    Fields: `power` (default 1), `scale` (default 1), `shift` (default 0); numbers.
    Bottoms: k ≥ 1 blobs of any shapes. Tops: k blobs, each the shape of its bottom.
    A non-integer power of a negative base gives NaN, as in NumPy.
    """

    name: str = name_field("power")
    power: float = config_field(1, check=_is_number, rule="must be a number")
    scale: float = config_field(1, check=_is_number, rule="must be a number")
    shift: float = config_field(0, check=_is_number, rule="must be a number")
    state_cls = PowerState


@hookimpl
def mocha_register_layers(register):
    register(PowerLayer)
