"""GaussianKLLossLayer (semantics §3.14): KL to the standard normal, gradients, statistics."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal, uniform

from mocha import DataError, LayerConfigError, ShapeError
from mocha.plugins.layers.gaussian_kl_loss import GaussianKLLossLayer
from mocha.testing import check_gradients, check_layer, run_layer

shapes = st.lists(st.integers(1, 3), min_size=1, max_size=4).map(tuple)


def layer(**kw):
    return GaussianKLLossLayer(name="kl", **kw)


def kl_oracle(mu, sigma):
    """KL(N(mu, sigma²) ‖ N(0, 1)) summed, written from the densities' closed form."""
    return float(np.sum(np.log(1 / sigma) + (sigma**2 + mu**2) / 2 - 0.5))


@given(shape=shapes, seed=st.integers(0, 2**16), weight=st.floats(0, 3))
def test_forward_and_backward_match_the_oracle(shape, seed, weight):
    rng = np.random.default_rng(seed)
    mu, sigma = rng.standard_normal(shape), rng.uniform(0.2, 2.0, shape)
    h = run_layer(layer(weight=weight), [mu, sigma])
    n = shape[0]
    assert h.state.loss == pytest.approx(weight / n * kl_oracle(mu, sigma), rel=1e-10, abs=1e-12)
    h.backward()
    np.testing.assert_allclose(h.diffs[0].to_host(), weight / n * mu)
    np.testing.assert_allclose(h.diffs[1].to_host(), weight / n * (sigma - 1 / sigma))


@given(shape=shapes, seed=st.integers(0, 2**16), no_grad=st.sampled_from([(), (0,), (1,)]))
def test_gradients_float64(shape, seed, no_grad):
    rng = np.random.default_rng(seed)
    mu, sigma = rng.standard_normal(shape), rng.uniform(0.3, 2.0, shape)
    assert (
        check_gradients(layer(weight=1.4), [mu, sigma], no_grad=no_grad, seed=seed)["checked"] > 0
    )


def test_default_bottoms_and_zero_loss_at_the_standard_normal():
    assert layer().bottoms == ("mu", "sigma")
    h = run_layer(layer(), [np.zeros((3, 2)), np.ones((3, 2))])
    assert h.state.loss == 0.0


def test_statistics_are_the_running_mean_of_the_encoder_loss():
    h = run_layer(layer(), [np.ones((2, 1)), np.ones((2, 1))])  # 0.5/2·2 = 0.5
    h.inputs[0].data[...] = 3.0  # 0.5/2·(9·2) = 4.5
    h.forward()
    assert h.state.dump_statistics() == {"kl-encoder-loss": pytest.approx(2.5)}
    h.state.reset_statistics()
    assert h.state.dump_statistics() == {"kl-encoder-loss": 0.0}


def test_agrees_with_the_reference_on_each_backend(backend):
    rng = np.random.default_rng(1)
    check_layer(layer(), [rng.standard_normal((4, 3)), rng.uniform(0.5, 1.5, (4, 3))], backend)


def test_errors_name_the_blob_and_value():
    with pytest.raises(
        DataError,
        match=r"GaussianKLLossLayer\('kl'\): standard deviation "
        r"0\.0 in blob 'sigma'",
    ):
        run_layer(layer(), [np.zeros((1, 2)), np.array([[1.0, 0.0]])])
    with pytest.raises(ShapeError, match=r"'mu' \(2, 2\) and 'sigma' \(2, 3\)"):
        run_layer(layer(), [np.zeros((2, 2)), np.ones((2, 3))])
    with pytest.raises(LayerConfigError, match=r"'weight' = -1"):
        layer(weight=-1)


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "GaussianKLLossLayer": Case(
        lambda t: L("GaussianKLLossLayer", weight=0.7), [normal(4, 3), uniform(0.5, 1.5, 4, 3)]
    ),
}
