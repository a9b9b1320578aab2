import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

from mocha import LayerConfigError, ShapeError
from mocha.plugins.layers.concat import ConcatLayer
from mocha.testing import check_gradients, check_layer, run_layer


@pytest.mark.filterwarnings("ignore:.*in Mocha.jl:UserWarning")  # numpy-order dims on purpose
@pytest.mark.parametrize("dim", [0, 1, 2, 3, -1, -3])
def test_forward_matches_numpy_concatenate(dim):
    rng = np.random.default_rng(0)
    base = (2, 3, 4, 5)
    xs = []
    for k in (1, 2, 3):
        shape = list(base)
        shape[dim] = k
        xs.append(rng.standard_normal(shape))
    layer = ConcatLayer(dim=dim, bottoms=["a", "b", "c"], tops=["y"])
    (y,) = run_layer(layer, xs).tops()
    np.testing.assert_array_equal(y, np.concatenate(xs, axis=dim))


def test_default_is_the_channel_axis():
    a, b = np.zeros((2, 1, 3)), np.ones((2, 2, 3))
    (y,) = run_layer(ConcatLayer(bottoms=["a", "b"], tops=["y"]), [a, b]).tops()
    assert y.shape == (2, 3, 3)


@given(
    sizes=st.lists(st.integers(1, 3), min_size=2, max_size=4),
    rest=st.lists(st.integers(1, 3), min_size=1, max_size=2),
    dim=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_gradients_float64(sizes, rest, dim, seed):
    rng = np.random.default_rng(seed)
    dim = min(dim, len(rest))
    xs = []
    for k in sizes:
        shape = [2, *rest]
        shape[dim] = k
        xs.append(rng.standard_normal(shape))
    names = [f"x{i}" for i in range(len(xs))]
    layer = ConcatLayer(dim=dim, bottoms=names, tops=["y"])
    check_gradients(layer, xs, seed=seed)
    check_gradients(layer, xs, seed=seed, no_grad=[0])


def test_agrees_with_reference_on_each_backend(backend):
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 1, 2))]
    check_layer(ConcatLayer(bottoms=["a", "b"], tops=["y"]), xs, backend)


def test_top_diff_null_only_when_all_bottom_diffs_are_and_nullblobs_honoured():
    xs = [np.ones((2, 2)), np.ones((2, 3))]
    layer = ConcatLayer(bottoms=["a", "b"], tops=["y"])
    assert run_layer(layer, xs, no_grad=[0, 1]).state.blobs_diff[0].is_null
    h = run_layer(layer, xs, no_grad=[1])
    h.backward([np.arange(10.0).reshape(2, 5)])
    np.testing.assert_array_equal(h.diffs[0].to_host(), [[0, 1], [5, 6]])
    assert h.diffs[1].is_null


def test_errors():
    with pytest.raises(LayerConfigError, match="bottoms"):
        ConcatLayer(bottoms=["a"], tops=["y"])
    with pytest.raises(LayerConfigError, match="'dim' = 1.5"):
        ConcatLayer(dim=1.5, bottoms=["a", "b"], tops=["y"])
    layer = ConcatLayer(name="cat", bottoms=["a", "b"], tops=["y"])
    with pytest.raises(ShapeError, match=r"ConcatLayer\('cat'\).*'b' has shape \(2, 3, 5\)"):
        run_layer(layer, [np.ones((2, 3, 4)), np.ones((2, 3, 5))])
    with pytest.raises(ShapeError, match="dim=3 is not an axis"):
        run_layer(
            ConcatLayer(dim=3, bottoms=["a", "b"], tops=["y"]),
            [np.ones((2, 3, 4)), np.ones((2, 3, 4))],
        )
    with pytest.raises(ShapeError, match="'b'"):
        run_layer(layer, [np.ones((2, 3, 4)), np.ones((2, 3))])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "ConcatLayer": Case(
        lambda t: L("ConcatLayer", dim=1, bottoms=["a", "b"], tops=["y"]),
        [normal(2, 3, 2), normal(2, 1, 2)],
        shapes=[(2, 4, 2)],
    ),
}
