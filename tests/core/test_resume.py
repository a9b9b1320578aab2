"""Exact resume: a run SIGKILLed at some iteration and resumed from its latest snapshot ends
with parameters BITWISE equal to an uninterrupted run (the session's backend, NumPy by default;
every kernel of this net is deterministic on a GPU too), with shuffled
MemoryData (batches wrap across epochs) and Dropout, for every solver method.

Each run is a child process (`resume_child.py`); see its docstring for the net."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from mocha.testing import session_backend_name

CHILD = Path(__file__).with_name("resume_child.py")
MAX_ITER = 30
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, str(CHILD), *map(str, args)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"child failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def _params(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f}


def _stats(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    with h5py.File(path, "r") as f:
        return {k: (f[k]["iter"][()], f[k]["value"][()]) for k in f}


def _assert_bitwise_equal(a: dict, b: dict, what: str) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        diff = np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)).max()
        assert np.array_equal(a[k], b[k]), f"{what}: {k} differs (max abs diff {diff})"


_REFERENCES: dict[str, tuple[dict, dict]] = {}


def _reference(method: str, tmp_root: Path) -> tuple[dict, dict]:
    """Parameters and statistics of the uninterrupted run (computed once per method)."""
    if method not in _REFERENCES:
        folder = tmp_root / f"ref-{method}"
        folder.mkdir()
        proc = _run(
            method, folder / "snaps", folder / "out.h5", MAX_ITER, "--stats", folder / "stats.h5"
        )
        assert f"backend: {session_backend_name()}" in proc.stdout  # the session's backend
        _REFERENCES[method] = (_params(folder / "out.h5"), _stats(folder / "stats.h5"))
    return _REFERENCES[method]


@pytest.fixture(scope="module")
def ref_root(tmp_path_factory):
    return tmp_path_factory.mktemp("references")


# kill iterations drawn once from a seeded generator: "random" but reproducible
_KILLS = np.random.default_rng(2024).integers(1, MAX_ITER, size=5).tolist()


@pytest.mark.parametrize(
    "method,kill_at", list(zip(["sgd", "adam", "nesterov", "adagrad", "adadelta"], _KILLS))
)
def test_killed_and_resumed_run_is_bitwise_identical(method, kill_at, tmp_path, ref_root):
    ref_params, ref_stats = _reference(method, ref_root)
    snaps, out, stats = tmp_path / "snaps", tmp_path / "out.h5", tmp_path / "stats.h5"
    killed = _run(method, snaps, out, MAX_ITER, "--kill-at", kill_at, "--stats", stats, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not out.exists()
    latest = max(int(p.name[9:15]) for p in snaps.glob("snapshot-*.h5"))
    assert latest == kill_at - kill_at % 4  # snapshots every 4 iterations
    _run(method, snaps, out, MAX_ITER, "--stats", stats)
    _assert_bitwise_equal(ref_params, _params(out), f"{method} killed at {kill_at}")
    # the statistics file was merged on resume: the whole objective curve, bitwise equal
    got = _stats(stats)
    np.testing.assert_array_equal(got["obj_val"][0], np.arange(MAX_ITER + 1))
    np.testing.assert_array_equal(got["obj_val"][1], ref_stats["obj_val"][1])


def test_parent_kills_the_child_after_a_snapshot_appears(tmp_path, ref_root):
    ref_params, _ = _reference("sgd", ref_root)
    snaps, out = tmp_path / "snaps", tmp_path / "out.h5"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(CHILD),
            "sgd",
            str(snaps),
            str(out),
            str(MAX_ITER),
            "--every",
            "2",
            "--sleep",
            "0.05",
        ],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    target = snaps / "snapshot-000006.h5"
    deadline = time.monotonic() + 60
    while not target.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert target.exists() and not out.exists()
    _run("sgd", snaps, out, MAX_ITER, "--every", "2")
    _assert_bitwise_equal(ref_params, _params(out), "sgd killed by the parent")


def test_kill_while_writing_a_snapshot_keeps_the_folder_usable(tmp_path, ref_root):
    ref_params, _ = _reference("adam", ref_root)
    snaps, out = tmp_path / "snaps", tmp_path / "out.h5"
    killed = _run("adam", snaps, out, MAX_ITER, "--kill-in-write", 12, check=False)
    assert killed.returncode == -signal.SIGKILL
    leftovers = list(snaps.glob(".snapshot-000012.h5.tmp-*"))
    assert len(leftovers) == 1  # the half-written file, under a name no loader picks
    assert sorted(p.name for p in snaps.glob("snapshot-*.h5")) == [
        "snapshot-000000.h5",
        "snapshot-000004.h5",
        "snapshot-000008.h5",
    ]
    _run("adam", snaps, out, MAX_ITER)  # resumes from snapshot-000008
    _assert_bitwise_equal(ref_params, _params(out), "adam killed while writing")
    assert (snaps / "snapshot-000012.h5").exists()
