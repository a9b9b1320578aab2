"""Damaged snapshots, stale temporary files, the snapshot-folder lock and the experiment
identity (issue 19): a damaged snapshot is never resumed silently; a folder falls back to its
newest intact snapshot with a warning naming the damaged file; two runs never share a folder."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys

import h5py
import numpy as np
import pytest

import mocha
from mocha import SnapshotError, add_coffee_break, registry_reset
from mocha.core.io.snapshot import check_snapshot
from mocha.core.resume import load_from_path
from mocha.core.solver import ResumeOptions

RNG = np.random.default_rng(5)
X = RNG.standard_normal((8, 4))
Y = RNG.integers(0, 3, (8, 1)).astype(float)


def _net():
    backend = mocha.make_backend("numpy", dtype="float64", seed=1)
    backend.init()
    registry_reset(backend)
    return mocha.Net(
        "integrity",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[X, Y], batch_size=4),
            mocha.InnerProductLayer(name="ip", output_dim=3, bottoms=["data"], tops=["ip"]),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["ip", "label"]),
        ],
    )


def _solver(max_iter, load_from="", experiment_id=""):
    method = mocha.SGD()
    params = mocha.make_solver_parameters(
        method, max_iter=max_iter, load_from=load_from, mom_policy=mocha.MomPolicy.Fixed(0.9)
    )
    solver = mocha.Solver(method, params)
    solver.resume_options = ResumeOptions(experiment_id=experiment_id)
    return solver


def _train(folder, max_iter=10, every=5, load_from="", experiment_id=""):
    net = _net()
    solver = _solver(max_iter, load_from, experiment_id)
    add_coffee_break(solver, mocha.Snapshot(str(folder)), every_n_iter=every)
    state = mocha.solve(solver, net)
    net.shutdown()
    return state


def _resume_iteration(path, **attrs):
    """The iteration a fresh solver resumes at from `path` (a file or folder)."""
    net = _net()
    solver = _solver(100)
    solver.resume_options = ResumeOptions(**attrs)
    state = mocha.core.solver.SolverState()
    try:
        load_from_path(solver, net, state, str(path))
        return state.iter
    finally:
        net.shutdown()


def _flip_weight(path):
    with h5py.File(path, "r+") as f:
        data = f["ip___weight"][()]
        data.view(np.uint64)[0, 0] ^= 1 << 40  # one flipped bit
        f["ip___weight"][...] = data


def _zero_tail(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(size // 2)
        f.write(b"\0" * (size - size // 2))


def _delete_history(path):
    with h5py.File(path, "r+") as f:
        del f["solver/history"]


def _bad_json(path):
    with h5py.File(path, "r+") as f:
        f["solver"].attrs["internal"] = "{not json"


def _delete_cursors(path):
    with h5py.File(path, "r+") as f:
        del f["solver/cursors"]


def _delete_checksum(path):
    with h5py.File(path, "r+") as f:
        del f.attrs["checksum"]


DAMAGES = [_flip_weight, _zero_tail, _delete_history, _bad_json, _delete_cursors, _delete_checksum]


def test_snapshots_carry_checksums_version_and_experiment(tmp_path):
    _train(tmp_path, max_iter=5, experiment_id="abc123")
    with h5py.File(tmp_path / "snapshot-000005.h5", "r") as f:
        assert len(f.attrs["checksum"]) == 64 and len(f.attrs["weights_checksum"]) == 64
        assert f.attrs["mocha_version"] == mocha.__version__
        assert f["solver"].attrs["format_version"] == 2
        assert f["solver"].attrs["experiment"] == "abc123"
    check_snapshot(str(tmp_path / "snapshot-000005.h5"))  # intact


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__.strip("_"))
def test_folder_resume_falls_back_to_the_newest_intact_snapshot(tmp_path, caplog, damage):
    _train(tmp_path, max_iter=10)
    damage(tmp_path / "snapshot-000010.h5")
    with caplog.at_level(logging.WARNING, logger="mocha"):
        assert _resume_iteration(tmp_path) == 5
    assert "skipping damaged snapshot" in caplog.text and "snapshot-000010.h5" in caplog.text


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__.strip("_"))
def test_a_damaged_snapshot_file_is_a_clear_error(tmp_path, damage):
    _train(tmp_path, max_iter=5)
    path = tmp_path / "snapshot-000005.h5"
    damage(path)
    with pytest.raises(SnapshotError, match="snapshot-000005.h5"):
        _resume_iteration(path)


def test_every_snapshot_damaged_is_an_error_not_a_fresh_start(tmp_path):
    _train(tmp_path, max_iter=5)
    for name in ("snapshot-000000.h5", "snapshot-000005.h5"):
        _flip_weight(tmp_path / name)
    with pytest.raises(SnapshotError, match="every snapshot in .* is damaged"):
        _resume_iteration(tmp_path)


def test_missing_solver_state_refuses_to_resume_but_weights_only_loads(tmp_path):
    _train(tmp_path, max_iter=5)
    path = tmp_path / "snapshot-000005.h5"
    _delete_history(path)
    with pytest.raises(SnapshotError, match="parameters are intact, so --weights-only"):
        _resume_iteration(path)
    assert _resume_iteration(path, weights_only=True) == 0
    _flip_weight(path)  # weights-only still refuses damaged weights
    with pytest.raises(SnapshotError, match="parameters do not match the file's checksum"):
        _resume_iteration(path, weights_only=True)


def test_load_snapshot_refuses_damaged_weights(tmp_path):
    _train(tmp_path, max_iter=5)
    _flip_weight(tmp_path / "snapshot-000005.h5")
    net = _net()
    with pytest.raises(SnapshotError, match="do not match the file's checksum"):
        mocha.load_snapshot(net, str(tmp_path / "snapshot-000005.h5"))
    assert mocha.load_snapshot(net, str(tmp_path)) == 0  # the folder falls back
    net.shutdown()


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporary_files_are_removed_by_the_next_run(tmp_path):
    _train(tmp_path, max_iter=5)
    stale = tmp_path / f".snapshot-000010.h5.tmp-{_dead_pid()}"
    stale.write_bytes(b"half a snapshot")
    live = tmp_path / f".snapshot-000010.h5.tmp-{os.getppid()}"  # a live process's
    live.write_bytes(b"being written")
    _train(tmp_path, max_iter=7, load_from=str(tmp_path))
    assert not stale.exists() and live.exists()


def _lock(folder, pid, host=None):
    folder.mkdir(exist_ok=True)
    (folder / ".mocha.lock").write_text(
        json.dumps({"pid": pid, "host": host or socket.gethostname()})
    )


def test_a_folder_in_use_by_a_live_run_is_refused(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _lock(tmp_path, other.pid)
        with pytest.raises(SnapshotError, match=rf"in use by another run \(pid {other.pid}"):
            _train(tmp_path, max_iter=5)
        assert not list(tmp_path.glob("snapshot-*.h5"))  # nothing written
        assert (tmp_path / ".mocha.lock").exists()  # and the other run's lock kept
    finally:
        other.kill()
        other.wait()


def test_a_lock_of_another_host_is_refused(tmp_path):
    _lock(tmp_path, 1, host="elsewhere.example")
    with pytest.raises(SnapshotError, match="'elsewhere.example'"):
        _train(tmp_path, max_iter=5)


@pytest.mark.parametrize("content", ["pid", "", "{garbage"])
def test_a_stale_lock_is_taken_over(tmp_path, caplog, content):
    if content == "pid":
        _lock(tmp_path, _dead_pid())
    else:
        (tmp_path / ".mocha.lock").write_text(content)
        os.utime(tmp_path / ".mocha.lock", (0, 0))
    with caplog.at_level(logging.WARNING, logger="mocha"):
        _train(tmp_path, max_iter=5)
    assert "taking over the stale lock" in caplog.text
    assert (tmp_path / "snapshot-000005.h5").exists()
    assert not (tmp_path / ".mocha.lock").exists()  # released at the end


def test_the_lock_is_held_while_training(tmp_path):
    seen = []

    class Peek(mocha.CoffeeBreak):
        def enjoy(self, lounge, solver, net, state):
            seen.append(json.loads((tmp_path / ".mocha.lock").read_text())["pid"])

    net = _net()
    solver = _solver(2)
    add_coffee_break(solver, mocha.Snapshot(str(tmp_path)), every_n_iter=1)
    add_coffee_break(solver, Peek(), every_n_iter=1)
    mocha.solve(solver, net)
    net.shutdown()
    assert seen == [os.getpid()] * 3
    assert not (tmp_path / ".mocha.lock").exists()


def test_a_snapshot_of_another_experiment_is_refused_unless_allowed(tmp_path):
    _train(tmp_path, max_iter=5, experiment_id="experiment-a")
    net = _net()
    solver = _solver(100, experiment_id="experiment-b")
    state = mocha.core.solver.SolverState()
    with pytest.raises(SnapshotError, match="written by another experiment"):
        load_from_path(solver, net, state, str(tmp_path))
    solver.resume_options = ResumeOptions(allow_foreign_snapshot=True, experiment_id="experiment-b")
    load_from_path(solver, net, state, str(tmp_path))
    assert state.iter == 5
    net.shutdown()


@pytest.mark.parametrize("removed", ["solver/history", "one history array"])
def test_a_snapshot_without_its_history_is_refused_even_with_a_new_checksum(tmp_path, removed):
    """Removing the momentum and recomputing the checksum must not resume with zero momentum
    in silence: the snapshot lacks solver state; --weights-only still loads its parameters."""
    from mocha.core.io.model import stamp

    _train(tmp_path, max_iter=5)
    path = tmp_path / "snapshot-000005.h5"
    with h5py.File(path, "r+") as f:
        names = []
        f["solver/history"].visititems(
            lambda n, o: names.append(n) if hasattr(o, "shape") else None
        )
        assert names  # SGD with momentum 0.9 keeps one history array per parameter
        del f["solver/history" if removed == "solver/history" else f"solver/history/{names[0]}"]
        stamp(f)  # a checksum that matches the edited file
    with pytest.raises(SnapshotError, match=r"lacks solver state .*--weights-only"):
        _resume_iteration(path)
    assert _resume_iteration(path, weights_only=True) == 0
    assert _resume_iteration(tmp_path) == 0  # the folder's newest intact one: snapshot 0
