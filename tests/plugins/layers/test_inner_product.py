import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

import mocha
from mocha import LayerConfigError, Neurons, ShapeError
from mocha.plugins.layers.inner_product import InnerProductLayer
from mocha.testing import check_gradients, check_layer, run_layer


def oracle(x, W, b):
    return x.reshape(x.shape[0], -1) @ W.T + b


@given(
    n=st.integers(1, 4),
    fea=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    out=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_gradients_float64(n, fea, out, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *fea))
    layer = InnerProductLayer(name="ip", output_dim=out, bottoms=["x"], tops=["y"])
    counts = check_gradients(layer, [x], seed=seed)
    assert counts["checked"] > 0


@given(seed=st.integers(0, 2**16))
def test_relu_neuron_gradients_with_kinks_skipped(seed):
    x = np.random.default_rng(seed).standard_normal((3, 6))
    layer = InnerProductLayer(
        name="ip", output_dim=4, neuron=Neurons.ReLU(), bottoms=["x"], tops=["y"]
    )
    check_gradients(layer, [x], seed=seed)


def test_forward_matches_oracle_with_two_bottoms_of_different_batch():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 2)), rng.standard_normal((5, 6))
    layer = InnerProductLayer(name="ip", output_dim=4, bottoms=["a", "b"], tops=["ya", "yb"])
    h = run_layer(layer, [a, b])
    W, bias = (p.blob.to_host() for p in h.state.parameters)
    ya, yb = h.tops()
    np.testing.assert_allclose(ya, oracle(a, W, bias))
    np.testing.assert_allclose(yb, oracle(b, W, bias))
    check_gradients(layer, [a, b])


def test_agrees_with_reference_on_each_backend(backend):
    x = np.random.default_rng(1).standard_normal((4, 3, 2, 2))
    layer = InnerProductLayer(
        name="ip", output_dim=5, neuron=Neurons.Tanh(), bottoms=["x"], tops=["y"]
    )
    check_layer(layer, [x], backend)


def test_nullblob_diff_is_not_written():
    x = np.ones((2, 3))
    layer = InnerProductLayer(name="ip", output_dim=2, bottoms=["x"], tops=["y"])
    h = run_layer(layer, [x], no_grad=[0])
    assert h.diffs[0].is_null
    h.backward([np.ones((2, 2))])  # must not fail and must still compute parameter gradients
    assert np.abs(h.state.parameters[0].gradient.to_host()).sum() > 0


def test_bad_output_dim_names_layer_field_and_value():
    with pytest.raises(LayerConfigError, match=r"InnerProductLayer\(name='ip'\).*'output_dim' = 0"):
        InnerProductLayer(name="ip", output_dim=0, bottoms=["x"], tops=["y"])


def test_unknown_field_suggests_the_close_name():
    with pytest.raises(LayerConfigError, match="output_dim"):
        InnerProductLayer(name="ip", outputdim=3, bottoms=["x"], tops=["y"])


def test_bottoms_with_different_feature_sizes_are_refused():
    layer = InnerProductLayer(name="ip", output_dim=2, bottoms=["a", "b"], tops=["c", "d"])
    with pytest.raises(ShapeError, match="same feature size"):
        run_layer(layer, [np.ones((2, 3)), np.ones((2, 4))])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "InnerProductLayer": Case(
        lambda t: L(
            "InnerProductLayer",
            name="ip",
            output_dim=4,
            neuron=mocha.Neurons.Sigmoid(),
            bottoms=["x"],
            tops=["y"],
        ),
        [normal(3, 2, 2)],
        shapes=[(3, 4)],
    ),
}
