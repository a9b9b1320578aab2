import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

from mocha import LayerConfigError, ShapeError
from mocha.plugins.layers.softmax import SoftmaxLayer
from mocha.testing import check_gradients, check_layer, run_layer


def oracle(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.filterwarnings("ignore:.*in Mocha.jl:UserWarning")  # numpy-order dims on purpose
@given(
    shape=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_forward_oracle_and_gradients(shape, seed, data):
    axis = data.draw(st.integers(1, len(shape) - 1))
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    layer = SoftmaxLayer(dim=axis, bottoms=["x"], tops=["y"])
    np.testing.assert_allclose(run_layer(layer, [x]).tops()[0], oracle(x, axis), rtol=1e-12)
    check_gradients(layer, [x], seed=seed)


def test_negative_dim_counts_from_the_end():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    y = run_layer(SoftmaxLayer(dim=-1, bottoms=["x"], tops=["y"]), [x]).tops()[0]
    np.testing.assert_allclose(y, oracle(x, 2))


def test_large_inputs_do_not_overflow():
    x = np.array([[1000.0, 1000.0, -1000.0]])
    y = run_layer(SoftmaxLayer(bottoms=["x"], tops=["y"]), [x]).tops()[0]
    np.testing.assert_allclose(y, [[0.5, 0.5, 0.0]])


def test_agrees_with_reference(backend):
    x = np.random.default_rng(2).standard_normal((3, 4, 2, 2))
    check_layer(SoftmaxLayer(bottoms=["x"], tops=["y"]), [x], backend)


def test_batch_axis_is_refused():
    with pytest.raises(LayerConfigError, match="'dim' = 0"):
        SoftmaxLayer(dim=0, bottoms=["x"], tops=["y"])


def test_axis_beyond_the_blob_is_refused():
    with pytest.raises(ShapeError, match="dim=3"):
        run_layer(SoftmaxLayer(dim=3, bottoms=["x"], tops=["y"]), [np.ones((2, 3))])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "SoftmaxLayer": Case(
        lambda t: L("SoftmaxLayer", bottoms=["x"], tops=["y"]),
        [normal(3, 4, 2)],
        shapes=[(3, 4, 2)],
    ),
}
