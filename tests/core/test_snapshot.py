"""Snapshot files and HDF5 model files: layout, load_from rules, load_network's shape
tolerance, errors on a mismatched net or solver, atomic writes (semantics §6.8, §6.9, §8.1)."""

from __future__ import annotations

import logging
import os
import time

import h5py
import numpy as np
import pytest

import mocha
from mocha import SnapshotError, add_coffee_break, registry_reset
from mocha.core.io.snapshot import SnapshotFolder
from mocha.core.resume import save_snapshot

RNG = np.random.default_rng(3)
X = RNG.standard_normal((6, 4))
Y = RNG.integers(0, 3, (6, 1)).astype(float)


def _backend(name="numpy"):
    backend = mocha.make_backend(name, dtype="float64", seed=1)
    backend.init()
    return backend


def _net(backend, name="ip", out=3, shuffle=False):
    registry_reset(backend)
    return mocha.Net(
        "snap",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[X, Y], batch_size=4, shuffle=shuffle),
            mocha.InnerProductLayer(name=name, output_dim=out, bottoms=["data"], tops=["ip"]),
            mocha.InnerProductLayer(name="out", output_dim=3, bottoms=["ip"], tops=["out"]),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["out", "label"]),
        ],
    )


def _solver(method=None, **kw):
    method = method or mocha.SGD()
    extra = {"mom_policy": mocha.MomPolicy.Fixed(0.9)} if isinstance(method, mocha.SGD) else {}
    params = mocha.make_solver_parameters(method, **{**extra, **kw})
    return mocha.Solver(method, params)


def _weights(net):
    return {
        f"{s.layer.name}___{p.name}": p.blob.to_host().copy()
        for s in net.states
        for p in s.parameters
    }


def _train(folder, max_iter=5, every=5, method=None, shuffle=False, backend_name="numpy"):
    backend = _backend(backend_name)
    net = _net(backend, shuffle=shuffle)
    solver = _solver(method, max_iter=max_iter)
    add_coffee_break(solver, mocha.Snapshot(str(folder)), every_n_iter=every)
    state = mocha.solve(solver, net)
    return net, solver, state


def test_snapshot_layout(tmp_path):
    net, solver, state = _train(tmp_path, max_iter=5)
    assert sorted(os.listdir(tmp_path)) == ["snapshot-000000.h5", "snapshot-000005.h5"]
    with h5py.File(tmp_path / "snapshot-000005.h5", "r") as f:
        assert sorted(k for k in f if k != "solver") == [
            "ip___bias",
            "ip___weight",
            "out___bias",
            "out___weight",
        ]
        assert f["ip___weight"].shape == (3, 4) and f["ip___bias"].shape == (3,)
        for key, value in _weights(net).items():
            np.testing.assert_array_equal(f[key][()], value)
        g = f["solver"]
        assert g.attrs["method"] == "sgd" and g.attrs["iteration"] == 5
        assert g.attrs["obj_val"] == state.obj_val
        assert bool(g.attrs["exact_resume"])
        hist = state.internal["history"]
        assert sorted(hist) == ["ip___bias/h", "ip___weight/h", "out___bias/h", "out___weight/h"]
        for name, arr in hist.items():
            np.testing.assert_array_equal(g["history"][name][()], arr)
        assert "momentum" in g.attrs["internal"] and "state" in g.attrs["rng"]
    net.shutdown()


def test_snapshot_zero_is_the_initial_model(tmp_path):
    backend = _backend()
    net = _net(backend)
    solver = _solver(max_iter=2)
    seen = {}

    class Grab(mocha.CoffeeBreak):
        def enjoy(self, lounge, solver, net, state):
            if state.iter == 0:
                seen.update(_weights(net))

    add_coffee_break(solver, Grab(), every_n_iter=1)
    add_coffee_break(solver, mocha.Snapshot(str(tmp_path)), every_n_iter=10)
    mocha.solve(solver, net)
    with h5py.File(tmp_path / "snapshot-000000.h5", "r") as f:
        for key, value in seen.items():
            np.testing.assert_array_equal(f[key][()], value)
    net.shutdown()


