import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

from mocha import LayerConfigError, ShapeError
from mocha.plugins.layers.argmax import ArgmaxLayer
from mocha.testing import check_layer, run_layer


def oracle(x, axis):
    return np.expand_dims(np.argmax(x, axis=axis), axis).astype(x.dtype)


@given(
    shape=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_forward_matches_oracle_with_ties(shape, seed, data):
    dim = data.draw(
        st.sampled_from([d for d in range(-len(shape), len(shape)) if d % len(shape) != 0])
    )
    x = np.random.default_rng(seed).integers(0, 3, shape).astype(np.float64)  # many ties
    (y,) = run_layer(ArgmaxLayer(dim=dim, bottoms=["x"], tops=["y"]), [x]).tops()
    np.testing.assert_array_equal(y, oracle(x, dim))


def test_first_maximum_wins_and_index_is_zero_based_in_data_dtype():
    x = np.array([[1.0, 5.0, 5.0], [9.0, 9.0, 9.0]])
    h = run_layer(ArgmaxLayer(bottoms=["x"], tops=["y"]), [x])
    (y,) = h.tops()
    np.testing.assert_array_equal(y, [[1.0], [0.0]])
    assert h.state.blobs[0].dtype == np.float64


def test_channel_axis_of_4d_blobs_by_default(backend):
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 2)).astype(np.float32)
    dut = check_layer(ArgmaxLayer(bottoms=["x"], tops=["y"]), [x], backend)
    np.testing.assert_array_equal(dut.tops()[0], oracle(x, 1))


def test_cannot_back_propagate():
    layer = ArgmaxLayer(bottoms=["x"], tops=["y"])
    assert not layer.can_do_bp
    h = run_layer(layer, [np.ones((2, 3))])
    assert h.diffs[0].is_null


def test_errors():
    with pytest.raises(LayerConfigError, match="'dim' = 0"):
        ArgmaxLayer(dim=0, bottoms=["x"], tops=["y"])
    with pytest.raises(ShapeError, match=r"ArgmaxLayer\('argmax'\): dim=2 .* 'x' with 2 dims"):
        run_layer(ArgmaxLayer(dim=2, bottoms=["x"], tops=["y"]), [np.ones((2, 3))])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "ArgmaxLayer": Case(
        lambda t: L("ArgmaxLayer", dim=2, bottoms=["x"], tops=["y"]),
        [normal(4, 3, 5)],
        shapes=[(4, 3, 1)],
    ),
}
