import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_smoke import Case, L, labels, normal

from mocha import LayerConfigError, ShapeError
from mocha.plugins.layers.contrastive_loss import ContrastiveLossLayer
from mocha.testing import check_gradients, check_layer, run_layer


def contrastive(**kw):
    kw.setdefault("bottoms", ["a", "b", "y"])
    return ContrastiveLossLayer(**kw)


def oracle(a, b, y, margin, legacy=False):
    """Caffe's forward, one pair at a time."""
    total = 0.0
    for an, bn, yn in zip(a.reshape(len(a), -1), b.reshape(len(b), -1), y.ravel()):
        d2 = float(((an - bn) ** 2).sum())
        if int(yn):
            total += d2
        elif legacy:
            total += max(margin - d2, 0.0)
        else:
            total += max(margin - np.sqrt(d2), 0.0) ** 2
    return total / (2 * len(a))


@pytest.mark.parametrize("legacy", [False, True])
def test_loss_matches_caffes_formula(legacy):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((6, 3, 1, 1)) * 0.4, rng.standard_normal((6, 3, 1, 1)) * 0.4
    y = np.array([1, 0, 1, 0, 0, 1], float).reshape(6, 1, 1, 1)
    h = run_layer(contrastive(margin=1.5, legacy_version=legacy), [a, b, y], no_grad=[2])
    assert h.state.loss == pytest.approx(oracle(a, b, y, 1.5, legacy), rel=1e-12)


def test_similar_pairs_are_pulled_and_dissimilar_close_pairs_pushed():
    a = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    b = np.array([[0.0, 0.0], [0.5, 0.0], [3.0, 0.0]])
    y = np.array([[1.0], [0.0], [0.0]])
    h = run_layer(contrastive(margin=1.0), [a, b, y], no_grad=[2])
    h.backward()
    da = h.diffs[0].to_host()
    np.testing.assert_allclose(da[0], [1 / 3, 0])  # (a − b)/N
    np.testing.assert_allclose(da[1], [-(1 - 0.5) / 0.5 * -0.5 / 3, 0])  # pushed apart
    np.testing.assert_allclose(da[2], [0, 0])  # beyond the margin: no gradient
    np.testing.assert_allclose(h.diffs[1].to_host(), -da)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), legacy=st.booleans())
def test_gradients_float64(seed, legacy):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((5, 3)) * 0.5, rng.standard_normal((5, 3)) * 0.5
    y = rng.integers(0, 2, (5, 1)).astype(float)
    layer = contrastive(margin=1.2, legacy_version=legacy, weight=0.7)
    assert check_gradients(layer, [a, b, y], no_grad=[2], seed=seed)["checked"] > 0


def test_agrees_with_reference(backend):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((6, 4)) * 0.5, rng.standard_normal((6, 4)) * 0.5
    y = rng.integers(0, 2, (6, 1)).astype(float)
    check_layer(contrastive(), [a, b, y], backend, no_grad=(2,))


def test_bad_configurations():
    with pytest.raises(LayerConfigError, match="needs 3 bottoms"):
        contrastive(bottoms=["a", "b"])
    with pytest.raises(ShapeError, match="one similarity label per pair"):
        run_layer(contrastive(), [np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((3, 1))])


SMOKE_CASES = {
    "ContrastiveLossLayer": Case(
        lambda t: L("ContrastiveLossLayer", bottoms=["a", "b", "y"]),
        [normal(4, 3), normal(4, 3), labels(2, 4, 1)],
        no_grad=(2,),
    ),
}
