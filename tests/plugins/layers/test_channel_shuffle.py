import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

from mocha import LayerConfigError, ShapeError
from mocha.plugins.layers.channel_shuffle import ChannelShuffleLayer
from mocha.testing import check_gradients, check_layer, run_layer


def oracle(x, groups):
    """PyTorch's channel_shuffle: view (N, g, C/g, ...), swap axes 1 and 2, flatten back."""
    n, c = x.shape[:2]
    return x.reshape(n, groups, c // groups, *x.shape[2:]).swapaxes(1, 2).reshape(x.shape)


def shuffle(**kw):
    kw.setdefault("bottoms", ["x"])
    kw.setdefault("tops", ["y"])
    return ChannelShuffleLayer(**kw)


def test_two_groups_of_three_interleave():
    x = np.arange(6.0).reshape(1, 6, 1, 1)
    y = run_layer(shuffle(groups=2), [x]).tops()[0]
    assert y.ravel().tolist() == [0, 3, 1, 4, 2, 5]


@settings(max_examples=25, deadline=None)
@given(
    groups=st.integers(1, 4),
    per=st.integers(1, 3),
    rest=st.sampled_from([(), (2,), (2, 3)]),
    seed=st.integers(0, 2**16),
)
def test_forward_oracle_and_gradients(groups, per, rest, seed):
    x = np.random.default_rng(seed).standard_normal((2, groups * per, *rest))
    layer = shuffle(groups=groups)
    np.testing.assert_array_equal(run_layer(layer, [x]).tops()[0], oracle(x, groups))
    assert check_gradients(layer, [x], seed=seed)["checked"] > 0


def test_backward_is_the_inverse_permutation():
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 6, 3))
    h = run_layer(shuffle(groups=3), [x])
    h.backward([g])
    np.testing.assert_array_equal(oracle(h.diffs[0].to_host(), 3), g)


def test_agrees_with_reference(backend):
    x = np.random.default_rng(2).standard_normal((2, 8, 3, 3))
    check_layer(shuffle(groups=4), [x], backend)


def test_bad_groups_are_refused():
    with pytest.raises(LayerConfigError, match=r"ChannelShuffleLayer\(name='channel-shuffle'\)"):
        shuffle(groups=0)
    with pytest.raises(ShapeError, match="multiple of groups=4"):
        run_layer(shuffle(groups=4), [np.ones((1, 6, 2, 2))])


SMOKE_CASES = {
    "ChannelShuffleLayer": Case(
        lambda t: L("ChannelShuffleLayer", groups=2, bottoms=["x"], tops=["y"]),
        [normal(2, 4, 3, 3)],
        shapes=[(2, 4, 3, 3)],
    ),
}
