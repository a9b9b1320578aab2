import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

import mocha
from mocha import LayerConfigError, ShapeError
from mocha.plugins.layers.element_wise import ElementWiseFunctors, ElementWiseLayer
from mocha.testing import check_gradients, check_layer, run_layer

ORACLES = {
    "Add": lambda a, b: a + b,
    "Subtract": lambda a, b: a - b,
    "Multiply": lambda a, b: a * b,
    "Divide": lambda a, b: a / b,
}
OPS = sorted(ORACLES)


def inputs(shape, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    b = rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape)  # away from 0 for Divide
    return a, b


@pytest.mark.parametrize("op", OPS)
def test_forward_matches_oracle(op):
    a, b = inputs((3, 2, 2), 0)
    layer = ElementWiseLayer(
        operation=getattr(ElementWiseFunctors, op)(), bottoms=["a", "b"], tops=["y"]
    )
    (y,) = run_layer(layer, [a, b]).tops()
    np.testing.assert_allclose(y, ORACLES[op](a, b))


@given(
    op=st.sampled_from(OPS),
    shape=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_gradients_float64(op, shape, seed):
    a, b = inputs((2, *shape), seed)
    layer = ElementWiseLayer(operation=op, bottoms=["a", "b"], tops=["y"])
    assert check_gradients(layer, [a, b], seed=seed)["checked"] > 0


@pytest.mark.parametrize("op", OPS)
def test_agrees_with_reference_on_each_backend(op, backend):
    a, b = inputs((4, 3), 1)
    check_layer(ElementWiseLayer(operation=op, bottoms=["a", "b"], tops=["y"]), [a, b], backend)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("null", [0, 1])
def test_one_null_diff_leaves_the_other_gradient_right(op, null):
    a, b = inputs((2, 3), 2)
    layer = ElementWiseLayer(operation=op, bottoms=["a", "b"], tops=["y"])
    check_gradients(layer, [a, b], no_grad=[null])
    h = run_layer(layer, [a, b], no_grad=[null])
    h.backward([np.ones((2, 3))])
    assert h.diffs[null].is_null and not h.diffs[1 - null].is_null


def test_top_diff_is_null_only_when_both_bottom_diffs_are():
    a, b = inputs((2, 3), 3)
    layer = ElementWiseLayer(bottoms=["a", "b"], tops=["y"])
    assert run_layer(layer, [a, b], no_grad=[0, 1]).state.blobs_diff[0].is_null
    assert not run_layer(layer, [a, b], no_grad=[0]).state.blobs_diff[0].is_null


def test_operation_spellings():
    assert ElementWiseLayer(bottoms=["a", "b"], tops=["y"]).operation == ElementWiseFunctors.Add()
    spellings = ("divide", "Divide", ElementWiseFunctors.Divide, mocha.ElementWiseFunctors.Divide())
    for spelled in spellings:
        layer = ElementWiseLayer(operation=spelled, bottoms=["a", "b"], tops=["y"])
        assert layer.operation == ElementWiseFunctors.Divide()


def test_errors_name_layer_field_and_value():
    with pytest.raises(LayerConfigError, match=r"'operation' = 'Power'.*Add\(\)"):
        ElementWiseLayer(operation="Power", bottoms=["a", "b"], tops=["y"])
    with pytest.raises(LayerConfigError, match="bottoms"):
        ElementWiseLayer(bottoms=["a"], tops=["y"])
    layer = ElementWiseLayer(name="ew", bottoms=["a", "b"], tops=["y"])
    with pytest.raises(ShapeError, match=r"ElementWiseLayer\('ew'\).*'a' \(2, 3\).*'b' \(2, 4\)"):
        run_layer(layer, [np.ones((2, 3)), np.ones((2, 4))])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "ElementWiseLayer": Case(
        lambda t: L("ElementWiseLayer", operation="Multiply", bottoms=["a", "b"], tops=["y"]),
        [normal(3, 4), normal(3, 4)],
        shapes=[(3, 4)],
    ),
}
