"""mocha.predict: batched outputs for arrays of any length, from a trained net or from an
architecture plus a model/snapshot file."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import mocha
from mocha import (
    DataError,
    InnerProductLayer,
    MemoryDataLayer,
    MochaError,
    Net,
    Neurons,
    SoftmaxLayer,
    SoftmaxLossLayer,
    save_network,
)
from mocha.plugins.backends.numpy_backend import NumpyBackend


def arch():
    return [
        InnerProductLayer(
            name="ip1", output_dim=5, neuron=Neurons.ReLU(), bottoms=["data"], tops=["ip1"]
        ),
        InnerProductLayer(name="ip2", output_dim=3, bottoms=["ip1"], tops=["ip2"]),
    ]


def trained_net(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((10, 1, 2, 2)).astype(np.float32)
    y = rng.integers(0, 3, (10, 1)).astype(np.float32)
    backend = NumpyBackend(seed=seed)
    net = Net(
        "t",
        backend,
        [
            MemoryDataLayer(data=[x, y], batch_size=4),
            *arch(),
            SoftmaxLossLayer(name="loss", bottoms=["ip2", "label"]),
        ],
    )
    net.init()
    return net


def oracle(net, x):
    params = {f"{name}/{p.name}": p.blob.data for name, p in net.parameters()}
    h = x.reshape(len(x), -1) @ params["ip1/weight"].T + params["ip1/bias"].reshape(1, -1)
    h = np.maximum(h, 0)
    return h @ params["ip2/weight"].T + params["ip2/bias"].reshape(1, -1)


@pytest.mark.parametrize("n,batch_size", [(7, 3), (1, 100), (6, 6), (13, 4)])
def test_trained_net_any_length(n, batch_size):
    net = trained_net()
    x = np.random.default_rng(1).standard_normal((n, 1, 2, 2)).astype(np.float32)
    result = mocha.predict(net, x, batch_size=batch_size)
    assert len(result) == n and result.output == "ip2"
    want = oracle(net, x)
    np.testing.assert_allclose(result.outputs, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(result.classes, want.argmax(1))
    np.testing.assert_allclose(result.probabilities.sum(1), 1.0)
    e = np.exp(want - want.max(1, keepdims=True))
    np.testing.assert_allclose(result.probabilities, e / e.sum(1, keepdims=True), rtol=1e-5)
    net.forward()  # the trained net still works afterwards
    net.shutdown()


def test_grey_images_get_their_channel_axis():
    net = trained_net()
    x = np.random.default_rng(2).standard_normal((5, 2, 2)).astype(np.float32)
    result = mocha.predict(net, x, batch_size=2)
    np.testing.assert_allclose(result.outputs, oracle(net, x), rtol=1e-5, atol=1e-6)
    with pytest.raises(
        DataError,
        match=r"input 'data' has samples of shape \(3, 3\), the net "
        r"expects \(1, 2, 2\)",
    ):
        mocha.predict(net, np.zeros((2, 3, 3), np.float32))
    net.shutdown()


def test_architecture_with_model_file_and_snapshot_folder(tmp_path):
    net = trained_net()
    x = np.random.default_rng(3).standard_normal((9, 1, 2, 2)).astype(np.float32)
    want = mocha.predict(net, x).outputs
    model = save_network(str(tmp_path / "model.h5"), net)
    layers = [
        MemoryDataLayer(data=[x[:1]], tops=["data"], batch_size=1),
        *arch(),
        SoftmaxLayer(name="prob", bottoms=["ip2"], tops=["prob"]),
    ]
    by_file = mocha.predict(layers, x, batch_size=4, model=model, backend=NumpyBackend())
    assert by_file.output == "prob"
    np.testing.assert_allclose(by_file.outputs.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(by_file.probabilities, by_file.outputs)  # already softmax
    np.testing.assert_array_equal(by_file.classes, want.argmax(1))
    by_ip2 = mocha.predict(layers, x, model=model, output="ip2", backend=NumpyBackend())
    np.testing.assert_allclose(by_ip2.outputs, want, rtol=1e-5, atol=1e-6)
    (tmp_path / "snaps").mkdir()
    shutil.copy(model, tmp_path / "snaps" / "snapshot-000010.h5")
    by_folder = mocha.predict(arch(), x, model=tmp_path / "snaps", output="ip2")
    np.testing.assert_allclose(by_folder.outputs, want, rtol=1e-5, atol=1e-6)
    net.shutdown()


def test_prediction_keeps_the_data_layers_transformers():
    from mocha.plugins.components.transformers import Scale, SubMean
    from mocha.plugins.layers.power import PowerLayer

    x = np.random.default_rng(4).standard_normal((5, 3)).astype(np.float32)
    mean = np.array([1.0, 2.0, 3.0], np.float32)
    net = Net(
        "t",
        NumpyBackend(),
        [
            MemoryDataLayer(
                data=[x],
                tops=["data"],
                batch_size=5,
                transformers=[("data", SubMean(mean_blob=mean)), ("data", Scale(0.5))],
            ),
            PowerLayer(name="same", bottoms=["data"], tops=["y"]),
        ],
    )
    net.forward()
    own = net.output_blobs["y"].to_host().copy()
    got = mocha.predict(net, x, output="y").outputs
    np.testing.assert_allclose(got, (x - mean) * 0.5, rtol=1e-6)
    np.testing.assert_allclose(got, own, rtol=1e-6)
    net.shutdown()


def test_errors(tmp_path):
    x = np.zeros((2, 4), np.float32)
    with pytest.raises(MochaError, match="give a trained Net, or layers with model="):
        mocha.predict(arch(), x)
    with pytest.raises(DataError, match=r"model file '.*nope\.h5' does not exist"):
        mocha.predict(arch(), x, model=tmp_path / "nope.h5", backend=NumpyBackend())
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no snapshot"):
        mocha.predict(arch(), x, model=tmp_path / "empty", backend=NumpyBackend())
    net = trained_net()
    with pytest.raises(DataError, match=r"no blob 'ip9' is computed from the inputs"):
        mocha.predict(net, np.zeros((2, 1, 2, 2), np.float32), output="ip9")
    with pytest.raises(DataError, match=r"input\(s\) \['pixels'\] are not tops"):
        mocha.predict(net, {"pixels": np.zeros((2, 1, 2, 2))})
    with pytest.raises(ValueError, match="batch_size"):
        mocha.predict(net, np.zeros((2, 1, 2, 2)), batch_size=0)
    net.shutdown()
