import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

from mocha import LayerConfigError, ShapeError
from mocha.plugins.layers.transpose import TransposeLayer
from mocha.testing import check_gradients, check_layer, run_layer


def transpose(**kw):
    kw.setdefault("bottoms", ["x"])
    kw.setdefault("tops", ["y"])
    return TransposeLayer(**kw)


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    data=st.data(),
    seed=st.integers(0, 2**16),
)
def test_forward_is_numpys_transpose_and_gradients_check(shape, data, seed):
    rest = data.draw(st.permutations(range(1, len(shape))))
    perm = [0, *rest]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    layer = transpose(perm=perm)
    h = run_layer(layer, [x])
    np.testing.assert_array_equal(h.tops()[0], x.transpose(perm))
    g = rng.standard_normal(h.tops()[0].shape)
    h.backward([g])
    np.testing.assert_array_equal(h.diffs[0].to_host(), g.transpose(np.argsort(perm)))
    assert check_gradients(layer, [x], seed=seed)["checked"] > 0


def test_agrees_with_reference(backend):
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5))
    check_layer(transpose(perm=[0, 2, 3, 1]), [x], backend)


def test_bad_perms_are_refused():
    with pytest.raises(LayerConfigError, match=r"TransposeLayer\(name='transpose'\).*'perm'"):
        transpose(perm=[1, 0])
    with pytest.raises(LayerConfigError, match="'perm'"):
        transpose(perm=[0, 2, 2])
    with pytest.raises(ShapeError, match=r"perm=\[0, 2, 1\] has 3 axes, bottom 'x' has shape"):
        run_layer(transpose(perm=[0, 2, 1]), [np.ones((2, 3))])


SMOKE_CASES = {
    "TransposeLayer": Case(
        lambda t: L("TransposeLayer", perm=[0, 2, 1], bottoms=["x"], tops=["y"]),
        [normal(2, 3, 4)],
        shapes=[(2, 4, 3)],
    ),
}