def test_resume_restores_state_and_continues(tmp_path, backend_name):
    """In-process resume on every available backend: bitwise equal to the straight run."""
    kw = {"every": 4, "shuffle": True, "backend_name": backend_name}
    ref_net, _, ref_state = _train(tmp_path / "ref", max_iter=8, **kw)
    folder = tmp_path / "b"
    _train(folder, max_iter=6, **kw)  # snapshots 0 and 4, stops at 6
    backend = _backend(backend_name)
    net = _net(backend, shuffle=True)
    solver = _solver(max_iter=8, load_from=str(folder / "snapshot-000004.h5"))
    state = mocha.solve(solver, net)
    assert state.iter == 8 and state.obj_val == ref_state.obj_val
    for key, value in _weights(ref_net).items():
        np.testing.assert_array_equal(_weights(net)[key], value)


def test_latest_snapshot_is_by_iteration_not_mtime(tmp_path):
    _train(tmp_path, max_iter=10, every=5)
    old = time.time() - 3600
    os.utime(tmp_path / "snapshot-000010.h5", (old, old))  # the highest iteration is oldest
    (tmp_path / "snapshot-000003.abandoned.h5").write_bytes(b"")
    (tmp_path / ".snapshot-000099.h5.tmp-123").write_bytes(b"garbage")
    (tmp_path / "snapshot-99.txt").write_bytes(b"")
    assert [i for i, _ in SnapshotFolder(str(tmp_path)).snapshots()] == [0, 5, 10]
    assert SnapshotFolder(str(tmp_path)).latest().endswith("snapshot-000010.h5")
    assert SnapshotFolder(str(tmp_path)).latest(9).endswith("snapshot-000005.h5")
    net = _net(_backend())
    assert mocha.load_snapshot(net, str(tmp_path)) == 10
    solver = _solver(max_iter=10, load_from=str(tmp_path))
    assert mocha.solve(solver, net).iter == 10  # resumed at 10: nothing left to do


def test_unreadable_latest_snapshot_falls_back(tmp_path, caplog):
    _train(tmp_path, max_iter=5, every=5)
    (tmp_path / "snapshot-000009.h5").write_bytes(b"not hdf5")
    net = _net(_backend())
    with caplog.at_level(logging.WARNING, logger="mocha"):
        assert mocha.load_snapshot(net, str(tmp_path)) == 5
    assert "skipping damaged snapshot" in caplog.text and "snapshot-000009.h5" in caplog.text


def test_load_snapshot_for_prediction(tmp_path):
    trained, _, _ = _train(tmp_path, max_iter=3, every=3)
    net = _net(_backend())
    assert mocha.load_snapshot(net, str(tmp_path / "snapshot-000003.h5")) == 3
    for key, value in _weights(trained).items():
        np.testing.assert_array_equal(_weights(net)[key], value)
    assert all(isinstance(p.initializer, mocha.NullInitializer) for _, p in net.parameters())


def test_snapshot_of_another_method_is_refused(tmp_path):
    _train(tmp_path, max_iter=2, every=2)
    net = _net(_backend())
    solver = _solver(mocha.Adam(), max_iter=4, load_from=str(tmp_path))
    with pytest.raises(SnapshotError, match="written by solver method 'sgd'.*'adam'"):
        mocha.solve(solver, net)


@pytest.mark.parametrize(
    "layer,out,message",
    [
        ("renamed", 3, "no datasets for parameters"),
        ("ip", 5, "has shape"),
    ],
)
def test_snapshot_of_another_net_is_refused(tmp_path, layer, out, message):
    _train(tmp_path, max_iter=2, every=2)
    net = _net(_backend(), name=layer, out=out)
    solver = _solver(max_iter=4, load_from=str(tmp_path))
    with pytest.raises(SnapshotError, match=message):
        mocha.solve(solver, net)


