import numpy as np
import pytest
from layer_smoke import Case, L, labels

from mocha import DataError, LayerConfigError, ShapeError
from mocha.plugins.layers.index2onehot import Index2OnehotLayer
from mocha.testing import check_layer, run_layer


def oracle(x, n_class, axis):
    idx = np.squeeze(x, axis=axis).astype(int)
    return np.moveaxis(np.eye(n_class)[idx], -1, axis)


@pytest.mark.parametrize(
    "shape,dim", [((5, 1), 1), ((3, 1, 2, 2), 1), ((2, 3, 1), -1), ((2, 2, 1, 3), 2)]
)
def test_forward_matches_oracle(shape, dim):
    x = np.random.default_rng(0).integers(0, 4, shape).astype(np.float64)
    h = run_layer(Index2OnehotLayer(n_class=4, dim=dim, bottoms=["x"], tops=["y"]), [x])
    (y,) = h.tops()
    np.testing.assert_array_equal(y, oracle(x, 4, dim))
    assert y.dtype == np.float64


def test_agrees_with_reference_on_each_backend(backend):
    x = np.array([[0.0], [2.0], [1.0]])
    dut = check_layer(Index2OnehotLayer(n_class=3, bottoms=["x"], tops=["y"]), [x], backend)
    np.testing.assert_array_equal(dut.tops()[0], np.eye(3)[[0, 2, 1]])


@pytest.mark.parametrize("bad", [3.0, -1.0, 0.5])
def test_values_that_are_not_class_indices_are_refused(bad):
    layer = Index2OnehotLayer(name="oh", n_class=3, bottoms=["lbl"], tops=["y"])
    with pytest.raises(DataError, match=rf"Index2OnehotLayer\('oh'\): value {bad} in blob 'lbl'"):
        run_layer(layer, [np.array([[0.0], [bad]])])


def test_errors():
    with pytest.raises(LayerConfigError, match="'n_class' = 0"):
        Index2OnehotLayer(n_class=0, bottoms=["x"], tops=["y"])
    with pytest.raises(LayerConfigError, match="'dim' = 0"):
        Index2OnehotLayer(n_class=2, dim=0, bottoms=["x"], tops=["y"])
    layer = Index2OnehotLayer(n_class=2, bottoms=["x"], tops=["y"])
    with pytest.raises(ShapeError, match=r"'x' \(2, 3\) must have size 1 along dim=1"):
        run_layer(layer, [np.zeros((2, 3))])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "Index2OnehotLayer": Case(
        lambda t: L("Index2OnehotLayer", n_class=4, bottoms=["x"], tops=["y"]),
        [labels(4, 5, 1)],
        shapes=[(5, 4)],
    ),
}
