import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

from mocha import LayerConfigError, ShapeError
from mocha.plugins.layers.log_softmax import LogSoftmaxLayer
from mocha.testing import check_gradients, check_layer, run_layer


def oracle(x, axis):
    """log(softmax) written the long way, in float64."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return np.log(e / e.sum(axis=axis, keepdims=True))


def log_softmax(**kw):
    kw.setdefault("bottoms", ["x"])
    kw.setdefault("tops", ["y"])
    return LogSoftmaxLayer(**kw)


@given(
    shape=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_forward_oracle_and_gradients(shape, seed, data):
    axis = data.draw(st.integers(1, len(shape) - 1))
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    layer = log_softmax(dim=axis)
    np.testing.assert_allclose(run_layer(layer, [x]).tops()[0], oracle(x, axis), atol=1e-12)
    assert check_gradients(layer, [x], seed=seed)["checked"] > 0


def test_large_logits_stay_finite_where_the_naive_form_underflows():
    x = np.array([[1000.0, 0.0, -1000.0]])
    y = run_layer(log_softmax(), [x]).tops()[0]
    np.testing.assert_allclose(y, [[0.0, -1000.0, -2000.0]])


def test_negative_dim_counts_from_the_end():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    np.testing.assert_allclose(run_layer(log_softmax(dim=-1), [x]).tops()[0], oracle(x, 2))


def test_agrees_with_reference(backend):
    x = np.random.default_rng(2).standard_normal((3, 4, 2, 2))
    check_layer(log_softmax(), [x], backend)


def test_bad_dims_are_refused():
    with pytest.raises(LayerConfigError, match=r"LogSoftmaxLayer\(name='log-softmax'\).*'dim'"):
        log_softmax(dim=0)
    with pytest.raises(ShapeError, match="dim=3"):
        run_layer(log_softmax(dim=3), [np.ones((2, 3))])


SMOKE_CASES = {
    "LogSoftmaxLayer": Case(
        lambda t: L("LogSoftmaxLayer", bottoms=["x"], tops=["y"]), [normal(3, 5)], shapes=[(3, 5)]
    ),
}
