"""Starting a run while other processes come and go: a snapshot folder created between two
looks at it (the fresh start of a second MPI rank), and the lock of a process that is exiting
(a rank of an aborted MPI job lingers for seconds) or has exited unreaped (a zombie)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import mocha
from mocha import SnapshotError, add_coffee_break
from mocha.core.resume import load_from_path
from mocha.core.solver import SolverState
from mocha.plugins.coffee import _snapshot_folder
from mocha.plugins.coffee._snapshot_folder import FolderLock

X = np.random.default_rng(5).standard_normal((8, 4))
Y = (np.arange(8) % 3).astype(float).reshape(8, 1)


def _net():
    backend = mocha.make_backend("numpy", dtype="float64", seed=1)
    backend.init()
    return mocha.Net(
        "races",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[X, Y], batch_size=4),
            mocha.InnerProductLayer(name="ip", output_dim=3, bottoms=["data"], tops=["ip"]),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["ip", "label"]),
        ],
    )


def _solver(max_iter, load_from=""):
    params = mocha.make_solver_parameters(mocha.SGD(), max_iter=max_iter, load_from=load_from)
    return mocha.Solver(mocha.SGD(), params)


def test_a_folder_created_between_two_looks_is_a_fresh_start(tmp_path, monkeypatch):
    folder = str(tmp_path / "snaps")
    real_isdir = os.path.isdir

    def isdir(path):  # the bad interleaving: missing at the first look, there at the next
        if os.path.abspath(os.fspath(path)) == folder:
            os.makedirs(folder, exist_ok=True)
            return False
        return real_isdir(path)

    monkeypatch.setattr(os.path, "isdir", isdir)
    net, solver, state = _net(), _solver(10, load_from=folder), SolverState()
    try:
        assert load_from_path(solver, net, state, folder) is None
        assert state.iter == 0
    finally:
        net.shutdown()


def test_a_fresh_run_with_a_missing_folder_trains(tmp_path):
    folder = str(tmp_path / "snaps")
    net, solver = _net(), _solver(5, load_from=folder)
    add_coffee_break(solver, mocha.Snapshot(folder), every_n_iter=5)
    try:
        assert mocha.solve(solver, net).iter == 5
    finally:
        net.shutdown()


def _lock_of(folder, pid):
    folder.mkdir(exist_ok=True)
    owner = {"pid": pid, "host": socket.gethostname(), "started": time.time()}
    (folder / ".mocha.lock").write_text(json.dumps(owner))


def test_the_lock_of_a_process_that_is_exiting_is_taken_over(tmp_path, caplog):
    lingering = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.0)"])
    try:
        _lock_of(tmp_path, lingering.pid)
        lock = FolderLock(str(tmp_path))
        lock.acquire()  # waits for it to exit instead of refusing "in use"
        assert lingering.poll() is not None or _snapshot_folder._alive(lingering.pid) is False
        assert "taking over the stale lock" in caplog.text
        lock.release()
    finally:
        lingering.wait()


def test_the_lock_of_a_zombie_is_stale(tmp_path):
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while _snapshot_folder._alive(zombie.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        _lock_of(tmp_path, zombie.pid)  # exited, not reaped: the pid still answers kill(0)
        started = time.monotonic()
        lock = FolderLock(str(tmp_path))
        lock.acquire()
        assert time.monotonic() - started < 1.0
        lock.release()
    finally:
        zombie.wait()


def test_a_live_owner_is_still_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(_snapshot_folder, "LINGER_S", 0.2)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _lock_of(tmp_path, other.pid)
        with pytest.raises(SnapshotError, match=rf"in use by another run \(pid {other.pid}"):
            FolderLock(str(tmp_path)).acquire()
    finally:
        other.kill()
        other.wait()
