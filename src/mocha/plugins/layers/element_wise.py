"""ElementWiseLayer: Add, Subtract, Multiply or Divide two blobs (semantics §3.8).

The operation is spelled as in the manual, `ElementWiseFunctors.Add()` (also available as
`mocha.ElementWiseFunctors`), or as a string: "Add", "subtract", ...
"""

from __future__ import annotations

from typing import Any

from mocha.core.blob import NullBlob
from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field

# public names besides the registered ones: `mocha.ElementWiseFunctors`
__all__ = ["ElementWiseLayer", "ElementWiseFunctors"]


class ElementWiseFunctor:
    """An operation of two arrays: `apply(xp, a, b, out)` and `grads(xp, a, b, y, g, da, db)`
    (`da`/`db` are arrays to overwrite, or None when that gradient is not wanted)."""

    def __repr__(self) -> str:
        return f"ElementWiseFunctors.{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


class Add(ElementWiseFunctor):
    """y = a + b;  da = g,  db = g."""

    def apply(self, xp, a, b, out):
        xp.add(a, b, out=out)

    def grads(self, xp, a, b, y, g, da, db):
        if da is not None:
            da[...] = g
        if db is not None:
            db[...] = g


class Subtract(ElementWiseFunctor):
    """y = a − b;  da = g,  db = −g."""

    def apply(self, xp, a, b, out):
        xp.subtract(a, b, out=out)

    def grads(self, xp, a, b, y, g, da, db):
        if da is not None:
            da[...] = g
        if db is not None:
            xp.negative(g, out=db)


class Multiply(ElementWiseFunctor):
    """y = a · b;  da = g · b,  db = g · a."""

    def apply(self, xp, a, b, out):
        xp.multiply(a, b, out=out)

    def grads(self, xp, a, b, y, g, da, db):
        if da is not None:
            xp.multiply(g, b, out=da)
        if db is not None:
            xp.multiply(g, a, out=db)


class Divide(ElementWiseFunctor):
    """y = a / b;  da = g / b,  db = −g · y / b  (= −g · a / b²)."""

    def apply(self, xp, a, b, out):
        xp.divide(a, b, out=out)

    def grads(self, xp, a, b, y, g, da, db):
        if da is not None:
            xp.divide(g, b, out=da)
        if db is not None:
            xp.multiply(g, y, out=db)
            db /= b
            xp.negative(db, out=db)


class ElementWiseFunctors:
    """The built-in operations, spelled as in the manual: `ElementWiseFunctors.Add()`."""

    Add = Add
    Subtract = Subtract
    Multiply = Multiply
    Divide = Divide


_BY_NAME = {cls.__name__.lower(): cls for cls in (Add, Subtract, Multiply, Divide)}


def as_functor(value: Any) -> ElementWiseFunctor:
    """A functor instance from an instance, a functor class or a name such as "Add"."""
    if isinstance(value, ElementWiseFunctor):
        return value
    if isinstance(value, type) and issubclass(value, ElementWiseFunctor):
        return value()
    if isinstance(value, str) and value.lower() in _BY_NAME:
        return _BY_NAME[value.lower()]()
    raise ValueError(
        "must be one of ElementWiseFunctors.Add(), Subtract(), Multiply(), Divide() "
        "(or their names as strings)"
    )


class ElementWiseState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        a, b = inputs
        if a.shape != b.shape:
            raise ShapeError(
                f"ElementWiseLayer({layer.name!r}): bottoms {layer.bottoms[0]!r} {a.shape} and "
                f"{layer.bottoms[1]!r} {b.shape} must have identical shapes"
            )
        self.blobs = [backend.empty(a.shape)]
        wanted = not (diffs[0].is_null and diffs[1].is_null)
        self.blobs_diff = [backend.empty(a.shape) if wanted else NullBlob()]

    def forward(self, backend, inputs):
        a, b = inputs
        self.layer.operation.apply(backend.xp, a.data, b.data, self.blobs[0].data)

    def backward(self, backend, inputs, diffs):
        # the derivatives of each operation are in its `grads` (see the functor docstrings)
        a, b = inputs
        da, db = (None if d.is_null else d.data for d in diffs)
        if da is None and db is None:
            return
        self.layer.operation.grads(
            backend.xp, a.data, b.data, self.blobs[0].data, self.blobs_diff[0].data, da, db
        )


class ElementWiseLayer(Layer, can_do_bp=True, bottoms="2", tops="1"):
    """y = a ∘ b for ∘ in {+, −, ·, /} (`operation`, default `ElementWiseFunctors.Add()`).

    Gradients: Add (g, g); Subtract (g, −g); Multiply (g·b, g·a); Divide (g/b, −g·a/b²).
    Bottoms: exactly 2 blobs of identical shape. Tops: 1 blob of that shape.
    """

    name: str = name_field("element-wise")
    operation: Any = config_field(Add(), convert=as_functor)
    state_cls = ElementWiseState


@hookimpl
def mocha_register_layers(register):
    register(ElementWiseLayer)
