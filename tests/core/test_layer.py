"""Layer configurations (semantics §2.1): keyword-only frozen dataclasses with validated fields,
`copy`, and the eight characterization traits declared as class keywords."""

import dataclasses
import re
from dataclasses import dataclass

import pytest

import mocha
from mocha import Layer, LayerConfigError, LayerState, config_field, name_field
from mocha.core.layer import TRAITS, check_counts, pair, param_key_of


class _NoopState(LayerState):
    def forward(self, backend, inputs):
        pass


@dataclass(frozen=True, kw_only=True, eq=False)
class ScaleLayer(Layer, can_do_bp=True, has_param=True):
    """A test layer with a few validated fields."""

    name: str = name_field("scale")
    factor: float = config_field(1.0, check=lambda v: v > 0, rule="must be > 0")
    kernel: tuple = config_field(3, convert=pair)
    mode: str = config_field(
        "max", check=lambda v: v in ("max", "mean"), rule="must be 'max' or 'mean'"
    )
    state_cls = _NoopState

    def validate(self) -> None:
        check_counts(self, "1", "same")


def test_defaults_and_conversions():
    layer = ScaleLayer(bottoms=["x"], tops=["y"])
    assert layer.name == "scale"
    assert layer.factor == 1.0
    assert layer.kernel == (3, 3)
    assert layer.bottoms == ("x",) and layer.tops == ("y",)
    assert ScaleLayer(bottoms="x", tops="y").bottoms == ("x",)  # one string is one blob
    assert str(layer) == "ScaleLayer(scale)"


def test_fields_are_keyword_only():
    with pytest.raises(TypeError, match="keyword arguments only"):
        ScaleLayer("scale", ["x"], ["y"])


def test_layers_are_frozen():
    layer = ScaleLayer(bottoms=["x"], tops=["y"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.factor = 2.0


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("factor", -2.0, "must be > 0"),
        ("mode", "median", "must be 'max' or 'mean'"),
        ("name", "", "must be a non-empty string"),
        ("factor", "abc", "must be > 0"),  # a check that raises counts as a failure
    ],
)
def test_invalid_field_names_layer_field_value_and_rule(field, value, rule):
    with pytest.raises(LayerConfigError) as info:
        ScaleLayer(
            name="s1" if field != "name" else value,
            bottoms=["x"],
            tops=["y"],
            **({field: value} if field != "name" else {}),
        )
    message = str(info.value)
    assert "ScaleLayer" in message
    assert repr(field) in message
    assert repr(value) in message
    assert rule in message
    if field != "name":
        assert "'s1'" in message


def test_failed_conversion_is_a_config_error():
    with pytest.raises(LayerConfigError, match=r"'kernel' = \(1, 2, 3\) is invalid: expected"):
        ScaleLayer(kernel=(1, 2, 3), bottoms=["x"], tops=["y"])


def test_cross_field_validation_names_the_field():
    with pytest.raises(
        LayerConfigError,
        match=r"ScaleLayer\(name='scale'\).*'tops'.*needs as "
        r"many tops as bottoms",
    ):
        ScaleLayer(bottoms=["x"], tops=["y", "z"])


def test_unknown_field_suggests_the_close_name():
    with pytest.raises(LayerConfigError) as info:
        ScaleLayer(facter=2.0, bottoms=["x"], tops=["y"])
    message = str(info.value)
    assert "unknown field 'facter'" in message
    assert "did you mean factor?" in message
    assert "fields are" in message and "bottoms" in message


def test_config_error_is_also_a_value_error():
    with pytest.raises(ValueError):
        ScaleLayer(factor=0, bottoms=["x"], tops=["y"])


def test_required_field_without_default():
    with pytest.raises(TypeError, match="output_dim"):
        mocha.InnerProductLayer(name="ip", bottoms=["x"], tops=["y"])


def test_copy_changes_fields_and_validates_again():
    layer = ScaleLayer(name="a", factor=2.0, bottoms=["x"], tops=["y"])
    other = mocha.copy(layer, name="b", kernel=(2, 5))
    assert (other.name, other.factor, other.kernel) == ("b", 2.0, (2, 5))
    assert layer.name == "a"  # the original is untouched
    with pytest.raises(LayerConfigError, match="'factor' = -1"):
        mocha.copy(layer, factor=-1)
    with pytest.raises(LayerConfigError, match="unknown field 'fctor'"):
        mocha.copy(layer, fctor=1)


