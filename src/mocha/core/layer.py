"""Layers: configurations (`Layer`) and run-time states (`LayerState`). Notes: docs/core.md."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, dataclass_transform

from mocha.core.blob import Blob, NullBlob
from mocha.core.errors import LayerConfigError, ShapeError

if TYPE_CHECKING:
    from mocha.core.backend import Backend

TRAITS = (
    "is_source",
    "is_sink",
    "has_param",
    "has_neuron",
    "can_do_bp",
    "is_inplace",
    "has_loss",
    "has_stats",
)


def config_field(
    default: Any = dataclasses.MISSING,
    *,
    check: Callable[[Any], bool] | None = None,
    rule: str = "",
    convert: Callable[[Any], Any] | None = None,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A layer field with an optional converter (applied first) and validation rule."""
    meta = {"check": check, "rule": rule, "convert": convert}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def name_field(default: Any = dataclasses.MISSING) -> Any:
    """The `name` field of a layer class; without a default the name is required."""
    return config_field(
        default, check=lambda v: isinstance(v, str) and v != "", rule="must be a non-empty string"
    )


def param_key_of(layer: Layer) -> str:
    """The key under which a layer's parameters are shared: `param_key`, else its name."""
    return getattr(layer, "param_key", "") or layer.name


def pair(value: Any) -> tuple[int, int]:
    """An int or a (height, width) pair as a tuple of two ints."""
    if isinstance(value, int):
        return (value, value)
    items = tuple(value)
    if len(items) != 2:
        raise ValueError(f"expected an int or a (height, width) pair, got {value!r}")
    return (int(items[0]), int(items[1]))


def channel_axis(layer: Layer, ndim: int, blob_name: str) -> int:
    """The axis named by the layer's `dim` field (a numpy axis; negative counts from the end)
    in an `ndim`-D blob; the batch axis 0 is refused with a `ShapeError`."""
    axis = layer.dim + ndim if layer.dim < 0 else layer.dim
    if not 0 < axis < ndim:
        raise ShapeError(
            f"{type(layer).__name__}({layer.name!r}): dim={layer.dim} is not a non-batch axis "
            f"of blob {blob_name!r} with {ndim} dims"
        )
    return axis


#: the blob-count rules of the class keywords `bottoms=` / `tops=`
BOTTOM_RULES = ("any", "0", "1", "2", ">=1", ">=2")
TOP_RULES = ("any", "same", "0", "1", ">=1")


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


