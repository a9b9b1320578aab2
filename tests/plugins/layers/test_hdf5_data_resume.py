"""HDF5DataLayer / AsyncHDF5DataLayer through the solver's snapshots: a resumed run continues
with exactly the losses of the uninterrupted run (cursors, private RNG and epochs restored)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import mocha
from mocha import (
    CoffeeBreak,
    InnerProductLayer,
    LRPolicy,
    MomPolicy,
    Net,
    SoftmaxLossLayer,
    Solver,
    add_coffee_break,
    make_solver_parameters,
    solve,
)
from mocha.plugins.backends.numpy_backend import NumpyBackend
from mocha.plugins.coffee.snapshot import Snapshot
from mocha.plugins.layers.async_hdf5_data import AsyncHDF5DataLayer
from mocha.plugins.layers.hdf5_data import HDF5DataLayer


class Record(CoffeeBreak):
    def __init__(self):
        self.losses = {}
        self.epochs = {}

    def enjoy(self, lounge, solver, net, state):
        self.losses[state.iter] = state.obj_val
        self.epochs[state.iter] = net.epoch


@pytest.fixture
def source(tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for i, n in enumerate((13, 4, 9)):
        with h5py.File(tmp_path / f"p{i}.h5", "w") as f:
            f["data"] = rng.standard_normal((n, 5)).astype(np.float32)
            f["label"] = rng.integers(0, 3, (n, 1)).astype(np.float32)
        lines.append(f"p{i}.h5")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    return tmp_path / "list.txt"


def train(data_layer, max_iter, snap_dir=None, load_from=""):
    backend = NumpyBackend(seed=11)
    mocha.init(backend)
    net = Net(
        "r",
        backend,
        [
            data_layer,
            InnerProductLayer(name="ip", output_dim=3, bottoms=["data"], tops=["ip"]),
            SoftmaxLossLayer(name="loss", bottoms=["ip", "label"]),
        ],
    )
    params = make_solver_parameters(
        mocha.SGD(),
        max_iter=max_iter,
        load_from=load_from,
        mom_policy=MomPolicy.Fixed(0.9),
        lr_policy=LRPolicy.Fixed(0.1),
    )
    solver = Solver(mocha.SGD(), params)
    record = Record()
    add_coffee_break(solver, record, every_n_iter=1)
    if snap_dir is not None:
        add_coffee_break(solver, Snapshot(str(snap_dir)), every_n_iter=7)
    solve(solver, net)
    net.shutdown()
    mocha.shutdown(backend)
    return record


@pytest.mark.parametrize("kind", [HDF5DataLayer, AsyncHDF5DataLayer])
def test_resume_from_snapshot_is_exact(tmp_path, source, kind):
    def layer():
        return kind(source=source, batch_size=5, shuffle=True)

    full = train(layer(), 30, snap_dir=tmp_path / "snaps")
    resumed = train(layer(), 30, load_from=str(tmp_path / "snaps" / "snapshot-000014.h5"))
    later = [i for i in full.losses if i > 14]
    assert later and all(resumed.losses[i] == full.losses[i] for i in later)
    assert all(resumed.epochs[i] == full.epochs[i] for i in later)
    assert full.epochs[30] >= 5  # several passes over the 26 samples, wrapping mid-batch
