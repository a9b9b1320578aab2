import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, uniform

from mocha import LayerConfigError
from mocha.plugins.layers.power import PowerLayer
from mocha.testing import check_gradients, check_layer, run_layer


def oracle(x, power, scale, shift):
    return (scale * x + shift) ** power


@pytest.mark.parametrize(
    "power,scale,shift",
    [
        (2, 1, 0),
        (2, 0, 1.5),
        (3, 0.5, -1),
        (4, 1, 0),
        (0, 2, 1),
        (1, 3, 0),
        (-1, 1, 3),
        (0.5, 2, 5),
        (2.5, 1, 4),
    ],
)
def test_forward_matches_oracle(power, scale, shift):
    x = np.random.default_rng(0).uniform(-1, 1, (3, 2, 4))
    layer = PowerLayer(power=power, scale=scale, shift=shift, bottoms=["x"], tops=["y"])
    (y,) = run_layer(layer, [x]).tops()
    np.testing.assert_allclose(y, oracle(x, power, scale, shift), rtol=1e-12)


def test_shift_zero_at_x_zero_has_no_nan_gradient():
    # Mocha computed power·y/x here and got NaN at x = 0; the formula gives 0
    layer = PowerLayer(power=3, bottoms=["x"], tops=["y"])
    h = run_layer(layer, [np.zeros((1, 3))])
    h.backward([np.ones((1, 3))])
    np.testing.assert_array_equal(h.diffs[0].to_host(), np.zeros((1, 3)))


@given(
    power=st.sampled_from([0, 1, 2, 3, -1, 0.5, 2.5]),
    scale=st.sampled_from([0, 0.5, 1, 2]),
    shape=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_gradients_float64(power, scale, shape, seed):
    # shift 3 keeps scale·x + shift > 0 for x in [-1, 1] (fractional and negative powers)
    x = np.random.default_rng(seed).uniform(-1, 1, (2, *shape))
    layer = PowerLayer(power=power, scale=scale, shift=3.0, bottoms=["x"], tops=["y"])
    check_gradients(layer, [x], seed=seed)


def test_two_bottoms_of_different_shapes():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((4, 1, 2, 2))
    layer = PowerLayer(power=2, scale=2, shift=1, bottoms=["a", "b"], tops=["ya", "yb"])
    ya, yb = run_layer(layer, [a, b]).tops()
    np.testing.assert_allclose(ya, oracle(a, 2, 2, 1))
    np.testing.assert_allclose(yb, oracle(b, 2, 2, 1))
    check_gradients(layer, [a, b])


def test_agrees_with_reference_on_each_backend(backend):
    x = np.random.default_rng(2).uniform(0.5, 1.5, (4, 3, 2, 2))
    check_layer(PowerLayer(power=3, scale=0.5, shift=1, bottoms=["x"], tops=["y"]), [x], backend)


def test_nullblob_diff_is_honoured():
    layer = PowerLayer(power=2, bottoms=["x"], tops=["y"])
    h = run_layer(layer, [np.ones((2, 3))], no_grad=[0])
    assert h.state.blobs_diff[0].is_null
    h.backward()  # nothing to write; must not fail


def test_bad_fields_are_named():
    with pytest.raises(LayerConfigError, match=r"PowerLayer\(name='p'\).*'power' = 'two'"):
        PowerLayer(name="p", power="two", bottoms=["x"], tops=["y"])
    with pytest.raises(LayerConfigError, match="tops"):
        PowerLayer(bottoms=["x", "z"], tops=["y"])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "PowerLayer": Case(
        lambda t: L("PowerLayer", power=2.5, scale=0.7, shift=0.3, bottoms=["x"], tops=["y"]),
        [uniform(0.5, 2.0, 4, 3)],
        shapes=[(4, 3)],
    ),
}
