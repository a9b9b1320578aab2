"""Faults of the machine under `mpiexec -n 2 mocha run`: SIGTERM from the launcher stops every
rank like Ctrl-C (exit 143, a snapshot, the resume command); a fresh start whose snapshot folder
does not exist yet never fails, whatever the interleaving of the ranks (rank 0 decides, the
others wait); right after an MPI abort a resume is not refused as "in use"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mocha.core.io.snapshot import check_snapshot
from mocha.distributed import find_mpiexec

pytestmark = pytest.mark.skipif(find_mpiexec() is None, reason="no mpiexec (the mpi extra)")
HERE = Path(__file__).resolve().parent
SMALL = (
    (HERE.parent / "cli" / "conftest.py").read_text().split('SMALL = textwrap.dedent("""\\\n')[1]
)
SMALL = SMALL.split('""")')[0].replace("\n    ", "\n").lstrip()
SNAPSHOT = '\n[[coffee_breaks]]\ntype = "Snapshot"\ndir = "snaps"\nevery_n_iter = EVERY\n'
ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def _experiment(tmp_path, max_iter, every, load_from=False):
    text = SMALL.replace("max_iter = 20", f"max_iter = {max_iter}")
    if load_from:
        text = text.replace("[solver]\n", '[solver]\nload_from = "snaps"\n')
    path = tmp_path / "small.toml"
    path.write_text(text + SNAPSHOT.replace("EVERY", str(every)))
    return path


def _mpirun(fault, *args, timeout=120):
    pytest.importorskip("mpi4py.MPI", exc_type=ImportError)
    command = [find_mpiexec(), "-n", "2", sys.executable, str(HERE / "mpi_run_child.py"), fault]
    return subprocess.run(
        [*command, "run", *map(str, args), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        stdin=subprocess.DEVNULL,
    )


def test_sigterm_to_the_launcher_stops_every_rank_like_ctrl_c(tmp_path):
    pytest.importorskip("mpi4py.MPI", exc_type=ImportError)
    path = _experiment(tmp_path, 10_000_000, 100_000)
    proc = subprocess.Popen(
        [find_mpiexec(), "-n", "2", sys.executable, "-m", "mocha", "run", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    first = tmp_path / "snaps" / "snapshot-000000.h5"
    deadline = time.monotonic() + 90
    while not first.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 143, err
    assert "Interrupted (SIGTERM) at iteration" in err
    assert f"mpirun -n 2 mocha run {path} --load-from" in err
    written = sorted((tmp_path / "snaps").glob("snapshot-*.h5"))
    assert len(written) == 2
    check_snapshot(str(written[-1]))
    assert not (tmp_path / "snaps" / ".mocha.lock").exists()


def test_a_fresh_start_survives_the_bad_interleaving_of_the_ranks(tmp_path):
    path = _experiment(tmp_path, 10, 5, load_from=True)
    run = _mpirun("interleave", path, "--load-from", tmp_path / "snaps")
    assert run.returncode == 0, run.stderr
    assert "model file" not in run.stderr and "Error" not in run.stderr
    assert (tmp_path / "snaps" / "snapshot-000010.h5").exists()


def test_a_resume_right_after_an_mpi_abort_is_not_refused(tmp_path):
    path = _experiment(tmp_path, 40, 5)
    aborted = _mpirun("raise-at-12", path)
    assert aborted.returncode != 0 and "injected fault" in aborted.stderr
    resumed = _mpirun("none", path, "--load-from", tmp_path / "snaps")  # at once
    assert resumed.returncode == 0, resumed.stderr
    assert "in use by another run" not in resumed.stderr
    assert (tmp_path / "snaps" / "snapshot-000040.h5").exists()
