"""A LeNet-shaped net trains from the HDF5 files of `mocha data mnist`, with shuffling, through
both HDF5 data layers; the asynchronous layer gives exactly the synchronous layer's losses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mocha
from mocha import (
    AsyncHDF5DataLayer,
    CoffeeBreak,
    ConvolutionLayer,
    HDF5DataLayer,
    InnerProductLayer,
    LRPolicy,
    MomPolicy,
    Net,
    Neurons,
    PoolingLayer,
    SoftmaxLossLayer,
    Solver,
    add_coffee_break,
    make_solver_parameters,
    solve,
)
from mocha.plugins.backends.numpy_backend import NumpyBackend

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"no MNIST mirror at {SHARED}")


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    import typer
    from typer.testing import CliRunner

    from mocha.cli import data_cmd

    app = typer.Typer()
    app.callback()(lambda: None)
    data_cmd.mocha_register_commands(app=app)
    out = tmp_path_factory.mktemp("mnist")
    result = CliRunner().invoke(app, ["data", "mnist", "--mirror", str(SHARED), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


class RecordLoss(CoffeeBreak):
    def __init__(self):
        self.losses = []

    def enjoy(self, lounge, solver, net, state):
        self.losses.append(state.obj_val)


def lenet_losses(data_layer, seed=7, iters=30):
    backend = NumpyBackend(seed=seed)
    mocha.init(backend)
    layers = [
        data_layer,
        ConvolutionLayer(name="conv1", n_filter=6, kernel=5, bottoms=["data"], tops=["conv1"]),
        PoolingLayer(name="pool1", kernel=2, stride=2, bottoms=["conv1"], tops=["pool1"]),
        ConvolutionLayer(name="conv2", n_filter=8, kernel=5, bottoms=["pool1"], tops=["conv2"]),
        PoolingLayer(name="pool2", kernel=2, stride=2, bottoms=["conv2"], tops=["pool2"]),
        InnerProductLayer(
            name="ip1", output_dim=32, neuron=Neurons.ReLU(), bottoms=["pool2"], tops=["ip1"]
        ),
        InnerProductLayer(name="ip2", output_dim=10, bottoms=["ip1"], tops=["ip2"]),
        SoftmaxLossLayer(name="loss", bottoms=["ip2", "label"]),
    ]
    net = Net("lenet", backend, layers)
    params = make_solver_parameters(
        mocha.SGD(),
        max_iter=iters,
        regu_coef=0.0005,
        mom_policy=MomPolicy.Fixed(0.9),
        lr_policy=LRPolicy.Inv(0.05, 0.0001, 0.75),
    )
    solver = Solver(mocha.SGD(), params)
    record = RecordLoss()
    add_coffee_break(solver, record, every_n_iter=1)
    solve(solver, net)
    epoch = net.epoch
    net.shutdown()
    mocha.shutdown(backend)
    return record.losses, epoch


def test_lenet_trains_and_async_matches_sync_exactly(mnist_dir):
    source = mnist_dir / "train.txt"
    sync, epoch_sync = lenet_losses(HDF5DataLayer(source=source, batch_size=32, shuffle=True))
    asyn, epoch_async = lenet_losses(
        AsyncHDF5DataLayer(source=source, batch_size=32, shuffle=True, chunk_size=1000)
    )
    assert sync == asyn  # identical, not merely close
    assert epoch_sync == epoch_async == 0
    assert all(np.isfinite(sync))
    assert np.mean(sync[-10:]) < 0.75 * np.mean(sync[:5])  # it learns


def test_shuffled_pass_covers_the_file(mnist_dir):
    import h5py

    with h5py.File(mnist_dir / "test.h5") as f:
        labels = f["label"][:, 0]
    backend = NumpyBackend(seed=1)
    net = Net(
        "pass",
        backend,
        [AsyncHDF5DataLayer(source=mnist_dir / "test.txt", batch_size=100, shuffle=True)],
    )
    seen = []
    for _ in range(20):
        net.forward()
        seen.append(net.output_blobs["label"].data[:, 0].copy())
    assert net.epoch == 1
    seen = np.concatenate(seen)
    np.testing.assert_array_equal(np.sort(seen), np.sort(labels))
    assert not np.array_equal(seen, labels)
    net.shutdown()
