"""EuclideanLossLayer is Caffe's EuclideanLoss: 1/(2N) Σ ‖a − b‖², the formula of
SquareLossLayer, under Caffe's name."""

import numpy as np
from layer_smoke import Case, L, normal

from mocha.plugins.layers.square_loss import EuclideanLossLayer, SquareLossLayer
from mocha.testing import check_gradients, check_layer, run_layer


def test_loss_and_gradients_are_caffes_formula():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 3, 2, 2)), rng.standard_normal((4, 3, 2, 2))
    layer = EuclideanLossLayer(bottoms=["a", "b"])
    h = run_layer(layer, [a, b])
    assert layer.name == "euclidean-loss"
    np.testing.assert_allclose(h.state.loss, ((a - b) ** 2).sum() / (2 * 4), rtol=1e-13)
    h.backward()
    np.testing.assert_allclose(h.diffs[0].to_host(), (a - b) / 4, rtol=1e-13)
    np.testing.assert_allclose(h.diffs[1].to_host(), -(a - b) / 4, rtol=1e-13)
    square = run_layer(SquareLossLayer(bottoms=["a", "b"]), [a, b])
    assert square.state.loss == h.state.loss  # the same layer under another name
    assert check_gradients(layer, [a, b])["checked"] > 0


def test_agrees_with_reference(backend):
    rng = np.random.default_rng(1)
    check_layer(
        EuclideanLossLayer(bottoms=["a", "b"], weight=0.5),
        [rng.standard_normal((3, 4)), rng.standard_normal((3, 4))],
        backend,
    )


SMOKE_CASES = {
    "EuclideanLossLayer": Case(
        lambda t: L("EuclideanLossLayer", bottoms=["p", "y"]), [normal(4, 3), normal(4, 3)]
    ),
}
