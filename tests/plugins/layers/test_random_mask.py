import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

from mocha import LayerConfigError, MemoryDataLayer, Net, SplitLayer
from mocha.plugins.layers.random_mask import RandomMaskLayer
from mocha.testing import check_gradients, check_layer, reference_backend, run_layer


def test_masks_without_rescaling_and_independently_per_bottom():
    rng = np.random.default_rng(123)
    a, b = rng.uniform(1, 2, (40, 250)), rng.uniform(1, 2, (40, 250))
    h = run_layer(RandomMaskLayer(ratio=0.3, bottoms=["a", "b"]), [a, b])
    ya, yb = h.tops()
    for x, y in ((a, ya), (b, yb)):
        kept = y != 0
        assert abs(1 - kept.mean() - 0.3) < 0.02  # 10,000 draws: the std is 0.0046
        np.testing.assert_array_equal(y[kept], x[kept])  # no 1/(1-ratio)
    assert not np.array_equal(ya != 0, yb != 0)


@given(
    shapes=st.lists(st.lists(st.integers(1, 3), min_size=1, max_size=2), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_gradients_float64(shapes, seed):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((2, *s)) for s in shapes]
    layer = RandomMaskLayer(ratio=0.4, bottoms=[f"x{i}" for i in range(len(xs))])
    check_gradients(layer, xs, seed=seed)


def test_agrees_with_reference_on_each_backend(backend):
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((2, 5))]
    check_layer(RandomMaskLayer(bottoms=["a", "b"]), xs, backend)


def test_nullblob_diffs_are_honoured():
    xs = [np.ones((2, 3)), np.ones((2, 4))]
    h = run_layer(RandomMaskLayer(bottoms=["a", "b"]), xs, no_grad=[0])
    g = np.ones((2, 4))
    h.diffs[1].data[...] = g
    h.state.backward(h.backend, h.inputs, h.diffs)
    np.testing.assert_array_equal(h.diffs[1].to_host(), (h.state.masks[1].to_host() != 0) * g)
    np.testing.assert_array_equal(h.inputs[0].to_host(), xs[0])  # restored after backward


def test_corrupts_only_the_split_copy_in_a_train_net_and_nothing_in_a_test_net():
    x = np.random.default_rng(2).uniform(1, 2, (4, 30))

    def layers():
        return [
            MemoryDataLayer(data=[x], tops=["x"], batch_size=4),
            SplitLayer(bottoms=["x"], tops=["orig", "corrupt"]),
            RandomMaskLayer(ratio=0.5, bottoms=["corrupt"]),
        ]

    net = Net("dae", reference_backend(), layers(), phase="train")  # no loss: say "train"
    net.forward()
    np.testing.assert_array_equal(net.output_blobs["orig"].to_host(), x)
    corrupt = net.output_blobs["corrupt"].to_host()
    assert 0.3 < (corrupt == 0).mean() < 0.7
    test_net = Net("dae-test", reference_backend(), layers(), phase="test")
    test_net.forward()
    np.testing.assert_array_equal(test_net.output_blobs["corrupt"].to_host(), x)
    default = Net("dae-forward-only", reference_backend(), layers())  # no loss layer: "test"
    assert default.phase == "test"
    default.forward()
    np.testing.assert_array_equal(default.output_blobs["corrupt"].to_host(), x)


def test_errors():
    with pytest.raises(LayerConfigError, match=r"RandomMaskLayer\(name='random-mask'\).*'ratio'"):
        RandomMaskLayer(ratio=1.0, bottoms=["x"])
    with pytest.raises(LayerConfigError, match="bottoms"):
        RandomMaskLayer(bottoms=[])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "RandomMaskLayer": Case(
        lambda t: L("RandomMaskLayer", ratio=0.4, bottoms=["a", "b"]), [normal(3, 4), normal(2, 5)]
    ),
}
