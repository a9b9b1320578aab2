import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

from mocha import LayerConfigError, MemoryDataLayer, Net, ShapeError
from mocha.plugins.layers.reshape import ReshapeLayer
from mocha.testing import check_gradients, check_layer, reference_backend, run_layer


def test_forward_is_a_numpy_order_view():
    x = np.arange(24.0).reshape(2, 12)
    layer = ReshapeLayer(shape=(3, 2, 2), bottoms=["x"], tops=["y"])
    h = run_layer(layer, [x])
    (y,) = h.tops()
    np.testing.assert_array_equal(y, x.reshape(2, 3, 2, 2))
    # a view: writing the bottom changes the top, and the diffs share memory too
    h.inputs[0].data[0, 0] = -1.0
    assert h.state.blobs[0].data[0, 0, 0, 0] == -1.0
    h.state.blobs_diff[0].data[1, 2, 1, 1] = 7.0
    assert h.diffs[0].data[1, 11] == 7.0


def test_int_shape_and_several_bottoms():
    layer = ReshapeLayer(shape=6, bottoms=["a", "b"], tops=["ya", "yb"])
    ya, yb = run_layer(layer, [np.ones((2, 2, 3)), np.ones((5, 3, 1, 2))]).tops()
    assert ya.shape == (2, 6) and yb.shape == (5, 6)


@given(dims=st.lists(st.integers(1, 3), min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_gradients_float64(dims, seed):
    x = np.random.default_rng(seed).standard_normal((2, int(np.prod(dims))))
    check_gradients(ReshapeLayer(shape=tuple(dims), bottoms=["x"], tops=["y"]), [x], seed=seed)


def test_agrees_with_reference_on_each_backend(backend):
    x = np.random.default_rng(1).standard_normal((3, 2, 4))
    check_layer(ReshapeLayer(shape=(4, 2), bottoms=["x"], tops=["y"]), [x], backend)


def test_nullblob_diff_stays_null():
    h = run_layer(
        ReshapeLayer(shape=(2,), bottoms=["x"], tops=["y"]), [np.ones((1, 2))], no_grad=[0]
    )
    assert h.state.blobs_diff[0].is_null


def test_in_a_net_the_top_shares_the_producer_memory():
    backend = reference_backend()
    net = Net(
        "r",
        backend,
        [
            MemoryDataLayer(data=[np.arange(12.0).reshape(2, 6)], tops=["x"], batch_size=2),
            ReshapeLayer(shape=(2, 3), bottoms=["x"], tops=["y"]),
        ],
    )
    net.forward()
    np.testing.assert_array_equal(net.output_blobs["y"].to_host(), np.arange(12.0).reshape(2, 2, 3))


def test_errors():
    with pytest.raises(LayerConfigError, match=r"'shape' = \(3, 0\)"):
        ReshapeLayer(shape=(3, 0), bottoms=["x"], tops=["y"])
    with pytest.raises(TypeError, match="shape"):
        ReshapeLayer(bottoms=["x"], tops=["y"])
    layer = ReshapeLayer(name="rs", shape=(4, 2), bottoms=["x"], tops=["y"])
    with pytest.raises(ShapeError, match=r"ReshapeLayer\('rs'\).*'x' \(2, 7\) has 7.*holds 8"):
        run_layer(layer, [np.ones((2, 7))])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "ReshapeLayer": Case(
        lambda t: L("ReshapeLayer", shape=(4, 3), bottoms=["x"], tops=["y"]),
        [normal(2, 3, 4)],
        shapes=[(2, 4, 3)],
    ),
}
