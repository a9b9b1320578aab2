"""Coffee breaks keep their run-time state across a resume (`Resumable`: `state_dict()` is
saved in the snapshot, `load_state_dict()` restores it): EarlyStopping's patience count and
KeepBest's best value."""

from __future__ import annotations

import io
import json

import h5py
import numpy as np

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
    ValidationPerformance,
    add_coffee_break,
    make_solver_parameters,
    solve,
)
from mocha.plugins.backends.numpy_backend import NumpyBackend
from mocha.plugins.coffee.early_stopping import EarlyStopping
from mocha.plugins.coffee.keep_best import KeepBest
from mocha.plugins.coffee.snapshot import Snapshot


def _run(folder, max_iter, lr=0.1, load_from="", early=None, keep=None):
    """Train a small softmax net with validation every 5 iterations, a snapshot every 5 in
    `folder`, and the given EarlyStopping / KeepBest keywords; (solver, state, breaks)."""
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
        [MemoryDataLayer(data=[x, y], batch_size=64), ip, AccuracyLayer(bottoms=["ip", "label"])],
        phase="test",
    )
    params = make_solver_parameters(
        mocha.SGD(),
        max_iter=max_iter,
        regu_coef=0.0,
        mom_policy=MomPolicy.Fixed(0.0),
        lr_policy=LRPolicy.Fixed(lr),
        load_from=load_from,
    )
    solver = Solver(mocha.SGD(), params)
    add_coffee_break(solver, ValidationPerformance(test, stream=io.StringIO()), every_n_iter=5)
    breaks = {}
    if early is not None:
        breaks["early"] = add_coffee_break(solver, EarlyStopping(**early), every_n_iter=5)
    if keep is not None:
        breaks["keep"] = add_coffee_break(solver, KeepBest(**keep), every_n_iter=5)
    add_coffee_break(solver, Snapshot(str(folder)), every_n_iter=5)
    try:
        state = solve(solver, train)
    finally:
        test.shutdown()
        train.shutdown()
    return solver, state, breaks


# min_delta 0.5 on an accuracy: only the first evaluation improves, every later one waits
STALL = {"statistic": "accuracy", "patience": 4, "min_delta": 0.5}


def test_early_stopping_patience_survives_a_resume(tmp_path):
    _, whole, _ = _run(tmp_path / "whole", 40, early=STALL)
    assert whole.iter == 20  # evaluations at 0 (best), 5, 10, 15, 20: the 4th wait stops

    _, first, breaks = _run(tmp_path / "split", 10, early=STALL)
    assert first.iter == 10 and breaks["early"].waited == 2
    with h5py.File(tmp_path / "split" / "snapshot-000010.h5", "r") as f:
        saved = json.loads(f["solver"].attrs["coffee"])
    assert saved["1:EarlyStopping"]["waited"] == 2
    solver, resumed, breaks = _run(
        tmp_path / "split", 40, early=STALL, load_from=str(tmp_path / "split")
    )
    assert resumed.iter == 20, "the patience count restarted on the resume"
    assert breaks["early"].waited == 4 and solver.stop_reason
    assert breaks["early"].best.iteration == 0  # the best of the first run, not of the resume


def test_keep_best_value_comes_back_from_the_snapshot(tmp_path):
    keep = {"dir": str(tmp_path / "best"), "statistic": "accuracy", "min_delta": 0.5}
    _, _, breaks = _run(tmp_path / "snaps", 10, keep=keep)
    best = (breaks["keep"].best.value, breaks["keep"].best.iteration)
    assert best[1] == 0
    (tmp_path / "best" / "best.json").unlink()  # only the snapshot knows the best now
    _, _, breaks = _run(tmp_path / "snaps", 20, keep=keep, load_from=str(tmp_path / "snaps"))
    assert (breaks["keep"].best.value, breaks["keep"].best.iteration) == best
    with h5py.File(tmp_path / "best" / "best.h5", "r") as f:
        assert f["solver"].attrs["iteration"] == 0  # not rewritten by the resumed run


def test_a_fresh_start_ignores_the_best_of_an_earlier_run(tmp_path):
    keep = {"dir": str(tmp_path / "best"), "statistic": "accuracy"}
    _run(tmp_path / "one", 20, keep=keep)
    record = json.loads((tmp_path / "best" / "best.json").read_text())
    # a new run from scratch (another folder, a learning rate of 0: a worse accuracy)
    _, _, breaks = _run(tmp_path / "two", 10, lr=0.0, keep=keep)
    assert breaks["keep"].best.iteration == 0
    again = json.loads((tmp_path / "best" / "best.json").read_text())
    assert again["iteration"] == 0 and again["value"] <= record["value"]
