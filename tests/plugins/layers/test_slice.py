import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

from mocha import LayerConfigError, ShapeError
from mocha.plugins.layers.slice import SliceLayer
from mocha.testing import check_gradients, check_layer, run_layer


def cut(**kw):
    kw.setdefault("bottoms", ["x"])
    kw.setdefault("tops", ["a", "b"])
    return SliceLayer(**kw)


def test_slice_points_cut_like_numpy_split():
    x = np.random.default_rng(0).standard_normal((2, 7, 3))
    h = run_layer(cut(slice_points=[2, 3], tops=["a", "b", "c"]), [x])
    for got, want in zip(h.tops(), np.split(x, [2, 3], axis=1)):
        np.testing.assert_array_equal(got, want)


def test_without_points_the_axis_is_cut_evenly():
    x = np.random.default_rng(1).standard_normal((2, 3, 6))
    h = run_layer(cut(axis=-1, tops=["a", "b", "c"]), [x])
    assert [t.shape for t in h.tops()] == [(2, 3, 2)] * 3
    np.testing.assert_array_equal(np.concatenate(h.tops(), axis=2), x)


@settings(max_examples=25, deadline=None)
@given(
    size=st.integers(2, 6),
    axis=st.integers(0, 2),
    data=st.data(),
    seed=st.integers(0, 2**16),
)
def test_backward_puts_the_gradients_back_and_gradients_check(size, axis, data, seed):
    shape = [2, 3, 2]
    shape[axis] = size
    points = sorted(data.draw(st.sets(st.integers(1, size - 1), min_size=1, max_size=size - 1)))
    layer = cut(axis=axis, slice_points=points, tops=[f"t{i}" for i in range(len(points) + 1)])
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    h = run_layer(layer, [x])
    gs = [rng.standard_normal(t.shape) for t in h.tops()]
    h.backward(gs)
    np.testing.assert_array_equal(h.diffs[0].to_host(), np.concatenate(gs, axis=axis))
    assert check_gradients(layer, [x], seed=seed)["checked"] > 0


def test_agrees_with_reference(backend):
    x = np.random.default_rng(2).standard_normal((2, 5, 3, 3))
    check_layer(cut(slice_points=[3]), [x], backend)


def test_bad_points_are_refused():
    with pytest.raises(LayerConfigError, match="'slice_points'.*one point fewer"):
        cut(slice_points=[1, 2])
    with pytest.raises(ShapeError, match=r"SliceLayer\('slice'\): slice_points=\[3\] must"):
        run_layer(cut(slice_points=[3]), [np.ones((2, 3))])
    with pytest.raises(ShapeError, match="must split evenly into the 2 tops"):
        run_layer(cut(), [np.ones((2, 3))])
    with pytest.raises(LayerConfigError, match="'slice_points'"):
        cut(slice_points=["1"])


SMOKE_CASES = {
    "SliceLayer": Case(
        lambda t: L("SliceLayer", slice_points=[1], bottoms=["x"], tops=["a", "b"]),
        [normal(2, 3, 2)],
        shapes=[(2, 1, 2), (2, 2, 2)],
    ),
}