@dataclass_transform(
    kw_only_default=True,
    frozen_default=True,
    eq_default=False,
    field_specifiers=(config_field, name_field, dataclasses.field),
)
@dataclass(frozen=True, kw_only=True, eq=False)
class Layer:
    """Base class of every layer configuration. See the module docstring for the contract.

    Layers compare and hash by identity (`eq=False`): fields may hold arrays, and two
    configurations that differ only outside `name`/`bottoms`/`tops` must not compare equal.
    """

    name: str = name_field("layer")
    bottoms: tuple[str, ...] = config_field((), convert=_names)
    tops: tuple[str, ...] = config_field((), convert=_names)

    # characterization flags (set through class keywords)
    is_source: ClassVar[bool] = False
    is_sink: ClassVar[bool] = False
    has_param: ClassVar[bool] = False
    has_neuron: ClassVar[bool] = False
    can_do_bp: ClassVar[bool] = False
    is_inplace: ClassVar[bool] = False
    has_loss: ClassVar[bool] = False
    has_stats: ClassVar[bool] = False

    # blob-count rules (set through the class keywords `bottoms=` and `tops=`)
    n_bottoms: ClassVar[str] = "any"
    n_tops: ClassVar[str] = "any"

    state_cls: ClassVar[type[LayerState]]

    def __init_subclass__(
        cls, *, bottoms: str | None = None, tops: str | None = None, **traits: bool
    ) -> None:
        unknown = set(traits) - set(TRAITS)
        if unknown:
            raise TypeError(
                f"{cls.__name__}: unknown layer trait(s) {sorted(unknown)}; "
                f"known traits: {', '.join(TRAITS)}, and the blob counts "
                f"bottoms=..., tops=..."
            )
        for keyword, value, rules in (
            ("bottoms", bottoms, BOTTOM_RULES),
            ("tops", tops, TOP_RULES),
        ):
            if value is not None and value not in rules:
                raise TypeError(
                    f"{cls.__name__}: {keyword}={value!r} is not a blob-count "
                    f"rule; use one of {', '.join(map(repr, rules))}"
                )
        super().__init_subclass__()
        for trait, value in traits.items():
            setattr(cls, trait, bool(value))
        if bottoms is not None:
            cls.n_bottoms = bottoms
        if tops is not None:
            cls.n_tops = tops
        _make_dataclass(cls)

    def __new__(cls, *args: Any, **kwargs: Any) -> Layer:
        if args:
            raise TypeError(f"{cls.__name__} takes keyword arguments only, got {args!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        for key in kwargs:
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=2)
                hint = f" (did you mean {' or '.join(close)}?)" if close else ""
                raise LayerConfigError(
                    f"{cls.__name__}: unknown field {key!r}{hint}; fields are "
                    f"{', '.join(sorted(known))}"
                )
        return object.__new__(cls)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            convert = f.metadata.get("convert")
            if convert is not None:
                try:
                    converted = convert(value)
                except (TypeError, ValueError) as exc:
                    raise self.config_error(f.name, value, str(exc)) from None
                object.__setattr__(self, f.name, converted)
                value = converted
            check = f.metadata.get("check")
            if check is not None:
                try:
                    ok = check(value)
                except Exception:
                    ok = False
                if not ok:
                    raise self.config_error(f.name, value, f.metadata.get("rule") or "invalid")
        check_counts(self, self.n_bottoms, self.n_tops)
        self.validate()

    def validate(self) -> None:
        """Cross-field checks; raise `self.config_error(...)`. The blob counts declared with
        the class keywords `bottoms=` / `tops=` are checked before it."""

    def config_error(self, field_name: str, value: Any, rule: str) -> LayerConfigError:
        return LayerConfigError(
            f"{type(self).__name__}(name={self.name!r}): field {field_name!r} = {value!r} is "
            f"invalid: {rule}"
        )

    def __str__(self) -> str:
        return f"{type(self).__name__}({self.name})"


def state_class_of(layer: Layer) -> type[LayerState]:
    """The `state_cls` of the layer's class, or a `LayerConfigError` saying it is missing."""
    state_cls = getattr(type(layer), "state_cls", None)
    if state_cls is None:
        name = type(layer).__name__
        raise LayerConfigError(
            f"{name}({layer.name!r}): the layer class has no `state_cls`, the LayerState subclass "
            f"that sets it up and computes it (`state_cls = {name.removesuffix('Layer')}State` in "
            f"the class body; see docs/plugins.md)"
        )
    return state_cls


def _frozen_setattr(self: Layer, name: str, value: Any) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Layer, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


# One frozen __setattr__ for every layer: the generated one of a frozen dataclass protects only
# its own class's fields in subclasses.
Layer.__setattr__ = _frozen_setattr  # type: ignore[method-assign,assignment]
Layer.__delattr__ = _frozen_delattr  # type: ignore[method-assign,assignment]


def _make_dataclass(cls: type[Layer]) -> None:
    """Apply the frozen keyword-only dataclass to a new `Layer` subclass.

    So that a `@dataclass(frozen=True, kw_only=True, eq=False)` decorator written anyway (as
    layers did before `__init_subclass__` applied it) keeps working: the class keeps its
    `Field` objects as class attributes (a second pass sees the same fields, validation rules
    included), and the generated `__setattr__`/`__delattr__` are dropped in favour of
    `Layer`'s (a second pass may add them again, which it refuses to do over existing ones).
    """
    own = {name: value for name, value in vars(cls).items() if isinstance(value, dataclasses.Field)}
    for klass in cls.__mro__[1:]:
        if klass is Layer:
            break
        for name in ("__setattr__", "__delattr__"):
            if name in vars(klass):  # left by a redundant decorator on a parent
                delattr(klass, name)
    dataclass(frozen=True, kw_only=True, eq=False)(cls)
    for name in ("__setattr__", "__delattr__"):
        if name in vars(cls):
            delattr(cls, name)
    for name, value in own.items():
        setattr(cls, name, value)


