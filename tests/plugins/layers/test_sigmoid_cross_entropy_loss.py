import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_smoke import Case, L, normal, uniform

from mocha import LayerConfigError, ShapeError
from mocha.plugins.layers.sigmoid_cross_entropy_loss import SigmoidCrossEntropyLossLayer
from mocha.testing import check_gradients, check_layer, run_layer


def sce(**kw):
    kw.setdefault("bottoms", ["x", "t"])
    return SigmoidCrossEntropyLossLayer(**kw)


def oracle(x, t):
    """−[t log σ + (1 − t) log(1 − σ)] summed, the naive way (moderate x only)."""
    s = 1 / (1 + np.exp(-x))
    return -(t * np.log(s) + (1 - t) * np.log(1 - s)).sum()


@pytest.mark.parametrize(
    "normalization, divisor", [("batch_size", 4), ("valid", 24), ("full", 24), ("none", 1)]
)
def test_loss_and_gradient_match_the_oracle(normalization, divisor):
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((4, 3, 2)) * 2, rng.uniform(0, 1, (4, 3, 2))
    h = run_layer(sce(normalization=normalization, weight=0.5), [x, t])
    assert h.state.loss == pytest.approx(0.5 * oracle(x, t) / divisor, rel=1e-12)
    h.backward()
    np.testing.assert_allclose(h.diffs[0].to_host(), 0.5 * (1 / (1 + np.exp(-x)) - t) / divisor)


def test_large_logits_stay_finite():
    x, t = np.array([[800.0, -800.0]]), np.array([[0.0, 1.0]])
    h = run_layer(sce(), [x, t])
    assert h.state.loss == pytest.approx(1600.0)
    h.backward()
    np.testing.assert_allclose(h.diffs[0].to_host(), [[1.0, -1.0]])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), no_grad=st.sampled_from([(), (1,)]))
def test_gradients_float64(seed, no_grad):
    rng = np.random.default_rng(seed)
    x, t = rng.standard_normal((3, 4)) * 3, rng.uniform(0, 1, (3, 4))
    assert check_gradients(sce(weight=1.3), [x, t], no_grad=no_grad, seed=seed)["checked"] > 0


def test_agrees_with_reference(backend):
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((5, 3)), rng.uniform(0, 1, (5, 3))
    check_layer(sce(normalization="valid"), [x, t], backend, no_grad=(1,))


def test_bad_configurations():
    with pytest.raises(LayerConfigError, match="'normalization'.*batch_size, full, valid, none"):
        sce(normalization="mean")
    with pytest.raises(ShapeError, match="same batch size and number of elements"):
        run_layer(sce(), [np.zeros((2, 3)), np.zeros((2, 2))])


SMOKE_CASES = {
    "SigmoidCrossEntropyLossLayer": Case(
        lambda t: L("SigmoidCrossEntropyLossLayer", bottoms=["x", "t"]),
        [normal(4, 3), uniform(0, 1, 4, 3)],
        no_grad=(1,),
    ),
}
