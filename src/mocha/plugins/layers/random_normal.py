"""RandomNormalLayer: a source of standard Gaussian noise (semantics §3.1)."""

from __future__ import annotations

from typing import Any

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field


def _dims(value: Any) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,)
    return tuple(value)


def _ints(value: Any) -> tuple[int, ...]:
    return (value,) if isinstance(value, int) else tuple(value)


class RandomNormalState(LayerState):
    """`epoch` stays 0: noise has no passes. `counts_epochs = False` tells the net to take
    its epoch from another data layer (fix of Mocha's A16)."""

    counts_epochs = False

    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.epoch = 0
        dtype = layer.eltype or backend.dtype
        self.blobs = [
            backend.empty((n, *layer.output_dims), dtype=dtype) for n in layer.batch_sizes
        ]

    def forward(self, backend, inputs):
        for y in self.blobs:
            y.data[...] = backend.random_normal(y.shape)


class RandomNormalLayer(Layer, is_source=True, bottoms="0", tops=">=1"):
    """Every forward refills each top with i.i.d. N(0, 1) samples from `backend.rng`.

    Fields: `tops` (≥ 1 names), `output_dims` (required): the per-sample shape in numpy order
    without the batch axis; `batch_sizes` (required): one batch size per top; `eltype`
    ("float32" or "float64"; default: the backend's dtype).
    Bottoms: none. Tops: blobs of shape (batch_sizes[i], *output_dims).
    """

    name: str = name_field("random-normal")
    output_dims: tuple[int, ...] = config_field(
        convert=_dims,
        check=lambda v: all(isinstance(s, int) and s > 0 for s in v),
        rule="must be a tuple of ints > 0 (the shape without the batch axis)",
    )
    batch_sizes: tuple[int, ...] = config_field(
        convert=_ints,
        check=lambda v: len(v) >= 1 and all(isinstance(s, int) and s > 0 for s in v),
        rule="must be ints > 0, one per top",
    )
    eltype: str | None = config_field(
        None,
        check=lambda v: v in (None, "float32", "float64"),
        rule='must be "float32", "float64" or None',
    )
    state_cls = RandomNormalState

    def validate(self) -> None:
        if len(self.batch_sizes) != len(self.tops):
            raise self.config_error(
                "batch_sizes", self.batch_sizes, f"needs one batch size per top {list(self.tops)}"
            )


@hookimpl
def mocha_register_layers(register):
    register(RandomNormalLayer)
