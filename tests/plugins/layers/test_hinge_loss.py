"""HingeLossLayer (semantics §3.14, A6): weight in the forward, both gradients, statistics."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal, signs

from mocha import DataError, LayerConfigError, ShapeError
from mocha.plugins.layers.hinge_loss import HingeLossLayer
from mocha.testing import check_gradients, check_layer, run_layer

shapes = st.lists(st.integers(1, 3), min_size=1, max_size=4).map(tuple)


def layer(**kw):
    return HingeLossLayer(name="hinge", bottoms=["pred", "label"], **kw)


def away_from_kink(rng, shape, y):
    """Predictions whose margin 1 - pred·label is at least 0.2 away from the kink at 0."""
    margin = rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return (1 - margin) / y


@given(shape=shapes, seed=st.integers(0, 2**16), weight=st.floats(0, 3))
def test_forward_and_backward_match_the_oracle(shape, seed, weight):
    rng = np.random.default_rng(seed)
    y = rng.choice([-1.0, 1.0], shape)
    pred = away_from_kink(rng, shape, y)
    h = run_layer(layer(weight=weight), [pred, y], no_grad=[1])
    n = shape[0]
    want = weight / n * sum(max(0.0, 1 - p * t) for p, t in zip(pred.ravel(), y.ravel()))
    assert h.state.loss == pytest.approx(want, rel=1e-12, abs=1e-12)
    h.backward()
    np.testing.assert_allclose(h.diffs[0].to_host(), np.where(pred * y < 1, -weight / n * y, 0))


@given(shape=shapes, seed=st.integers(0, 2**16), no_grad=st.sampled_from([(), (0,), (1,)]))
def test_gradients_float64_for_both_bottoms(shape, seed, no_grad):
    rng = np.random.default_rng(seed)
    y = rng.choice([-1.0, 1.0], shape)
    if 1 not in no_grad:  # a label produced by a layer may take any value
        y = y * rng.uniform(0.5, 2.0, shape)
    pred = away_from_kink(rng, shape, y)
    counts = check_gradients(layer(weight=1.5), [pred, y], no_grad=no_grad, seed=seed)
    assert counts["checked"] > 0 and counts["skipped"] == 0


def test_weight_scales_the_forward_too():
    x, y = np.array([[0.5], [-2.0]]), np.array([[1.0], [1.0]])
    one = run_layer(layer(), [x, y], no_grad=[1]).state.loss
    assert one == pytest.approx((0.5 + 3.0) / 2)
    assert run_layer(layer(weight=3.0), [x, y], no_grad=[1]).state.loss == pytest.approx(3 * one)


def test_label_gradient_under_the_margin_only():
    x, y = np.array([[0.5], [2.0]]), np.array([[1.0], [1.0]])
    h = run_layer(layer(weight=2.0), [x, y])
    h.backward()
    np.testing.assert_allclose(h.diffs[1].to_host(), [[-2.0 / 2 * 0.5], [0.0]])


def test_statistics_are_the_running_mean_of_the_hinge_loss():
    h = run_layer(layer(), [np.zeros((2, 1)), np.ones((2, 1))], no_grad=[1])  # loss 1
    h.inputs[0].data[...] = -2.0  # loss 3
    h.forward()
    assert h.state.dump_statistics() == {"hinge-hinge-loss": pytest.approx(2.0)}
    h.state.reset_statistics()
    assert h.state.dump_statistics() == {"hinge-hinge-loss": 0.0}


def test_agrees_with_the_reference_on_each_backend(backend):
    rng = np.random.default_rng(1)
    y = rng.choice([-1.0, 1.0], (4, 3))
    check_layer(layer(), [away_from_kink(rng, (4, 3), y), y], backend, no_grad=[1])


def test_errors_name_the_blob_and_value():
    with pytest.raises(
        DataError,
        match=r"HingeLossLayer\('hinge'\): label 0\.0 in blob "
        r"'label'.*-1 or \+1",
    ):
        run_layer(layer(), [np.zeros((2, 1)), np.array([[1.0], [0.0]])], no_grad=[1])
    with pytest.raises(ShapeError, match=r"'pred' \(2, 1\) and 'label' \(2, 2\)"):
        run_layer(layer(), [np.zeros((2, 1)), np.ones((2, 2))], no_grad=[1])
    with pytest.raises(LayerConfigError, match=r"'weight' = -1"):
        layer(weight=-1)


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "HingeLossLayer": Case(
        lambda t: L("HingeLossLayer", bottoms=["p", "y"]), [normal(4, 3), signs(4, 3)]
    ),
}
