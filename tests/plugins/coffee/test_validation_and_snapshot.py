"""ValidationPerformance and Snapshot coffee breaks (semantics §7.2)."""

from __future__ import annotations

import io
import logging
import os

import h5py
import numpy as np
import pytest

import mocha
from mocha import CoffeeBreak, add_coffee_break, registry_reset

RNG = np.random.default_rng(21)
X = RNG.standard_normal((12, 4))
Y = RNG.integers(0, 3, (12, 1)).astype(float)
XV = RNG.standard_normal((5, 4))
YV = RNG.integers(0, 3, (5, 1)).astype(float)


def _nets(backend, val_batch=5):
    registry_reset(backend)
    ip = mocha.InnerProductLayer(name="ip", output_dim=3, bottoms=["data"], tops=["ip"])
    train = mocha.Net(
        "train",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[X, Y], batch_size=4),
            ip,
            mocha.SoftmaxLossLayer(name="loss", bottoms=["ip", "label"]),
        ],
    )
    valid = mocha.Net(
        "valid",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[XV, YV], batch_size=val_batch),
            ip,
            mocha.AccuracyLayer(name="acc", bottoms=["ip", "label"], report_error=True),
        ],
        phase="test",
    )
    return train, valid


class Weights(CoffeeBreak):
    def __init__(self):
        self.at = {}

    def enjoy(self, lounge, solver, net, state):
        self.at[state.iter] = [p.blob.to_host().copy() for p in net.state_of("ip").parameters]


def test_validation_records_accuracy_and_notifies_listeners():
    backend = mocha.make_backend("numpy", dtype="float64", seed=3)
    train, valid = _nets(backend)
    solver = mocha.Solver(mocha.SGD(), mocha.make_solver_parameters(mocha.SGD(), max_iter=4))
    weights = add_coffee_break(solver, Weights(), every_n_iter=2)
    stream = io.StringIO()
    vp = add_coffee_break(solver, mocha.ValidationPerformance(valid, stream=stream), every_n_iter=2)
    heard = []
    vp.register(lambda lounge, net, state: heard.append((lounge, net, state.iter)))
    with pytest.raises(TypeError):
        vp.register("not callable")
    mocha.solve(solver, train)
    lounge = solver.coffee_lounge
    assert [(lg, n, it) for lg, n, it in heard] == [
        (lounge, train, 0),
        (lounge, train, 2),
        (lounge, train, 4),
    ]
    acc = lounge.statistics["acc-accuracy"]
    for it, (w, b) in weights.at.items():
        expected = np.mean(np.argmax(XV @ w.T + b, axis=1) == YV[:, 0])
        assert acc[it] == pytest.approx(expected)
        assert lounge.statistics["acc-error"][it] == pytest.approx(1 - expected)
    text = stream.getvalue()
    assert "## Performance on Validation Set after 4 iterations" in text
    assert "Accuracy (avg over 5)" in text
    assert vp.last_statistics == {
        "acc-accuracy": acc[4],
        "acc-error": lounge.statistics["acc-error"][4],
    }


def test_validation_averages_over_one_epoch_of_several_batches():
    backend = mocha.make_backend("numpy", dtype="float64", seed=3)
    train, valid = _nets(backend, val_batch=2)  # 5 samples, batches of 2: wraps (A18)
    solver = mocha.Solver(mocha.SGD(), mocha.make_solver_parameters(mocha.SGD(), max_iter=0))
    vp = add_coffee_break(
        solver, mocha.ValidationPerformance(valid, stream=io.StringIO()), every_n_iter=1
    )
    mocha.solve(solver, train)
    w, b = (p.blob.to_host() for p in train.state_of("ip").parameters)
    correct = np.argmax(XV @ w.T + b, axis=1) == YV[:, 0]
    seen = np.concatenate([correct, correct[:1]])  # 3 batches: samples 0..4 then 0
    assert vp.last_statistics["acc-accuracy"] == pytest.approx(seen.mean())


def test_snapshot_break_schedule_and_overwrite_warning(tmp_path, caplog):
    folder = tmp_path / "a" / "b"
    backend = mocha.make_backend("numpy", dtype="float64", seed=3)
    train, _ = _nets(backend)
    params = mocha.make_solver_parameters(mocha.SGD(), max_iter=7, load_from=str(folder))
    solver = mocha.Solver(mocha.SGD(), params)
    snap = add_coffee_break(solver, mocha.Snapshot(str(folder)), every_n_iter=3)
    mocha.solve(solver, train)
    assert sorted(p.name for p in folder.iterdir()) == [
        "snapshot-000000.h5",
        "snapshot-000003.h5",
        "snapshot-000006.h5",
    ]
    assert snap.last_path.endswith("snapshot-000006.h5")
    with h5py.File(folder / "snapshot-000003.h5", "r") as f:
        before = f["ip___weight"][()]
    # resuming at 6 runs the breaks of iteration 6 again: the file resumed from is left as
    # it is (issue 28)
    inode = os.stat(folder / "snapshot-000006.h5").st_ino
    train, _ = _nets(backend)
    solver = mocha.Solver(
        mocha.SGD(), mocha.make_solver_parameters(mocha.SGD(), max_iter=9, load_from=str(folder))
    )
    add_coffee_break(solver, mocha.Snapshot(str(folder)), every_n_iter=3)
    with caplog.at_level(logging.WARNING, logger="mocha"):
        assert mocha.solve(solver, train).iter == 9
    assert "overwriting" not in caplog.text
    assert os.stat(folder / "snapshot-000006.h5").st_ino == inode
    assert (folder / "snapshot-000009.h5").exists()
    with h5py.File(folder / "snapshot-000003.h5", "r") as f:
        np.testing.assert_array_equal(f["ip___weight"][()], before)
    # a run that does not resume writes over an existing file of the same iteration, saying so
    train, _ = _nets(backend)
    solver = mocha.Solver(mocha.SGD(), mocha.make_solver_parameters(mocha.SGD(), max_iter=3))
    add_coffee_break(solver, mocha.Snapshot(str(folder)), every_n_iter=3)
    with caplog.at_level(logging.WARNING, logger="mocha"):
        mocha.solve(solver, train)
    assert "overwriting" in caplog.text and "snapshot-000003.h5" in caplog.text
    assert repr(mocha.Snapshot("x")) == "Snapshot('x')"
