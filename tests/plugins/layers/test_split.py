import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

from mocha import LayerConfigError
from mocha.plugins.layers.split import SplitLayer
from mocha.testing import check_gradients, check_layer, run_layer


def test_first_top_aliases_others_are_copies():
    x = np.arange(4.0).reshape(2, 2)
    h = run_layer(SplitLayer(bottoms=["x"], tops=["a", "b"]), [x])
    assert h.state.blobs[0] is h.inputs[0]
    assert h.state.blobs[1].data is not h.inputs[0].data
    np.testing.assert_array_equal(h.tops()[1], x)


def test_no_copy_aliases_every_top():
    x = np.arange(4.0).reshape(2, 2)
    h = run_layer(SplitLayer(no_copy=True, bottoms=["x"], tops=["a", "b"]), [x])
    h.state.blobs[1].data[0, 0] = 42.0
    assert h.inputs[0].data[0, 0] == 42.0


@given(k=st.integers(1, 4), seed=st.integers(0, 1000))
def test_backward_sums_the_top_gradients(k, seed):
    x = np.random.default_rng(seed).standard_normal((2, 3))
    layer = SplitLayer(bottoms=["x"], tops=[f"t{i}" for i in range(k)])
    h = run_layer(layer, [x])
    grads = [np.random.default_rng(seed + i).standard_normal((2, 3)) for i in range(k)]
    h.backward(grads)
    np.testing.assert_allclose(h.diffs[0].to_host(), np.sum(grads, axis=0))
    check_gradients(layer, [x], seed=seed)


def test_nullblob_bottom_diff_gives_null_top_diffs():
    h = run_layer(SplitLayer(bottoms=["x"], tops=["a", "b"]), [np.ones((2, 2))], no_grad=[0])
    assert all(d.is_null for d in h.state.blobs_diff)
    h.backward()


def test_agrees_with_reference(backend):
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    check_layer(SplitLayer(bottoms=["x"], tops=["a", "b", "c"]), [x], backend)


def test_needs_exactly_one_bottom():
    with pytest.raises(LayerConfigError, match=r"SplitLayer\(name='split'\).*'bottoms'"):
        SplitLayer(bottoms=["x", "y"], tops=["a"])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "SplitLayer": Case(
        lambda t: L("SplitLayer", bottoms=["x"], tops=["a", "b", "c"]),
        [normal(3, 4)],
        shapes=[(3, 4)] * 3,
    ),
}
