"""SIGTERM (what `kill`, systemd, Docker, Kubernetes and SLURM send first) stops `mocha run`
like Ctrl-C: after the iteration, with a snapshot, the resume command, and exit status 143;
the resume from that snapshot is exact. In one process here; under mpiexec in
tests/distributed/test_mpi_faults.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import pytest

from mocha.core.coffee import CoffeeBreak
from mocha.core.io.snapshot import check_snapshot
from mocha.experiment import load_experiment, run_experiment

main_thread_only = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers live in the main thread",
)

SNAPSHOT = """
[[coffee_breaks]]
type = "Snapshot"
dir = "snaps"
every_n_iter = 500
"""


class _SendSigterm(CoffeeBreak):
    def enjoy(self, lounge, solver, net, state):
        if state.iter == 7:
            os.kill(os.getpid(), signal.SIGTERM)


def _params(path):
    with h5py.File(path, "r") as f:
        return {k: np.asarray(v[()]) for k, v in f.items() if hasattr(v, "shape")}


@main_thread_only
def test_sigterm_stops_after_the_iteration_with_a_snapshot(write_experiment, small_toml):
    text = small_toml.replace("max_iter = 20", "max_iter = 1000") + SNAPSHOT
    exp = load_experiment(write_experiment(text))
    result = run_experiment(exp, extra_coffee_breaks=[(_SendSigterm(), 1)])
    assert result.interrupted and result.signal == "SIGTERM"
    assert result.iterations == 8  # the iteration after the signal, whose point was captured
    assert result.snapshot_written.endswith("snapshot-000008.h5")
    check_snapshot(result.snapshot_written)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone again

    whole = run_experiment(exp, max_iter=8, load_from="", fresh=True, handle_sigint=False)
    assert whole.iterations == 8
    snaps = os.path.dirname(result.snapshot_written)
    previous = [d for d in os.listdir(snaps) if d.startswith("previous-")]
    stopped = _params(os.path.join(snaps, previous[0], "snapshot-000008.h5"))
    uninterrupted = _params(os.path.join(snaps, "snapshot-000008.h5"))
    for key in uninterrupted:
        np.testing.assert_array_equal(stopped[key], uninterrupted[key], err_msg=key)


def test_kill_stops_mocha_run_with_exit_143(tmp_path, small_toml):
    path = tmp_path / "long.toml"
    text = small_toml.replace("max_iter = 20", "max_iter = 10000000")
    path.write_text(text + SNAPSHOT.replace("500", "10000000"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mocha", "run", str(path), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    first = tmp_path / "snaps" / "snapshot-000000.h5"
    deadline = time.monotonic() + 60
    while not first.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # some training iterations
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Interrupted (SIGTERM) at iteration" in err and "resume with:" in err
    assert f"mocha run {path} --load-from" in err
    assert "Traceback" not in err
    written = sorted(p.name for p in (tmp_path / "snaps").glob("snapshot-*.h5"))
    assert len(written) == 2 and written[-1] != "snapshot-000000.h5"
    check_snapshot(str(tmp_path / "snaps" / written[-1]))
    assert not (tmp_path / "snaps" / ".mocha.lock").exists()
