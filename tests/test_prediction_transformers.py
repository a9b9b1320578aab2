"""Prediction keeps the training data layer's preprocessing (issue 11, item 3): a net trained
with `Scale` and `SubMean` predicts exactly what its own forward computes on the same inputs,
through `mocha.predict` (trained net or layers + model file) and `mocha predict`."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

import mocha
from mocha import (
    DataError,
    InnerProductLayer,
    LRPolicy,
    MemoryDataLayer,
    Net,
    Neurons,
    SoftmaxLossLayer,
    Solver,
    make_solver_parameters,
    save_network,
    solve,
)
from mocha.cli import predict_cmd
from mocha.plugins.backends.numpy_backend import NumpyBackend
from mocha.plugins.components.transformers import Scale, SubMean

RNG = np.random.default_rng(11)
X = RNG.uniform(0, 255, (12, 1, 3, 3)).astype(np.float32)
Y = RNG.integers(0, 3, (12, 1)).astype(np.float32)
MEAN = X.mean(axis=0)


def arch():
    return [
        InnerProductLayer(
            name="ip1", output_dim=6, neuron=Neurons.ReLU(), bottoms=["data"], tops=["ip1"]
        ),
        InnerProductLayer(name="ip2", output_dim=3, bottoms=["ip1"], tops=["ip2"]),
    ]


def transformers():
    return [("data", Scale(1 / 255)), ("data", SubMean(mean_blob=MEAN / 255))]


def trained():
    backend = NumpyBackend(seed=0)
    net = Net(
        "train",
        backend,
        [
            MemoryDataLayer(name="data", data=[X, Y], batch_size=12, transformers=transformers()),
            *arch(),
            SoftmaxLossLayer(name="loss", bottoms=["ip2", "label"]),
        ],
    )
    method = mocha.SGD()
    solve(
        Solver(method, make_solver_parameters(method, max_iter=5, lr_policy=LRPolicy.Fixed(0.1))),
        net,
    )
    return net


def own_forward(net):
    """The net's own outputs on X (one batch of all 12 samples, in order)."""
    net.forward()
    return net.output_blobs["ip2"].to_host().copy()


def test_trained_net_predicts_what_its_forward_computes():
    net = trained()
    want = own_forward(net)
    got = mocha.predict(net, X, batch_size=12)
    np.testing.assert_array_equal(got.outputs, want)
    raw = mocha.predict(net, X, batch_size=12, transformers=[])  # explicitly none: differs
    assert not np.allclose(raw.outputs, want)
    net.shutdown()


def test_layers_and_model_file_keep_the_transformers(tmp_path):
    net = trained()
    want = own_forward(net)
    model = save_network(str(tmp_path / "model.h5"), net)
    layers = [
        MemoryDataLayer(
            name="data", data=[X[:1], Y[:1]], batch_size=1, transformers=transformers()
        ),
        *arch(),
    ]
    got = mocha.predict(layers, X, batch_size=5, model=model, backend=NumpyBackend(seed=1))
    np.testing.assert_allclose(got.outputs, want, rtol=1e-5, atol=1e-5)
    given = mocha.predict(
        layers,
        X,
        batch_size=5,
        model=model,
        backend=NumpyBackend(seed=1),
        transformers=[("data", Scale(2.0))],
    )
    assert not np.allclose(given.outputs, want, atol=1e-2)
    with pytest.raises(DataError, match="transformers for \\['label'\\]"):
        mocha.predict(
            layers,
            X,
            model=model,
            transformers=[("label", Scale(2.0))],
            backend=NumpyBackend(seed=1),
        )
    net.shutdown()


EXPERIMENT = """
[backend]
name = "numpy"

[[layers]]
type = "HDF5DataLayer"
source = "{source}"
batch_size = 4
transformers = [{{top = "data", type = "Scale", scale = 0.00392156862745098}},
                {{top = "data", type = "SubMean", mean_file = "{mean}"}}]

[[layers]]
type = "InnerProductLayer"
name = "ip2"
output_dim = 3
bottoms = ["data"]
tops = ["ip2"]

[[layers]]
type = "SoftmaxLossLayer"
name = "loss"
bottoms = ["ip2", "label"]

[solver]
max_iter = 1
"""


def test_mocha_predict_command_keeps_the_transformers(tmp_path):
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["data"], f["label"] = X, Y
    with h5py.File(tmp_path / "mean.h5", "w") as f:
        f["mean"] = MEAN / 255
    (tmp_path / "d.txt").write_text("d.h5\n")
    exp = tmp_path / "exp.toml"
    exp.write_text(
        EXPERIMENT.format(
            source=(tmp_path / "d.txt").as_posix(), mean=(tmp_path / "mean.h5").as_posix()
        )
    )
    backend = NumpyBackend(seed=2)
    net = Net(
        "n",
        backend,
        [
            MemoryDataLayer(
                name="data", data=[X], tops=["data"], batch_size=12, transformers=transformers()
            ),
            InnerProductLayer(name="ip2", output_dim=3, bottoms=["data"], tops=["ip2"]),
        ],
    )
    net.init()
    model = save_network(str(tmp_path / "model.h5"), net)
    want = own_forward(net)
    np.save(tmp_path / "x.npy", X)
    app = typer.Typer()
    app.callback()(lambda: None)
    predict_cmd.mocha_register_commands(app=app)
    result = CliRunner().invoke(
        app,
        [
            "predict",
            str(exp),
            str(tmp_path / "x.npy"),
            "--model",
            model,
            "--json",
            "--backend",
            "numpy",
        ],
    )
    assert result.exit_code == 0, result.output
    probabilities = [r["probabilities"] for r in json.loads(result.stdout)["predictions"]]
    np.testing.assert_allclose(probabilities, mocha.prediction.softmax(want), rtol=1e-5, atol=1e-6)
    net.shutdown()
