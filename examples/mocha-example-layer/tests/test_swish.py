"""Tests of the Swish layer with Mocha's public testing kit.

`backend` comes from Mocha's pytest plugin: one run per available backend (numpy, numba,
cupy where a GPU is usable).
"""

import numpy as np
import pytest
from mocha_swish import SwishLayer

import mocha
from mocha.testing import check_gradients, check_layer, run_layer


def swish(x, beta):
    return x / (1 + np.exp(-beta * x))


@pytest.mark.parametrize("beta", [1.0, 1.5, -0.5])
def test_swish_on_every_backend(backend, beta):
    """Agrees with the float64 reference on this backend; the reference passes the
    finite-difference gradient check."""
    x = np.random.default_rng(0).standard_normal((5, 3, 4))
    check_layer(SwishLayer(beta=beta, bottoms=["x"], tops=["y"]), [x], backend)


def test_forward_matches_numpy():
    x = np.linspace(-30, 30, 24).reshape(4, 6)  # large |x| too: no overflow
    h = run_layer(SwishLayer(beta=2.0, bottoms=["x"], tops=["y"]), [x])
    np.testing.assert_allclose(h.tops()[0], swish(x, 2.0), rtol=1e-12, atol=1e-300)


def test_gradients_with_two_bottoms():
    rng = np.random.default_rng(1)
    layer = SwishLayer(bottoms=["a", "b"], tops=["ya", "yb"])
    counts = check_gradients(layer, [rng.standard_normal((3, 4)), rng.standard_normal((2, 5))])
    assert counts["checked"] > 0


def test_configuration_is_validated():
    with pytest.raises(mocha.LayerConfigError, match="'tops'.*one top per bottom"):
        SwishLayer(bottoms=["x"], tops=["y", "z"])
    with pytest.raises(mocha.LayerConfigError, match="'beta' = nan"):
        SwishLayer(beta=float("nan"), bottoms=["x"], tops=["y"])


def test_found_through_the_entry_point():
    assert mocha.lookup("layers", "SwishLayer") is SwishLayer
    assert mocha.SwishLayer is SwishLayer
    [entry] = [e for e in mocha.get_registry().entries("layers") if e.name == "SwishLayer"]
    assert (entry.plugin, entry.distribution) == ("layers.swish", "mocha-example-layer")


@pytest.mark.parametrize("beta", [1.0, 1.5])
def test_exports_to_onnx_through_its_own_rule(tmp_path, beta):
    """`SwishLayer`'s ONNX rule (Sigmoid, Mul): onnxruntime computes what Mocha computes."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from mocha.interop import onnx

    x = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    backend = mocha.make_backend("numpy", seed=0)
    backend.init()
    layers = [
        mocha.MemoryDataLayer(name="data", data=[x], batch_size=4, tops=["x"]),
        mocha.InnerProductLayer(name="ip", output_dim=5, bottoms=["x"], tops=["h"]),
        SwishLayer(name="swish", beta=beta, bottoms=["h"], tops=["y"]),
    ]
    net = mocha.Net("swish-net", backend, layers)
    net.init()
    try:
        mocha.forward(net)
        ours = backend.to_host(net.output_blobs["y"].data).copy()
        onnx.export_net(net, tmp_path / "swish.onnx")
    finally:
        net.shutdown()
        backend.shutdown()
    session = ort.InferenceSession(str(tmp_path / "swish.onnx"))
    (theirs,) = session.run(None, {"x": x})
    np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-6)
