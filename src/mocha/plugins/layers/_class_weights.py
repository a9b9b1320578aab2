"""Per-class weights of the multinomial losses (semantics §3.14): the `weights` and `normalize`
fields shared by MultinomialLogisticLossLayer and SoftmaxLossLayer, and their expansion to the
full prediction shape at setup.

`weights` may be

* empty (the default): every class weighs 1 and `normalize` is ignored;
* a 1-D vector of length C (the classes on the layer's `dim`), repeated at every sample and
  location;
* an array shaped like one sample (the prediction shape without the batch axis), repeated
  over the batch;
* an array of the full prediction shape.

Normalization (only when weights are given) keeps the objective of equal weights equal to the
unweighted one:

* ``"local"``: at every sample and location, ``w_c ← w_c · C / Σ_c w_c``;
* ``"global"``: per sample n, ``w ← w · prod(sample shape) / Σ_sample w``;
* ``"no"``: unchanged.
"""

from __future__ import annotations

import math
from typing import Any

from mocha.core.errors import ShapeError
from mocha.core.layer import Layer, config_field

NORMALIZE_MODES = ("local", "global", "no")


def _nested_shape(value: Any) -> tuple[int, ...]:
    if not isinstance(value, tuple):
        return ()
    if not value:
        return (0,)
    shapes = {_nested_shape(v) for v in value}
    if len(shapes) != 1:
        raise ValueError("class weights must form a rectangular array (ragged nesting found)")
    return (len(value), *shapes.pop())


def _flat(value: Any) -> list[float]:
    if isinstance(value, tuple):
        return [x for v in value for x in _flat(v)]
    return [value]


def as_weights(value: Any) -> tuple:
    """Lists, tuples or arrays (anything with `tolist`) -> a nested tuple of floats."""
    if hasattr(value, "tolist"):
        value = value.tolist()

    def conv(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return tuple(conv(x) for x in v)
        return float(v)

    out = conv(value)
    if not isinstance(out, tuple):
        raise ValueError(
            "class weights must be an array (a vector of per-class weights, one "
            "sample's shape, or the full prediction shape), not a scalar"
        )
    if out and 0 in _nested_shape(out):
        raise ValueError("class weights must not have an empty axis")
    return out


def _weights_ok(value: tuple) -> bool:
    return all(math.isfinite(x) and x >= 0 for x in _flat(value))


def weights_field() -> Any:
    return config_field(
        (), convert=as_weights, check=_weights_ok, rule="class weights must be finite and >= 0"
    )


def normalize_field() -> Any:
    return config_field(
        "local",
        check=lambda v: v in NORMALIZE_MODES,
        rule=f"must be one of {', '.join(map(repr, NORMALIZE_MODES))}",
    )


def expand_class_weights(layer: Layer, backend: Any, shape: tuple[int, ...], axis: int) -> Any:
    """The layer's `weights` expanded to the prediction `shape` (classes on `axis`) and
    normalized by `layer.normalize`; None when no weights were given."""
    if not layer.weights:
        return None
    xp = backend.xp
    w = backend.asarray(layer.weights)
    shape = tuple(shape)
    C = shape[axis]
    if w.ndim == 1 and w.shape[0] == C:
        view = [1] * len(shape)
        view[axis] = C
        w = w.reshape(view)
    elif tuple(w.shape) == shape[1:]:
        w = w.reshape((1, *shape[1:]))
    elif tuple(w.shape) != shape:
        raise ShapeError(
            f"{type(layer).__name__}({layer.name!r}): field 'weights' has shape {tuple(w.shape)}"
            f"; expected ({C},) (one weight per class on axis {axis}), {shape[1:]} (one "
            f"sample) or {shape} (the prediction blob {layer.bottoms[0]!r})"
        )
    w = xp.broadcast_to(w, shape).copy()
    if layer.normalize == "local":
        total = w.sum(axis=axis, keepdims=True)
        if bool((total <= 0).any()):
            raise layer.config_error(
                "weights",
                layer.weights,
                "with normalize='local' the class weights at every location must not be all 0",
            )
        w *= C / total
    elif layer.normalize == "global":
        per_sample = w.reshape(shape[0], -1)
        total = per_sample.sum(axis=1, keepdims=True)
        if bool((total <= 0).any()):
            raise layer.config_error(
                "weights",
                layer.weights,
                "with normalize='global' the weights of a sample must not be all 0",
            )
        per_sample *= per_sample.shape[1] / total
    return w
