import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

from mocha import LayerConfigError, ShapeError
from mocha.plugins.layers.pad import PadLayer
from mocha.testing import check_gradients, check_layer, run_layer


def pad(**kw):
    kw.setdefault("bottoms", ["x"])
    kw.setdefault("tops", ["y"])
    return PadLayer(**kw)


@settings(max_examples=25, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=2),
    value=st.sampled_from([0.0, -1.5]),
    seed=st.integers(0, 2**16),
)
def test_forward_is_numpys_constant_pad_and_gradients_check(pairs, value, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 2, 3))
    layer = pad(pad=[list(p) for p in pairs], value=value)
    h = run_layer(layer, [x])
    widths = [(0, 0)] * (4 - len(pairs)) + pairs
    np.testing.assert_array_equal(h.tops()[0], np.pad(x, widths, constant_values=value))
    assert check_gradients(layer, [x], seed=seed)["checked"] > 0


def test_backward_takes_the_inner_block():
    rng = np.random.default_rng(1)
    h = run_layer(pad(pad=[[1, 2]]), [rng.standard_normal((2, 3))])
    g = rng.standard_normal((2, 6))
    h.backward([g])
    np.testing.assert_array_equal(h.diffs[0].to_host(), g[:, 1:4])


def test_agrees_with_reference(backend):
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 4))
    check_layer(pad(pad=[[1, 0], [2, 1]], value=0.5), [x], backend)


def test_bad_pads_are_refused():
    with pytest.raises(LayerConfigError, match=r"PadLayer\(name='pad'\).*'pad'"):
        pad(pad=[[1, -1]])
    with pytest.raises(LayerConfigError, match="'pad'"):
        pad(pad=[1, 2])
    with pytest.raises(ShapeError, match="must keep its batch axis unpadded"):
        run_layer(pad(pad=[[1, 1], [1, 1]]), [np.ones((2, 3))])


SMOKE_CASES = {
    "PadLayer": Case(
        lambda t: L("PadLayer", pad=[[1, 1], [0, 2]], bottoms=["x"], tops=["y"]),
        [normal(2, 3, 2, 2)],
        shapes=[(2, 3, 4, 4)],
    ),
}