def test_load_from_model_file_loads_weights_and_starts_at_zero(tmp_path):
    trained, _, _ = _train(tmp_path / "snaps", max_iter=3, every=3)
    model = tmp_path / "model.h5"
    mocha.save_network(str(model), trained)
    with h5py.File(model, "r") as f:
        assert "solver" not in f
        expected = {k: f[k][()] for k in f}
    net = _net(_backend())
    seen = {}

    class Grab(mocha.CoffeeBreak):
        def enjoy(self, lounge, solver, net, state):
            seen[state.iter] = _weights(net)

    solver = _solver(max_iter=1, load_from=str(model))
    add_coffee_break(solver, Grab(), every_n_iter=1)
    assert mocha.solve(solver, net).iter == 1
    assert sorted(seen) == [0, 1]
    for key, value in expected.items():
        np.testing.assert_array_equal(seen[0][key], value)


def test_load_network_shape_tolerance_and_missing(tmp_path, caplog):
    backend = _backend()
    net = _net(backend)
    w = np.arange(12.0).reshape(3, 4)
    path = tmp_path / "caffe.h5"
    with h5py.File(path, "w") as f:
        f["ip___weight"] = w.reshape(1, 1, 3, 4).astype(np.float32)  # old 4-D Caffe blob
        f["ip___bias"] = np.array([[1.0, 2.0, 3.0]])  # (1, out)
        f["out___weight"] = np.ones((3, 3))
        f["unrelated___weight"] = np.zeros(7)  # matches no layer: ignored
    with caplog.at_level(logging.WARNING, logger="mocha"):
        loaded = mocha.load_network(str(path), net)
    assert sorted(loaded) == ["ip___bias", "ip___weight", "out___weight"]
    np.testing.assert_array_equal(net.state_of("ip").parameters[0].blob.to_host(), w)
    np.testing.assert_array_equal(net.state_of("ip").parameters[1].blob.to_host(), [1, 2, 3])
    assert "out___bias" in caplog.text  # a missing bias only warns ...
    bias = net.state_of("out").parameters[1]
    assert not isinstance(bias.initializer, mocha.NullInitializer)  # ... and keeps its init
    assert "converted" in caplog.text  # float32 -> float64

    with h5py.File(path, "a") as f:
        del f["out___weight"]
    with pytest.raises(SnapshotError, match="no dataset 'out___weight'"):
        mocha.load_network(str(path), _net(backend))
    mocha.load_network(str(path), _net(backend), die_if_not_found=False)
    with h5py.File(path, "a") as f:
        f["out___weight"] = np.ones((3, 2))
    with pytest.raises(SnapshotError, match=r"shape \(3, 2\)"):
        mocha.load_network(str(path), _net(backend))
    with pytest.raises(SnapshotError, match="does not exist"):
        mocha.load_network(str(tmp_path / "missing.h5"), net)


def test_load_from_missing_paths_start_fresh(tmp_path):
    net = _net(_backend())
    assert mocha.solve(_solver(max_iter=1, load_from=str(tmp_path / "nope")), net).iter == 1
    assert mocha.solve(_solver(max_iter=1, load_from=str(tmp_path / "x.h5")), net).iter == 1


def test_failed_save_leaves_nothing_behind(tmp_path):
    net = _net(_backend())
    solver = _solver(max_iter=0)
    state = mocha.solve(solver, net)
    state.internal["bad"] = object()  # not JSON
    path = tmp_path / "snapshot-000000.h5"
    with pytest.raises(SnapshotError, match="internal state"):
        save_snapshot(str(path), solver, net, state)
    assert os.listdir(tmp_path) == []


def test_snapshot_without_resume_point_is_marked_inexact(tmp_path, caplog):
    net = _net(_backend())
    solver = _solver(max_iter=1)
    state = mocha.solve(solver, net)  # no Snapshot break: nothing captured
    path = tmp_path / "snapshot-000001.h5"
    with caplog.at_level(logging.WARNING, logger="mocha"):
        save_snapshot(str(path), solver, net, state)
    assert "skip one mini-batch" in caplog.text
    with h5py.File(path, "r") as f:
        assert not bool(f["solver"].attrs["exact_resume"])