def copy(layer: Layer, **changes: Any) -> Layer:
    """A copy of `layer` with some fields changed (validated again)."""
    return dataclasses.replace(layer, **changes)


@dataclass
class SetupContext:
    """What a layer's setup may need besides its inputs."""

    phase: str = "train"  # "train" or "test"
    shared_params: list[Any] | None = None  # parameters found in the backend registry
    net_name: str = ""


class LayerState:
    """Run-time state of one layer in one net. Subclasses allocate `blobs`/`blobs_diff`.

    Source layers also keep `epoch` (completed passes over their data); `counts_epochs` says
    whether the net's epoch may be taken from it (see the module docstring).
    """

    #: a source layer whose `epoch` does not count for the net's epoch (noise) sets this False
    counts_epochs: ClassVar[bool] = True

    def __init__(
        self,
        layer: Layer,
        backend: Backend,
        inputs: Sequence[Blob],
        diffs: Sequence[Blob],
        ctx: SetupContext,
    ) -> None:
        self.layer = layer
        self.blobs: list[Blob] = []
        self.blobs_diff: list[Blob] = []
        self.parameters: list[Any] = []
        self.loss = 0.0
        self.frozen = False
        self.phase = ctx.phase

    def forward(self, backend: Backend, inputs: Sequence[Blob]) -> None:
        raise NotImplementedError

    def backward(self, backend: Backend, inputs: Sequence[Blob], diffs: Sequence[Blob]) -> None:
        """Layers that cannot back-propagate do nothing."""

    def shutdown(self, backend: Backend) -> None:
        """Release resources acquired at setup."""

    # statistics layers override these
    def reset_statistics(self) -> None:
        pass

    def dump_statistics(self) -> dict[str, float]:
        return {}

    def statistics_summary(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.layer.name})"


class CursorState(LayerState):
    """State of a source layer whose position in its data can be saved and restored, so that
    a snapshot resumes on the very next mini-batch (the data-cursor protocol of the module
    docstring). `get_cursor()` returns a JSON-able value; `set_cursor(value)` continues from
    it and sets `epoch` accordingly."""

    epoch: int = 0

    def get_cursor(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement get_cursor()")

    def set_cursor(self, cursor: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement set_cursor(cursor)")


def has_cursor(state: LayerState) -> bool:
    """Whether the engine saves and restores this state's data cursor on a snapshot."""
    return isinstance(state, CursorState)


class ElementwiseState(LayerState):
    """Convenience base: one top blob (same shape as its bottom) per bottom, and a top diff
    that is `NullBlob` exactly when the bottom wants no gradient."""

    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.blobs = [backend.empty(x.shape) for x in inputs]
        self.blobs_diff = [
            NullBlob() if (d.is_null or not layer.can_do_bp) else backend.empty(x.shape)
            for x, d in zip(inputs, diffs)
        ]


def check_counts(layer: Layer, n_bottoms: str = "any", n_tops: str = "same") -> None:
    """Validation of bottom/top counts (what the class keywords `bottoms=`/`tops=` declare):
    n_bottoms in `BOTTOM_RULES`, n_tops in `TOP_RULES`."""
    nb, nt = len(layer.bottoms), len(layer.tops)
    rules = {"any": True, "0": nb == 0, "1": nb == 1, "2": nb == 2, ">=1": nb >= 1, ">=2": nb >= 2}
    if not rules[n_bottoms]:
        rule = (
            "a data layer takes no bottoms"
            if n_bottoms == "0" and layer.is_source
            else f"needs {n_bottoms} bottom blob(s)"
        )
        raise layer.config_error("bottoms", layer.bottoms, rule)
    trules = {"any": True, "same": nt == nb, "0": nt == 0, "1": nt == 1, ">=1": nt >= 1}
    if not trules[n_tops]:
        want = (
            f"as many tops as bottoms ({nb}): one top per bottom"
            if n_tops == "same"
            else f"{n_tops} top(s)"
        )
        raise layer.config_error("tops", layer.tops, f"needs {want}")
