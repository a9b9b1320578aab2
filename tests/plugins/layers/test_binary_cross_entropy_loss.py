"""BinaryCrossEntropyLossLayer (semantics §3.14): loss, both gradients (A15), range errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, uniform

from mocha import DataError, LayerConfigError, ShapeError
from mocha.plugins.layers.binary_cross_entropy_loss import BinaryCrossEntropyLossLayer
from mocha.testing import check_gradients, check_layer, run_layer

shapes = st.lists(st.integers(1, 3), min_size=1, max_size=4).map(tuple)


def layer(**kw):
    return BinaryCrossEntropyLossLayer(name="bce", bottoms=["prob", "label"], **kw)


@given(shape=shapes, seed=st.integers(0, 2**16), weight=st.floats(0, 3), hard=st.booleans())
def test_forward_and_backward_match_the_oracle(shape, seed, weight, hard):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, shape)
    y = rng.integers(0, 2, shape).astype(float) if hard else rng.uniform(0, 1, shape)
    h = run_layer(layer(weight=weight), [p, y])
    n = shape[0]
    want = (
        -weight
        / n
        * sum(yi * np.log(pi) + (1 - yi) * np.log(1 - pi) for pi, yi in zip(p.ravel(), y.ravel()))
    )
    assert h.state.loss == pytest.approx(want, rel=1e-10, abs=1e-12)
    h.backward()
    np.testing.assert_allclose(h.diffs[0].to_host(), -weight / n * (y / p - (1 - y) / (1 - p)))
    np.testing.assert_allclose(h.diffs[1].to_host(), -weight / n * np.log(p / (1 - p)))


@given(shape=shapes, seed=st.integers(0, 2**16), no_grad=st.sampled_from([(), (0,), (1,)]))
def test_gradients_float64_each_bottom_alone_or_both(shape, seed, no_grad):
    rng = np.random.default_rng(seed)
    p, y = rng.uniform(0.05, 0.95, shape), rng.uniform(0.05, 0.95, shape)
    assert check_gradients(layer(weight=0.6), [p, y], no_grad=no_grad, seed=seed)["checked"] > 0


def test_label_gradient_alone_works():
    h = run_layer(layer(), [np.full((2, 1), 0.75), np.ones((2, 1))], no_grad=[0])
    h.backward()
    np.testing.assert_allclose(h.diffs[1].to_host(), np.full((2, 1), -np.log(3) / 2))


def test_probability_is_not_clamped():
    with np.errstate(divide="ignore"):
        h = run_layer(layer(), [np.array([[0.0]]), np.array([[1.0]])])
    assert h.state.loss == np.inf


def test_agrees_with_the_reference_on_each_backend(backend):
    rng = np.random.default_rng(1)
    p = rng.uniform(0.1, 0.9, (4, 3))
    check_layer(
        layer(weight=2.0), [p, rng.integers(0, 2, (4, 3)).astype(float)], backend, no_grad=[1]
    )  # hard labels sit on the edge of [0, 1]
    check_layer(layer(), [p, rng.uniform(0.1, 0.9, (4, 3))], backend)  # soft labels


def test_errors_name_the_blob_and_value():
    with pytest.raises(
        DataError,
        match=r"BinaryCrossEntropyLossLayer\('bce'\): label 2\.0 in "
        r"blob 'label'.*\[0, 1\]",
    ):
        run_layer(layer(), [np.full((2, 1), 0.5), np.array([[1.0], [2.0]])])
    with pytest.raises(DataError, match=r"probability 1\.5 in blob 'prob'"):
        run_layer(layer(), [np.array([[0.5], [1.5]]), np.zeros((2, 1))])
    with pytest.raises(ShapeError, match=r"'prob' \(2, 1\) and 'label' \(2, 2\)"):
        run_layer(layer(), [np.full((2, 1), 0.5), np.zeros((2, 2))])
    with pytest.raises(LayerConfigError, match=r"'weight' = -3"):
        layer(weight=-3)


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "BinaryCrossEntropyLossLayer": Case(
        lambda t: L("BinaryCrossEntropyLossLayer", weight=0.5, bottoms=["p", "y"]),
        [uniform(0.1, 0.9, 4, 3), uniform(0, 1, 4, 3)],
    ),
}
