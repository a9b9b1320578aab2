"""Neurons (semantics §4.1): forward against NumPy, the backward factor (written with the
output) against float64 finite differences of the forward, ReLU's epsilon, LReLU's slope."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mocha import LayerConfigError, Neurons
from mocha.plugins.components.neurons import (
    Clip,
    Exponential,
    Identity,
    LReLU,
    ReLU,
    Sigmoid,
    Tanh,
)
from mocha.plugins.layers.inner_product import InnerProductLayer
from mocha.testing import check_gradients, reference_backend

ORACLES = {
    "Identity": (Identity(), lambda x: x),
    "ReLU": (ReLU(), lambda x: np.maximum(x, 0)),
    "ReLU(eps=0.25)": (ReLU(epsilon=0.25), lambda x: np.maximum(x, 0.25)),
    "LReLU": (LReLU(), lambda x: np.where(x > 0, x, 0.01 * x)),
    "Sigmoid": (Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    "Tanh": (Tanh(), np.tanh),
    "Exponential": (Exponential(), np.exp),
    "Clip (ReLU6)": (Clip(), lambda x: np.clip(x, 0, 6)),
    "Clip(-1, 0.5)": (Clip(min=-1.0, max=0.5), lambda x: np.minimum(np.maximum(x, -1), 0.5)),
}
KINKS = {
    "ReLU": [0.0],
    "ReLU(eps=0.25)": [0.25],
    "LReLU": [0.0],
    "Clip (ReLU6)": [0.0, 6.0],
    "Clip(-1, 0.5)": [-1.0, 0.5],
}


def apply_forward(neuron, x, backend):
    blob = backend.from_host(x)
    neuron.forward(backend, blob)
    return blob


def backward_factor(neuron, x, backend):
    """The factor the neuron's backward multiplies a top diff of ones by."""
    y = apply_forward(neuron, x, backend)
    diff = backend.from_host(np.ones_like(x))
    neuron.backward(backend, y, diff)
    return diff.to_host()


def away_from_kinks(x, kinks, gap=1e-3):
    for k in kinks:
        x = np.where(np.abs(x - k) < gap, k + 2 * gap, x)
    return x


@pytest.mark.parametrize("name", ORACLES)
@given(seed=st.integers(0, 2**16))
def test_forward_matches_numpy(name, seed):
    neuron, oracle = ORACLES[name]
    x = np.random.default_rng(seed).standard_normal((3, 5)) * 3
    np.testing.assert_allclose(
        apply_forward(neuron, x, reference_backend()).to_host(), oracle(x), rtol=1e-12
    )


@pytest.mark.parametrize("name", [n for n in ORACLES if n != "Identity"])
@given(seed=st.integers(0, 2**16))
def test_backward_factor_matches_finite_differences_of_the_forward(name, seed):
    neuron, _ = ORACLES[name]
    backend = reference_backend()
    x = away_from_kinks(
        np.random.default_rng(seed).standard_normal((4, 3)) * 2, KINKS.get(name, [])
    )
    h = 1e-6

    def f(v):
        return apply_forward(neuron, v, backend).to_host()

    numeric = (f(x + h) - f(x - h)) / (2 * h)
    np.testing.assert_allclose(backward_factor(neuron, x, backend), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", [n for n in ORACLES if n != "Identity"])
def test_gradients_through_an_inner_product_layer(name):
    neuron, _ = ORACLES[name]
    x = np.random.default_rng(7).standard_normal((3, 4))
    layer = InnerProductLayer(name="ip", output_dim=5, neuron=neuron, bottoms=["x"], tops=["y"])
    assert check_gradients(layer, [x])["checked"] > 0


def test_relu_epsilon_clips_below_and_has_no_gradient_at_or_below_it():
    x = np.array([[-1.0, 0.0, 0.1, 0.25, 0.3, 2.0]])
    backend = reference_backend()
    relu = ReLU(epsilon=0.25)
    np.testing.assert_array_equal(
        apply_forward(relu, x, backend).to_host(), [[0.25, 0.25, 0.25, 0.25, 0.3, 2.0]]
    )
    np.testing.assert_array_equal(backward_factor(relu, x, backend), [[0, 0, 0, 0, 1, 1]])
    np.testing.assert_array_equal(
        backward_factor(ReLU(), np.array([[0.0, 1e-9]]), backend), [[0, 1]]
    )


def test_leaky_relu_slope_is_fixed_at_one_hundredth():
    x = np.array([[-3.0, -0.5, 0.5]])
    backend = reference_backend()
    np.testing.assert_allclose(apply_forward(LReLU(), x, backend).to_host(), [[-0.03, -0.005, 0.5]])
    np.testing.assert_allclose(backward_factor(LReLU(), x, backend), [[0.01, 0.01, 1.0]])


def test_sigmoid_is_stable_for_large_inputs():
    x = np.array([[-1000.0, -40.0, 0.0, 40.0, 1000.0]])
    y = apply_forward(Sigmoid(), x, reference_backend("float32")).to_host()
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, [[0.0, 1 / (1 + np.exp(40)), 0.5, 1.0, 1.0]], rtol=1e-6)


def test_identity_is_skipped_and_changes_nothing():
    assert Identity().is_identity and not ReLU().is_identity
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(apply_forward(Identity(), x, reference_backend()).to_host(), x)


def test_neurons_resolve_through_the_registry():
    assert Neurons.ReLU is ReLU
    assert Neurons.Tanh() == Tanh()
    assert Neurons.ReLU(epsilon=0.1).epsilon == 0.1


@pytest.mark.parametrize("name", ORACLES)
def test_each_backend_agrees_with_numpy_in_float32(backend, name):
    neuron, oracle = ORACLES[name]
    x = np.random.default_rng(3).standard_normal((4, 6)).astype(np.float32)
    x = away_from_kinks(x, KINKS.get(name, []))
    np.testing.assert_allclose(
        apply_forward(neuron, x, backend).to_host(), oracle(x), rtol=1e-5, atol=1e-6
    )
    ref = backward_factor(neuron, x.astype(np.float64), reference_backend())
    if not neuron.is_identity:
        np.testing.assert_allclose(backward_factor(neuron, x, backend), ref, rtol=1e-5, atol=1e-6)


def test_clip_has_no_gradient_at_or_beyond_its_bounds():
    x = np.array([[-2.0, 0.0, 1e-9, 3.0, 6.0, 7.0]])
    backend = reference_backend()
    np.testing.assert_array_equal(
        apply_forward(Clip(), x, backend).to_host(), [[0.0, 0.0, 1e-9, 3.0, 6.0, 6.0]]
    )
    np.testing.assert_array_equal(backward_factor(Clip(), x, backend), [[0, 0, 1, 1, 0, 0]])


def test_clip_bounds_are_checked():
    assert Neurons.Clip(min=-1.0, max=1.0) == Clip(min=-1.0, max=1.0)
    with pytest.raises(LayerConfigError, match=r"Clip: field 'max'.*must be >= min \(1.0\)"):
        Clip(min=1.0, max=0.0)
    with pytest.raises(LayerConfigError, match="Clip: field 'min'.*must be a number"):
        Clip(min="low")