def test_param_key_defaults_to_the_name():
    ip = mocha.InnerProductLayer(name="ip1", output_dim=3, bottoms=["x"], tops=["y"])
    assert param_key_of(ip) == "ip1"
    assert param_key_of(mocha.copy(ip, param_key="shared")) == "shared"
    assert param_key_of(ScaleLayer(bottoms=["x"], tops=["y"])) == "scale"  # no param_key


def test_eight_traits_default_to_false():
    assert len(TRAITS) == 8
    for trait in TRAITS:
        assert getattr(Layer, trait) is False


def test_traits_are_declared_per_class():
    assert ScaleLayer.can_do_bp and ScaleLayer.has_param
    assert not (ScaleLayer.is_source or ScaleLayer.is_sink or ScaleLayer.has_loss)

    @dataclass(frozen=True, kw_only=True, eq=False)
    class Sub(ScaleLayer, has_loss=True, is_sink=1):
        pass

    assert Sub.has_loss is True and Sub.is_sink is True  # coerced to bool
    assert Sub.can_do_bp  # inherited
    assert not ScaleLayer.has_loss  # the parent is untouched


@pytest.mark.parametrize(
    ("cls", "traits"),
    [
        ("MemoryDataLayer", {"is_source"}),
        ("InnerProductLayer", {"has_param", "has_neuron", "can_do_bp"}),
        ("SoftmaxLossLayer", {"is_sink", "can_do_bp", "has_loss"}),
        ("AccuracyLayer", {"is_sink", "has_stats"}),
        ("SplitLayer", {"can_do_bp"}),
    ],
)
def test_builtin_traits_match_mocha(cls, traits):
    layer_cls = mocha.lookup("layers", cls)
    assert {t for t in TRAITS if getattr(layer_cls, t)} == traits


def test_unknown_trait_keyword_is_a_type_error():
    with pytest.raises(TypeError, match=r"unknown layer trait\(s\) \['can_bp'\]"):

        class Bad(Layer, can_bp=True):
            pass


def test_layers_compare_by_identity():
    a = mocha.InnerProductLayer(name="ip", output_dim=3, bottoms=["x"], tops=["y"])
    b = mocha.copy(a, output_dim=5)
    assert a == a and a != b  # same name, bottoms and tops, but not the same layer
    assert a != mocha.copy(a)
    assert len({a, b, ScaleLayer(bottoms=["x"], tops=["y"])}) == 3  # hashable


@pytest.mark.parametrize(
    ("rule_b", "rule_t", "bottoms", "tops", "error"),
    [
        ("any", "same", (), (), None),
        (">=1", "same", (), (), "needs >=1 bottom"),
        ("1", "same", ("a", "b"), ("c", "d"), "needs 1 bottom"),
        ("2", "0", ("a", "b"), (), None),
        ("2", "0", ("a", "b"), ("c",), "needs 0 top"),
        (">=2", "1", ("a",), ("y",), "needs >=2 bottom"),
        ("0", ">=1", (), ("x", "y"), None),
        ("0", ">=1", (), (), "needs >=1 top"),
        ("1", "same", ("a",), ("b", "c"), "needs as many tops as bottoms (1)"),
    ],
)
def test_check_counts(rule_b, rule_t, bottoms, tops, error):
    @dataclass(frozen=True, kw_only=True, eq=False)
    class Counted(Layer):
        state_cls = _NoopState

        def validate(self) -> None:
            check_counts(self, rule_b, rule_t)

    if error is None:
        Counted(bottoms=bottoms, tops=tops)
    else:
        with pytest.raises(LayerConfigError, match=re.escape(error)):
            Counted(bottoms=bottoms, tops=tops)


def test_pair():
    assert pair(3) == (3, 3) and pair((2, 5)) == (2, 5) and pair([1, 4]) == (1, 4)
    with pytest.raises(ValueError, match=r"\(height, width\) pair"):
        pair((1, 2, 3))
