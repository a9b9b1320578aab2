import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

from mocha import (
    InnerProductLayer,
    LayerConfigError,
    MemoryDataLayer,
    Net,
    Neurons,
    SoftmaxLossLayer,
)
from mocha.plugins.layers.dropout import DropoutLayer
from mocha.testing import check_gradients, check_layer, reference_backend, run_layer


@pytest.mark.parametrize("ratio", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("auto_scale", [True, False])
def test_mask_statistics_and_scaling(ratio, auto_scale):
    x = np.random.default_rng(123).uniform(1, 2, (50, 400))  # not the backend seed
    layer = DropoutLayer(ratio=ratio, auto_scale=auto_scale, bottoms=["x"])
    (y,) = run_layer(layer, [x]).tops()
    kept = y != 0
    assert abs(1 - kept.mean() - ratio) < 0.01  # 20,000 draws: the std is ≤ 0.0036
    scale = 1 / (1 - ratio) if auto_scale else 1.0
    np.testing.assert_allclose(y[kept], x[kept] * scale)
    if auto_scale:
        assert abs(y.mean() / x.mean() - 1) < 0.02  # E[y] = x


def test_fresh_mask_every_forward():
    layer = DropoutLayer(bottoms=["x"])
    h = run_layer(layer, [np.ones((4, 50))])
    first = h.tops()[0]
    h.inputs[0].data[...] = 1.0
    h.state.forward(h.backend, h.inputs)  # no RNG restore: the next draw
    assert not np.array_equal(first, h.state.blobs[0].to_host())


def test_backward_applies_the_same_mask_and_restores_the_input():
    x = np.random.default_rng(1).uniform(1, 2, (3, 20))
    h = run_layer(DropoutLayer(ratio=0.3, bottoms=["x"]), [x])
    y = h.tops()[0]
    g = np.random.default_rng(2).standard_normal(x.shape)
    h.backward([g])
    np.testing.assert_allclose(h.diffs[0].to_host(), g * (y != 0) / 0.7)
    np.testing.assert_array_equal(h.inputs[0].to_host(), x)  # A8: the original is back


@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
    ratio=st.sampled_from([0.1, 0.5, 0.9]),
    auto_scale=st.booleans(),
)
def test_gradients_float64(shape, seed, ratio, auto_scale):
    x = np.random.default_rng(seed).standard_normal((2, *shape))
    layer = DropoutLayer(ratio=ratio, auto_scale=auto_scale, bottoms=["x"])
    check_gradients(layer, [x], seed=seed)


def test_agrees_with_reference_on_each_backend(backend):
    x = np.random.default_rng(3).standard_normal((4, 10)).astype(np.float32)
    check_layer(DropoutLayer(ratio=0.4, bottoms=["x"]), [x], backend)


def test_is_the_identity_in_a_test_net():
    x = np.random.default_rng(4).standard_normal((3, 5))
    h = run_layer(DropoutLayer(bottoms=["x"]), [x], phase="test")
    np.testing.assert_array_equal(h.tops()[0], x)
    h.backward([np.ones_like(x)])
    np.testing.assert_array_equal(h.diffs[0].to_host(), np.ones_like(x))
    net = Net(
        "t",
        reference_backend(),
        [
            MemoryDataLayer(data=[x], tops=["x"], batch_size=3),
            DropoutLayer(bottoms=["x"]),
        ],
        phase="test",
    )
    net.forward()
    np.testing.assert_array_equal(net.output_blobs["x"].to_host(), x)


def test_nullblob_diff_is_honoured_and_input_still_restored():
    x = np.ones((2, 8))
    h = run_layer(DropoutLayer(bottoms=["x"]), [x], no_grad=[0])
    h.backward()
    np.testing.assert_array_equal(h.inputs[0].to_host(), x)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_a8_producer_neuron_backward_sees_its_original_output():
    """Sigmoid IP → Dropout → IP → SoftmaxLoss: the first IP's weight gradient must use
    σ'(z) = h(1−h) with the pre-dropout h (Mocha's CPU code used the dropped, scaled h)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 6))
    label = rng.integers(0, 3, (4, 1)).astype(np.float64)
    backend = reference_backend()
    net = Net(
        "a8",
        backend,
        [
            MemoryDataLayer(data=[x, label], batch_size=4),
            InnerProductLayer(
                name="ip1", output_dim=8, neuron=Neurons.Sigmoid(), bottoms=["data"], tops=["h"]
            ),
            DropoutLayer(name="drop", ratio=0.5, bottoms=["h"]),
            InnerProductLayer(name="ip2", output_dim=3, bottoms=["h"], tops=["out"]),
            SoftmaxLossLayer(bottoms=["out", "label"]),
        ],
    )
    net.init()
    net.forward()
    net.backward()
    W1, b1 = (p.blob.to_host() for p in net.state_of("ip1").parameters)
    W2, b2 = (p.blob.to_host() for p in net.state_of("ip2").parameters)
    mask = net.state_of("drop").masks[0].to_host()  # [u > ratio] · 2
    assert 0 < (mask == 0).sum() < mask.size

    h = sigmoid(x @ W1.T + b1)
    out = (h * mask) @ W2.T + b2
    p = np.exp(out - out.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g_out = (p - np.eye(3)[label[:, 0].astype(int)]) / 4
    g_z = (g_out @ W2) * mask * h * (1 - h)
    np.testing.assert_allclose(
        net.state_of("ip1").parameters[0].gradient.to_host(), g_z.T @ x, rtol=1e-10
    )
    np.testing.assert_allclose(net.output_blobs["h"].to_host(), h, rtol=1e-12)  # restored


def test_errors():
    for bad in (0, 1, 1.5, -0.1, "half"):
        with pytest.raises(LayerConfigError, match=r"DropoutLayer\(name='dropout'\).*'ratio'"):
            DropoutLayer(ratio=bad, bottoms=["x"])
    with pytest.raises(LayerConfigError, match="bottoms"):
        DropoutLayer(bottoms=["x", "y"])
    with pytest.raises(LayerConfigError, match="tops"):
        DropoutLayer(bottoms=["x"], tops=["y"])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "DropoutLayer": Case(lambda t: L("DropoutLayer", ratio=0.3, bottoms=["x"]), [normal(4, 5)]),
}
