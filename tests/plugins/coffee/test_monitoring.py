"""CSVLogger, TensorBoardLogger, EarlyStopping, KeepBest, Snapshot(keep_last=K), and
Net.summary()."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

import mocha
from mocha import (
    AccuracyLayer,
    InnerProductLayer,
    LRPolicy,
    MemoryDataLayer,
    MomPolicy,
    Net,
    SoftmaxLossLayer,
    Solver,
    TrainingSummary,
    ValidationPerformance,
    add_coffee_break,
    make_solver_parameters,
    solve,
)
from mocha.core.errors import SnapshotError, SolverError
from mocha.core.io.snapshot import SnapshotFolder
from mocha.plugins.backends.numpy_backend import NumpyBackend
from mocha.plugins.coffee.csv_logger import CSVLogger
from mocha.plugins.coffee.early_stopping import EarlyStopping
from mocha.plugins.coffee.keep_best import KeepBest
from mocha.plugins.coffee.snapshot import Snapshot


def _nets(lr: float = 0.1):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    backend = NumpyBackend(seed=0)
    ip = InnerProductLayer(name="ip", output_dim=2, bottoms=["data"], tops=["ip"])
    train = Net(
        "train",
        backend,
        [
            MemoryDataLayer(data=[x, y], batch_size=16),
            ip,
            SoftmaxLossLayer(name="loss", bottoms=["ip", "label"]),
        ],
    )
    test = Net(
        "test",
        backend,
        [
            MemoryDataLayer(data=[x, y], batch_size=64),
            ip,
            AccuracyLayer(name="accuracy", bottoms=["ip", "label"]),
        ],
        phase="test",
    )
    params = make_solver_parameters(
        mocha.SGD(),
        max_iter=40,
        regu_coef=0.0,
        mom_policy=MomPolicy.Fixed(0.0),
        lr_policy=LRPolicy.Fixed(lr),
    )
    return train, test, Solver(mocha.SGD(), params)


def _validation(test):
    return ValidationPerformance(test, stream=io.StringIO())


def _close(*nets):
    for net in nets:
        net.shutdown()


def test_csv_logger_holds_every_statistic(tmp_path):
    train, test, solver = _nets()
    add_coffee_break(
        solver,
        TrainingSummary("iter", "obj_val", "learning_rate", stream=io.StringIO()),
        every_n_iter=5,
    )
    add_coffee_break(solver, _validation(test), every_n_iter=10)
    path = tmp_path / "logs" / "stats.csv"
    add_coffee_break(solver, CSVLogger(str(path)), every_n_iter=5)
    solve(solver, train)
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    stats = solver.coffee_lounge.statistics
    assert list(rows[0]) == ["iteration", *sorted(stats)]
    assert [int(r["iteration"]) for r in rows] == list(range(0, 41, 5))
    for r in rows:
        i = int(r["iteration"])
        assert math.isclose(float(r["obj_val"]), stats["obj_val"][i])
        assert (r["accuracy"] == "") == (i % 10 != 0)
    _close(train, test)


def test_tensorboard_logger(tmp_path):
    pytest.importorskip("tensorboardX")
    from tensorboard_reader import read_scalars

    train, test, solver = _nets()
    add_coffee_break(
        solver, TrainingSummary("iter", "obj_val", stream=io.StringIO()), every_n_iter=10
    )
    tb = mocha.lookup("coffee", "TensorBoardLogger")(str(tmp_path / "tb"))
    add_coffee_break(solver, tb, every_n_iter=10)
    solve(solver, train)
    scalars = read_scalars(tmp_path / "tb")
    want = solver.coffee_lounge.statistics["obj_val"]
    assert sorted(scalars["obj_val"]) == sorted(want)
    for step, value in scalars["obj_val"].items():
        assert math.isclose(value, want[step], rel_tol=1e-6)
    _close(train, test)


def test_tensorboard_logger_without_its_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    tb = mocha.lookup("coffee", "TensorBoardLogger")("tb")
    with pytest.raises(mocha.MochaError, match=r'pip install "mocha-dl\[tensorboard\]"'):
        tb.init(None, None, None)


def test_early_stopping_stops_when_accuracy_stalls():
    train, test, solver = _nets(lr=0.0)  # nothing learns: accuracy never improves
    add_coffee_break(solver, _validation(test), every_n_iter=5)
    stopper = add_coffee_break(solver, EarlyStopping("accuracy", patience=2), every_n_iter=5)
    state = solve(solver, train)
    assert stopper.stopped_at == 10 and state.iter == 10  # 0 best, 5 and 10 no better
    assert "has not improved" in solver.stop_reason
    _close(train, test)


def test_early_stopping_lets_an_improving_run_finish():
    train, test, solver = _nets(lr=0.5)
    add_coffee_break(
        solver, TrainingSummary("iter", "obj_val", stream=io.StringIO()), every_n_iter=1
    )
    stopper = add_coffee_break(
        solver, EarlyStopping("obj_val", patience=30, mode="min"), every_n_iter=1
    )
    state = solve(solver, train)
    assert state.iter == 40 and stopper.stopped_at is None
    assert stopper.best.value < solver.coffee_lounge.statistics["obj_val"][0]
    _close(train, test)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"patience": 0}, "patience"),
        ({"mode": "up"}, "mode"),
        ({"min_delta": -1}, "min_delta"),
    ],
)
def test_early_stopping_checks_its_fields(kwargs, match):
    with pytest.raises(SolverError, match=match):
        EarlyStopping("accuracy", **kwargs)


def test_early_stopping_names_a_missing_statistic():
    train, test, solver = _nets()
    add_coffee_break(solver, _validation(test), every_n_iter=5)
    add_coffee_break(solver, EarlyStopping("acuracy"), every_n_iter=5)
    with pytest.raises(SolverError, match="no statistic 'acuracy'.*accuracy"):
        solve(solver, train)
    _close(train, test)


def test_keep_best_writes_the_best_snapshot(tmp_path):
    train, test, solver = _nets(lr=0.5)
    add_coffee_break(solver, _validation(test), every_n_iter=5)
    keep = add_coffee_break(solver, KeepBest(str(tmp_path), "accuracy"), every_n_iter=5)
    solve(solver, train)
    accuracy = solver.coffee_lounge.statistics["accuracy"]
    best_iter = max(accuracy, key=lambda i: (accuracy[i], -i))  # the first of the best
    record = json.loads((tmp_path / "best.json").read_text())
    assert record == {
        "statistic": "accuracy",
        "value": accuracy[best_iter],
        "iteration": best_iter,
        "mode": "max",
    }
    assert keep.last_path == str(tmp_path / "best.h5")
    assert SnapshotFolder(str(tmp_path)).snapshots() == []  # best.h5 is not a resume candidate
    _close(train, test)
    # best.h5 loads into a fresh net and holds that iteration's parameters
    train2, test2, _ = _nets()
    mocha.load_snapshot(train2, str(tmp_path / "best.h5"))
    _close(train2, test2)


def test_snapshot_keep_last(tmp_path):
    train, test, solver = _nets()
    add_coffee_break(solver, Snapshot(str(tmp_path), keep_last=2), every_n_iter=10)
    solve(solver, train)
    assert [i for i, _ in SnapshotFolder(str(tmp_path)).snapshots()] == [30, 40]
    with pytest.raises(SnapshotError, match="keep_last"):
        Snapshot(str(tmp_path), keep_last=-1)
    _close(train, test)


def test_net_summary_matches_the_cli_rows():
    from mocha.cli.summary_cmd import net_rows

    train, test, _ = _nets()
    lines = train.summary().splitlines()
    assert lines[0] == "train (3 layers)" and lines[-1] == "12 parameters"
    for row in net_rows(train):
        line = next(x for x in lines if f" {row['name']} " in x)
        assert row["type"] in line and " ".join(row["top_shapes"]) in line
        if row["parameters"]:
            assert line.endswith(f"{row['parameters']:,}")
    _close(train, test)
