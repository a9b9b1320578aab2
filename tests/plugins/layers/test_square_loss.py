"""SquareLossLayer (semantics §3.14): loss, both gradients (A15), running statistics."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

from mocha import LayerConfigError, ShapeError
from mocha.plugins.layers.square_loss import SquareLossLayer
from mocha.testing import check_gradients, check_layer, run_layer

shapes = st.lists(st.integers(1, 3), min_size=1, max_size=4).map(tuple)


def layer(**kw):
    return SquareLossLayer(name="sq", bottoms=["pred", "label"], **kw)


@given(shape=shapes, seed=st.integers(0, 2**16), weight=st.floats(0, 3))
def test_forward_and_backward_match_the_oracle(shape, seed, weight):
    rng = np.random.default_rng(seed)
    pred, label = rng.standard_normal(shape), rng.standard_normal(shape)
    h = run_layer(layer(weight=weight), [pred, label])
    n = shape[0]
    assert h.state.loss == pytest.approx(weight * 0.5 / n * np.sum((pred - label) ** 2))
    h.backward()
    np.testing.assert_allclose(h.diffs[0].to_host(), weight / n * (pred - label))
    np.testing.assert_allclose(h.diffs[1].to_host(), -weight / n * (pred - label))


@given(shape=shapes, seed=st.integers(0, 2**16), no_grad=st.sampled_from([(), (0,), (1,)]))
def test_gradients_float64_each_bottom_alone_or_both(shape, seed, no_grad):
    rng = np.random.default_rng(seed)
    pred, label = rng.standard_normal(shape), rng.standard_normal(shape)
    assert (
        check_gradients(layer(weight=1.7), [pred, label], no_grad=no_grad, seed=seed)["checked"] > 0
    )


def test_label_gradient_alone_does_not_need_the_prediction_gradient():
    h = run_layer(layer(), [np.ones((2, 3)), np.zeros((2, 3))], no_grad=[0])
    h.backward()
    assert h.diffs[0].is_null
    np.testing.assert_allclose(h.diffs[1].to_host(), -np.ones((2, 3)) / 2)


def test_label_of_another_shape_with_the_same_elements():
    rng = np.random.default_rng(0)
    pred, label = rng.standard_normal((4, 1)), rng.standard_normal((4,))
    h = run_layer(layer(), [pred, label])
    assert h.state.loss == pytest.approx(0.5 / 4 * np.sum((pred[:, 0] - label) ** 2))
    check_gradients(layer(), [pred, label])


def test_statistics_are_a_batch_weighted_running_mean_and_reset():
    h = run_layer(layer(), [np.ones((2, 2)), np.zeros((2, 2))])  # loss = 0.5/2·4 = 1
    assert h.state.dump_statistics() == {"sq-square-loss": pytest.approx(1.0)}
    h.inputs[0].data[...] = 3.0  # loss = 0.5/2·36 = 9
    h.forward()
    assert h.state.dump_statistics()["sq-square-loss"] == pytest.approx(5.0)
    assert "avg over 4" in h.state.statistics_summary()
    h.state.reset_statistics()
    assert h.state.dump_statistics()["sq-square-loss"] == 0.0
    h.forward()
    assert h.state.dump_statistics()["sq-square-loss"] == pytest.approx(9.0)


def test_agrees_with_the_reference_on_each_backend(backend):
    rng = np.random.default_rng(1)
    check_layer(
        layer(weight=0.5),
        [rng.standard_normal((3, 2, 2, 2)), rng.standard_normal((3, 2, 2, 2))],
        backend,
    )


def test_errors_name_the_blobs_and_values():
    with pytest.raises(ShapeError, match=r"'pred' \(2, 3\) and 'label' \(2, 2\)"):
        run_layer(layer(), [np.zeros((2, 3)), np.zeros((2, 2))])
    with pytest.raises(ShapeError, match="same batch size"):
        run_layer(layer(), [np.zeros((2, 3)), np.zeros((3, 2))])
    with pytest.raises(LayerConfigError, match=r"SquareLossLayer\(name='sq'\).*'weight' = -1"):
        layer(weight=-1)


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "SquareLossLayer": Case(
        lambda t: L("SquareLossLayer", bottoms=["p", "y"]), [normal(4, 3), normal(4, 3)]
    ),
}
