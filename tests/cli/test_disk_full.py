"""A full disk while `mocha run` writes a snapshot or the statistics file: one message, exit
status 1, every earlier snapshot and the statistics file intact, no lock or temporary file
left, and the resume from the folder is exact. By fault injection at the write call (always)
and on a real, small tmpfs (as root, where the machine allows mounting one)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import uuid

import h5py
import numpy as np
import pytest

import mocha.core.io.model as model_io
from mocha.core.io.snapshot import check_snapshot
from mocha.core.io.statistics import load_statistics

BREAKS = """
[[coffee_breaks]]
type = "TrainingSummary"
statistics = ["iter", "obj_val"]
every_n_iter = 5

[[coffee_breaks]]
type = "Snapshot"
dir = "snaps"
every_n_iter = 5

[lounge]
save_into = "snaps/statistics.h5"
every_n_iter = 5
"""


def _experiment(folder, small_toml):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "small.toml"
    path.write_text(small_toml + BREAKS, encoding="utf-8")
    return path


def _solver_state(path):
    """Parameters and solver histories of a snapshot, by dataset name."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda n, o: out.update({n: np.asarray(o[()])}) if hasattr(o, "shape") else None
        )
    return {k: v for k, v in out.items() if k != "solver/cursors"}


def _assert_same_training(a, b):
    left, right = _solver_state(a), _solver_state(b)
    assert left.keys() == right.keys()
    for key in left:
        np.testing.assert_array_equal(left[key], right[key], err_msg=key)


def _left_behind(folder):
    return [n for n in os.listdir(folder) if ".tmp" in n or n == ".mocha.lock"]


@pytest.mark.parametrize("failing", ["snapshot-000010.h5", "statistics.h5"])
def test_a_full_disk_stops_the_run_with_one_message(
    app, runner, tmp_path, small_toml, monkeypatch, failing
):
    whole = _experiment(tmp_path / "whole", small_toml)
    assert runner.invoke(app, ["run", str(whole), "--no-progress"]).exit_code == 0

    path = _experiment(tmp_path / "full", small_toml)
    real = model_io.write_file
    calls = []

    def full_disk(tmp, data, where):
        calls.append(os.path.basename(where))
        if os.path.basename(where) == failing and calls.count(failing) >= (
            1 if failing.startswith("snapshot") else 3
        ):
            with open(tmp, "wb") as out:  # a part of it reaches the disk, then ENOSPC
                out.write(bytes(data)[:100])
            raise OSError(errno.ENOSPC, f"cannot write {where}: No space left on device")
        real(tmp, data, where)

    monkeypatch.setattr(model_io, "write_file", full_disk)
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if "Error" in line]
    assert len(errors) == 1 and errors[0].startswith("Error:")
    assert "No space left on device" in errors[0]
    assert failing in errors[0] and "Traceback" not in result.output
    snaps = path.parent / "snaps"
    assert _left_behind(snaps) == []
    for name in ("snapshot-000000.h5", "snapshot-000005.h5"):
        check_snapshot(str(snaps / name))  # every earlier snapshot intact
    assert set(load_statistics(str(snaps / "statistics.h5"))["obj_val"]) >= {0, 5}

    monkeypatch.setattr(model_io, "write_file", real)  # space again: resume
    result = runner.invoke(app, ["run", str(path), "--no-progress", "--load-from", str(snaps)])
    assert result.exit_code == 0, result.output
    _assert_same_training(
        snaps / "snapshot-000020.h5", whole.parent / "snaps" / "snapshot-000020.h5"
    )
    stats = load_statistics(str(snaps / "statistics.h5"))
    assert (
        stats["obj_val"]
        == load_statistics(str(whole.parent / "snaps" / "statistics.h5"))["obj_val"]
    )


def _can_mount_tmpfs(where) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount") or not sys.platform.startswith("linux"):
        return False
    where.mkdir()
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)]).returncode
    if ok == 0:
        subprocess.run(["umount", str(where)], check=True)
    return ok == 0


def test_a_real_full_tmpfs(tmp_path, small_toml):
    mnt = tmp_path / "mnt"
    if not _can_mount_tmpfs(mnt):
        pytest.skip("needs root and a machine that allows mounting a tmpfs")
    whole = _experiment(tmp_path / "whole", small_toml)
    mocha = [sys.executable, "-m", "mocha", "run", "--no-progress"]
    assert subprocess.run([*mocha, str(whole)], capture_output=True).returncode == 0
    size = os.path.getsize(whole.parent / "snaps" / "snapshot-000005.h5")
    # room for the experiment, the lock, statistics and about two and a half snapshots
    limit = int(2.5 * size) + 24 * 1024
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={limit}", "tmpfs", str(mnt)], check=True)
    try:
        path = _experiment(mnt / uuid.uuid4().hex[:6], small_toml)
        run = subprocess.run([*mocha, str(path)], capture_output=True, text=True)
        assert run.returncode == 1, run.stderr  # not a crash of the HDF5 library (139)
        errors = [line for line in run.stderr.splitlines() if "Error" in line]
        assert len(errors) == 1 and errors[0].startswith("Error:"), run.stderr
        assert "No space left on device" in run.stderr
        assert "Traceback" not in run.stderr
        snaps = path.parent / "snaps"
        assert _left_behind(snaps) == []
        kept = sorted(n for n in os.listdir(snaps) if n.startswith("snapshot-"))
        assert kept and "snapshot-000020.h5" not in kept
        for name in kept:
            check_snapshot(str(snaps / name))
        subprocess.run(["mount", "-o", f"remount,size={limit * 8}", str(mnt)], check=True)
        resumed = subprocess.run(
            [*mocha, str(path), "--load-from", str(snaps)], capture_output=True, text=True
        )
        assert resumed.returncode == 0, resumed.stderr
        _assert_same_training(
            snaps / "snapshot-000020.h5", whole.parent / "snaps" / "snapshot-000020.h5"
        )
    finally:
        subprocess.run(["umount", "-l", str(mnt)])
