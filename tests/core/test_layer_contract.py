"""The declarative layer contract: `Layer.__init_subclass__` makes the dataclass, blob counts
are class keywords, and the protocols the engine relies on are declared on the base classes."""

import dataclasses
import re
from dataclasses import dataclass

import pytest

import mocha
from mocha import Layer, LayerConfigError, LayerState, config_field, name_field
from mocha.core.coffee import CoffeeBreak
from mocha.core.layer import BOTTOM_RULES, TOP_RULES, CursorState, has_cursor


class _NoopState(LayerState):
    def forward(self, backend, inputs):
        pass


class PlainLayer(Layer, can_do_bp=True, bottoms="1", tops="same"):
    """No decorator: the base class makes it a frozen keyword-only dataclass."""

    name: str = name_field("plain")
    factor: float = config_field(1.0, check=lambda v: v > 0, rule="must be > 0")
    state_cls = _NoopState


def test_subclass_is_a_frozen_keyword_only_dataclass_without_a_decorator():
    assert dataclasses.is_dataclass(PlainLayer)
    params = PlainLayer.__dataclass_params__
    assert params.frozen and not params.eq
    layer = PlainLayer(bottoms="x", tops="y", factor=2.0)
    assert (layer.name, layer.factor, layer.bottoms) == ("plain", 2.0, ("x",))
    with pytest.raises(TypeError, match="keyword arguments only"):
        PlainLayer("p", ["x"], ["y"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.factor = 3.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        del layer.name
    with pytest.raises(LayerConfigError, match=r"'factor' = -1 is invalid: must be > 0"):
        PlainLayer(bottoms="x", tops="y", factor=-1)


def test_type_checkers_see_the_fields():
    transform = Layer.__dataclass_transform__
    frozen = transform.get("frozen_default", transform.get("kwargs", {}).get("frozen_default"))
    assert transform["kw_only_default"] and frozen  # a plain keyword before Python 3.12
    assert config_field in transform["field_specifiers"]


def test_a_redundant_decorator_keeps_fields_rules_and_frozenness():
    @dataclass(frozen=True, kw_only=True, eq=False)
    class Old(Layer, bottoms=">=1", tops="same"):
        name: str = name_field("old")
        factor: float = config_field(1.0, check=lambda v: v > 0, rule="must be > 0")
        state_cls = _NoopState

    @dataclass(frozen=True, kw_only=True, eq=False)
    class Child(Old):
        extra: int = config_field(0, check=lambda v: v >= 0, rule="must be >= 0")

    with pytest.raises(LayerConfigError, match="must be > 0"):
        Old(bottoms="x", tops="y", factor=0)
    with pytest.raises(LayerConfigError, match="must be >= 0"):
        Child(bottoms="x", tops="y", extra=-1)
    child = Child(bottoms="x", tops="y", extra=2)
    for obj, field in ((child, "extra"), (child, "factor"), (Old(bottoms="x", tops="y"), "factor")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, field, 5)


def test_blob_counts_are_class_keywords_inherited_and_checked_before_validate():
    seen = []

    class Counted(Layer, bottoms="2", tops="0"):
        state_cls = _NoopState

        def validate(self) -> None:
            seen.append(self.name)

    class Sub(Counted):
        pass

    assert (Counted.n_bottoms, Counted.n_tops) == ("2", "0")
    assert (Sub.n_bottoms, Sub.n_tops) == ("2", "0")
    assert (Layer.n_bottoms, Layer.n_tops) == ("any", "any")
    with pytest.raises(
        LayerConfigError,
        match=re.escape(
            "Sub(name='layer'): field 'bottoms' = ('a',) is invalid: needs 2 bottom blob(s)"
        ),
    ):
        Sub(bottoms=["a"])
    with pytest.raises(LayerConfigError, match=r"field 'tops' = \('t',\).*needs 0 top\(s\)"):
        Counted(bottoms=["a", "b"], tops=["t"])
    assert seen == []  # validate() runs only after the counts passed
    Counted(name="ok", bottoms=["a", "b"])
    assert seen == ["ok"]


def test_builtin_rules_match_their_documentation():
    ip = mocha.lookup("layers", "InnerProductLayer")
    assert (ip.n_bottoms, ip.n_tops) == (">=1", "same")
    assert (mocha.lookup("layers", "SoftmaxLossLayer").n_tops) == "0"
    with pytest.raises(LayerConfigError, match="a data layer takes no bottoms"):
        mocha.MemoryDataLayer(data=[[1.0]], tops=["data"], bottoms=["x"], batch_size=1)


@pytest.mark.parametrize(
    ("keyword", "value", "rules"), [("bottoms", "3", BOTTOM_RULES), ("tops", "same?", TOP_RULES)]
)
def test_an_unknown_count_rule_is_a_type_error_listing_the_rules(keyword, value, rules):
    with pytest.raises(TypeError) as info:
        type("Bad", (Layer,), {}, **{keyword: value})
    message = str(info.value)
    assert f"{keyword}={value!r}" in message and all(repr(r) in message for r in rules)


def test_engine_protocols_are_declared_on_the_base_classes():
    assert LayerState.counts_epochs is True
    assert mocha.lookup("layers", "RandomNormalLayer").state_cls.counts_epochs is False
    for name in ("MemoryDataLayer", "HDF5DataLayer", "AsyncHDF5DataLayer"):
        assert issubclass(mocha.lookup("layers", name).state_cls, CursorState), name
    assert not issubclass(mocha.lookup("layers", "RandomNormalLayer").state_cls, CursorState)
    with pytest.raises(NotImplementedError, match="get_cursor"):
        CursorState.get_cursor(object.__new__(CursorState))
    assert not has_cursor(object.__new__(_NoopState))

    plain = CoffeeBreak()
    assert plain.needs_resume_point is False and plain.resume_nets() == []
    assert plain.snapshot_dir is None and plain.last_path == ""
    snapshot = mocha.lookup("coffee_breaks", "Snapshot")("some/dir")
    assert snapshot.needs_resume_point and snapshot.snapshot_dir == "some/dir"


class StatelessLayer(Layer, bottoms="1", tops="same"):
    """A layer class that forgot `state_cls`."""

    name: str = name_field("stateless")


def test_a_layer_class_without_state_cls_says_what_is_missing():
    from mocha.testing import run_layer

    data = mocha.MemoryDataLayer(name="data", data=[[[1.0, 2.0]]], batch_size=1, tops=["x"])
    layer = StatelessLayer(name="forgot", bottoms=["x"], tops=["y"])
    message = r"StatelessLayer\('forgot'\): the layer class has no `state_cls`.*StatelessState"
    with pytest.raises(LayerConfigError, match=message):
        mocha.Net("n", mocha.make_backend("numpy"), [data, layer])
    with pytest.raises(LayerConfigError, match=message):
        run_layer(layer, [[1.0, 2.0]])
