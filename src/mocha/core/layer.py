"""Layers: configurations (`Layer`) and their run-time states (`LayerState`).

The layer contract
------------------
* A `Layer` is a frozen, keyword-only dataclass holding the configuration: `name`, `bottoms`
  (blob names it reads), `tops` (blob names it writes) and its own fields, each with a
  default and an optional validation rule (`config_field(default, check=..., rule=...)`). A bad
  value raises `LayerConfigError` naming the layer, the field, the value and the rule.
  `copy(layer, **changes)` makes a modified copy.
* Eight characterization flags are class keywords, all False by default:
  `class PowerLayer(Layer, can_do_bp=True)`. `is_source` (no bottoms, e.g. data layers),
  `is_sink` (no tops), `has_param`, `has_neuron` (the net applies `layer.neuron` to every top),
  `can_do_bp`, `is_inplace` (no tops; modifies its bottoms in place), `has_loss` (adds
  `state.loss` to the objective), `has_stats` (`reset_statistics` / `dump_statistics`).
* `layer.state_cls(layer, backend, inputs, diffs, ctx)` sets the layer up: `inputs` are the
  bottom blobs, `diffs` their gradient blobs (`NullBlob` where no gradient is wanted),
  `ctx` a `SetupContext` (phase, shared parameters). The state allocates `blobs` (one per top)
  and `blobs_diff` (one per top; `NullBlob` when nothing upstream wants a gradient).
* `state.forward(backend, inputs)` fills `blobs` (and `loss` for loss layers).
* `state.backward(backend, inputs, diffs)` **overwrites** every non-null bottom diff and
  accumulates nothing; it also **overwrites** the gradients of its parameters (unless frozen).
* `state.shutdown(backend)` releases what setup acquired (files, threads).
* Source layers keep `state.epoch` (completed passes over the data).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from mocha.core.blob import Blob, NullBlob
from mocha.core.errors import LayerConfigError

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
    return config_field(default, check=lambda v: isinstance(v, str) and v != "",
                        rule="must be a non-empty string")


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


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


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

    state_cls: ClassVar[type[LayerState]]

    def __init_subclass__(cls, **traits: bool) -> None:
        unknown = set(traits) - set(TRAITS)
        if unknown:
            raise TypeError(f"{cls.__name__}: unknown layer trait(s) {sorted(unknown)}; "
                            f"known traits: {', '.join(TRAITS)}")
        super().__init_subclass__()
        for trait, value in traits.items():
            setattr(cls, trait, bool(value))

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
        self.validate()

    def validate(self) -> None:
        """Cross-field checks; raise `self.config_error(...)`. Default: bottoms/tops counts."""

    def config_error(self, field_name: str, value: Any, rule: str) -> LayerConfigError:
        return LayerConfigError(
            f"{type(self).__name__}(name={self.name!r}): field {field_name!r} = {value!r} is "
            f"invalid: {rule}"
        )

    def __str__(self) -> str:
        return f"{type(self).__name__}({self.name})"


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
    """Run-time state of one layer in one net. Subclasses allocate `blobs`/`blobs_diff`."""

    def __init__(
        self,
        layer: Layer,
        backend: Any,
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

    def forward(self, backend: Any, inputs: Sequence[Blob]) -> None:
        raise NotImplementedError

    def backward(self, backend: Any, inputs: Sequence[Blob], diffs: Sequence[Blob]) -> None:
        """Layers that cannot back-propagate do nothing."""

    def shutdown(self, backend: Any) -> None:
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
    """Shared validation of bottom/top counts: n_bottoms in {"any", ">=1", "1", "2", ">=2",
    "0"}; n_tops in {"same", "0", "1", ">=1"}."""
    nb, nt = len(layer.bottoms), len(layer.tops)
    rules = {"any": True, "0": nb == 0, "1": nb == 1, "2": nb == 2, ">=1": nb >= 1,
             ">=2": nb >= 2}
    if not rules[n_bottoms]:
        raise layer.config_error("bottoms", layer.bottoms, f"needs {n_bottoms} bottom blob(s)")
    trules = {"same": nt == nb, "0": nt == 0, "1": nt == 1, ">=1": nt >= 1}
    if not trules[n_tops]:
        want = f"as many tops as bottoms ({nb})" if n_tops == "same" else f"{n_tops} top(s)"
        raise layer.config_error("tops", layer.tops, f"needs {want}")
