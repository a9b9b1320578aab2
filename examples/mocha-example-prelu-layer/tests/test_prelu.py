"""Tests of PReLULayer with Mocha's public testing kit (`mocha.testing`).

`backend` comes from Mocha's pytest plugin: one run per available backend (numpy, numba,
cupy where a GPU is usable), each compared with the float64 NumPy reference.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mocha_prelu import PReLULayer

import mocha
from mocha import GaussianInitializer
from mocha.testing import check_gradients, check_layer, run_layer

RANDOM = {"slope_init": GaussianInitializer(mean=0.25, std=0.5)}


def oracle(x, slope):
    """The forward pass in plain NumPy: the slopes broadcast along axis 1."""
    a = slope.reshape((1, -1) + (1,) * (x.ndim - 2))
    return np.where(x > 0, x, a * x)


def test_forward_matches_numpy():
    x = np.random.default_rng(0).standard_normal((4, 3, 5))
    h = run_layer(PReLULayer(bottoms=["x"], tops=["y"], **RANDOM), [x])
    [slope] = (p.blob.to_host() for p in h.state.parameters)
    np.testing.assert_allclose(h.tops()[0], oracle(x, slope), rtol=1e-12)
    assert not np.allclose(slope, 0.25)  # the initializer was used


@settings(max_examples=15, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple),
    seed=st.integers(0, 2**16),
)
def test_gradients_by_finite_differences(shape, seed):
    """float64 central differences for the bottom diff and the slopes' gradient."""
    x = np.random.default_rng(seed).standard_normal(shape)
    layer = PReLULayer(bottoms=["x"], tops=["y"], **RANDOM)
    counts = check_gradients(layer, [x], seed=seed)
    assert counts["checked"] > 0


def test_two_bottoms_sum_their_parameter_gradients():
    rng = np.random.default_rng(1)
    layer = PReLULayer(bottoms=["a", "b"], tops=["ya", "yb"], **RANDOM)
    counts = check_gradients(layer, [rng.standard_normal((2, 3, 2)), rng.standard_normal((5, 3))])
    assert counts["checked"] > 0


def test_on_every_backend(backend):
    x = np.random.default_rng(2).standard_normal((4, 3, 2, 2))
    check_layer(PReLULayer(bottoms=["x"], tops=["y"], **RANDOM), [x], backend)


def test_bottoms_need_the_same_channels():
    layer = PReLULayer(bottoms=["a", "b"], tops=["ya", "yb"])
    with pytest.raises(mocha.ShapeError, match="same number of channels"):
        run_layer(layer, [np.zeros((2, 3)), np.zeros((2, 4))])


def test_configuration_is_validated():
    with pytest.raises(mocha.LayerConfigError, match="'slope_lr' = -1"):
        PReLULayer(bottoms=["x"], tops=["y"], slope_lr=-1)


def test_found_through_the_entry_point():
    assert mocha.lookup("layers", "PReLULayer") is PReLULayer
    [entry] = [e for e in mocha.get_registry().entries("layers") if e.name == "PReLULayer"]
    assert (entry.plugin, entry.distribution) == ("layers.prelu", "mocha-example-prelu-layer")


def test_exports_to_onnx_through_its_own_rule(tmp_path):
    """The ONNX rule (Reshape, PRelu): onnxruntime computes what Mocha computes."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from mocha.interop import onnx

    x = np.random.default_rng(3).standard_normal((4, 2, 3, 3)).astype(np.float32)
    backend = mocha.make_backend("numpy", seed=0)
    backend.init()
    layers = [
        mocha.MemoryDataLayer(name="data", data=[x], batch_size=4, tops=["x"]),
        PReLULayer(name="prelu", bottoms=["x"], tops=["y"], **RANDOM),
    ]
    net = mocha.Net("prelu-net", backend, layers)
    net.init()
    try:
        mocha.forward(net)
        ours = backend.to_host(net.output_blobs["y"].data).copy()
        onnx.export_net(net, tmp_path / "prelu.onnx")
    finally:
        net.shutdown()
        backend.shutdown()
    (theirs,) = ort.InferenceSession(str(tmp_path / "prelu.onnx")).run(None, {"x": x})
    np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-6)
    assert (x < 0).any() and not np.allclose(ours, np.maximum(x, 0))  # the slopes did something
